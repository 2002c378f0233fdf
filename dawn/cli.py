"""The ``dawn`` command line.

Each subcommand lives in its own module under ``dawn.commands`` with a ``register(subparsers)``
function, so adding a command never means editing a long dispatch table.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dawn import logs
from dawn.embedded.broker import EmbeddedBrokerError
from dawn.embedded.postgres import EmbeddedPostgresError
from dawn.settings import Settings, SettingsError

#: Modules under dawn.commands, in the order their commands appear in --help.
COMMAND_MODULES = [
    "run", "up", "topics", "gateway", "packs", "plan", "schedule", "worker", "fleet", "sandbox",
    "advisors", "audit", "templates", "dashboard", "report", "deliveries",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dawn",
        description="Delivers each advisor's approved daily content pack over WhatsApp by 06:05 IST.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dawn.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"dawn: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        return int(args.handler(args, settings) or 0)
    except KeyboardInterrupt:
        return 130
    except (EmbeddedBrokerError, EmbeddedPostgresError) as exc:  # their messages say what to do
        print(f"dawn {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
