"""Brand overlay: each advisor's copy of a pack image with their regulatory identity on it."""
