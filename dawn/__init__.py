"""dawn: the command line, settings, and the embedded runtime that starts everything."""
