"""``dawn run``: the main job, a whole morning on embedded defaults, ending in an SLA verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from dawn.morning.run import MorningOptions, run_morning
from dawn.settings import Settings
from producers.kafka_io import ProduceError
from producers.scheduler.publish import PartialPublish
from producers.scheduler.run import CapacityError, OverBudget
from producers.scheduler.summary import print_summary
from sandbox.config import SandboxConfig
from sandbox.loader import load_config_file

FAULT_PROFILES = ("none", "realistic", "chaos")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _window(text: str) -> float:
    value = float(text)
    if not 10 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 10 and 3600 seconds")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a whole morning now: broker, database, sandbox, gateway, worker, scheduler",
        description="Runs one morning whose window starts now: the brief's 05:59:30-06:04:30 IST "
                    "window compressed to --window seconds, the 06:05 deadline scaled with it. "
                    "Exits 0 if 99% of eligible advisors had their pack delivered by the deadline.",
    )
    p.add_argument("--advisors", type=_positive_int, default=1000, help="demo advisors (default 1000)")
    p.add_argument("--numbers", type=_positive_int, default=3, help="sender numbers (default 3)")
    p.add_argument("--window", type=_window, default=300.0,
                   help="window in seconds (default 300, the brief's)")
    p.add_argument("--faults", choices=FAULT_PROFILES, default="none",
                   help="sandbox fault profile (default none)")
    p.add_argument("--mps", type=float, default=None,
                   help="messages/s per number (default DAWN_DEFAULT_MPS, 80)")
    p.add_argument("--seed", type=int, default=0, help="seed of the demo advisors and sandbox")
    p.add_argument("--report", type=Path, help="write the JSON report here")
    p.add_argument("--branded", action="store_true",
                   help="per-advisor packs: each advisor gets post, status and LinkedIn images "
                        "branded with their identity, as one 3-card carousel, pre-staged before "
                        "the window")
    p.add_argument("--dashboard-port", type=int, default=0,
                   help="port of the morning's ops dashboard (default: a free one)")
    p.add_argument("--sandbox-config", type=Path, metavar="FILE",
                   help="run against this sandbox world (the JSON `dawn sandbox --config` takes): "
                        "its numbers, rates, tier, faults and webhook delays replace --numbers, "
                        "--mps and --faults")
    p.add_argument("--stages", action="store_true",
                   help="add each stage's record count, first and last time and lag to the report "
                        "(reads the morning's topics back before the broker stops; used by "
                        "bench/morning_scale.py)")
    p.set_defaults(handler=run)


def _world(path: Path, console: Console) -> SandboxConfig | None:
    """The operator's world, or None after saying in one line what is wrong with the file."""
    try:
        return load_config_file(path)
    except OSError as exc:
        console.print(f"[red]cannot read {path}: {exc.strerror or exc}[/red]", soft_wrap=True)
    except json.JSONDecodeError as exc:
        console.print(f"[red]{path} is not JSON: {exc}[/red]", soft_wrap=True)
    except (ValueError, TypeError, KeyError) as exc:
        console.print(f"[red]{path} is not a sandbox world: {exc}[/red]", soft_wrap=True)
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    sandbox_config = None
    if args.sandbox_config is not None:
        sandbox_config = _world(args.sandbox_config, console)
        if sandbox_config is None:
            return 2
    options = MorningOptions(
        advisors=args.advisors, numbers=args.numbers, window_s=args.window,
        faults=f"file {args.sandbox_config.name}" if sandbox_config is not None else args.faults,
        mps=args.mps or settings.default_mps, seed=args.seed, report=args.report,
        branded=args.branded,
        dashboard_port=args.dashboard_port,
        sandbox_config=sandbox_config, stages=args.stages,
    )
    try:
        report = run_morning(options, settings, console)
    except CapacityError as refused:  # over the numbers' capacity or the budget: nothing was sent
        print_summary(refused.summary, console)
        if isinstance(refused, OverBudget):
            for line in [*refused.check.lines(), *refused.check.problems]:
                console.print(line, style="bold red")
        console.print("the morning was refused; nothing was published", style="bold red")
        return 1
    except (PartialPublish, ProduceError) as unfinished:  # the run's own broker stopped answering
        print(f"dawn run: the morning's publish did not complete: {unfinished}", file=sys.stderr)
        return 1
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        console.print(f"report written to {args.report}")
    return 0 if report["sla_met"] else 1
