"""Programs the tests start as separate OS processes (workers that must be killable)."""
