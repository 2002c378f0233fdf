"""``dawn run``: one whole morning on embedded defaults, its simulated world, live watch and report."""
