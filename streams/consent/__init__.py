"""The consent agent: STOP/START/PAUSE/RESUME, marketing preferences and 131050 failures into the
consent record."""
