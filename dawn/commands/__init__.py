"""One module per ``dawn`` subcommand, each with ``register(subparsers)``."""
