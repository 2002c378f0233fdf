"""``dawn templates``: submit a template from one spec file, and follow it to APPROVED or REJECTED.

``submit`` checks Meta's rules offline first (whatsapp.template_rules) and sends nothing when one
fails; then it creates one template language per text at Meta and records each as PENDING with
its submission time, which the templates agent follows through webhooks and its poller, alerting
when approval runs past the buffer (``DAWN_TEMPLATE_BUFFER_DAYS``). A rejected template is
resubmitted as a variant: a new name with ``"variant_of": "<rejected name>"``. ``list`` and
``status`` read the states the templates agent keeps; ``ab-report`` reads the audit trail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from consumers.audit.ab_report import AbReport, ab_report
from dawn.commands.services import NoDatabase, resolve_database_url
from dawn.settings import Settings
from store.migrations import apply_migrations
from store.templates import TemplateRow, load_all_sync, save_sync
from whatsapp.client import CloudApiClient, CloudApiError
from whatsapp.payloads import TemplateSpec
from whatsapp.template_rules import CheckedSpec, TemplateRuleError, check_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("templates", help="submit templates and follow their approval")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    submit = actions.add_parser("submit", help="check a template spec against Meta's rules and submit it")
    submit.add_argument("spec", type=Path, help="template spec (JSON; see README)")
    submit.add_argument("--check", action="store_true", help="only check the spec, send nothing")
    submit.add_argument("--database-url", help="PostgreSQL (default: DATABASE_URL, dawn up)")
    submit.set_defaults(handler=run_submit)
    listing = actions.add_parser("list", help="every template language and its state")
    listing.add_argument("--database-url")
    listing.set_defaults(handler=run_list)
    status = actions.add_parser("status", help="one template's languages in detail")
    status.add_argument("name")
    status.add_argument("--database-url")
    status.set_defaults(handler=run_status)
    ab = actions.add_parser("ab-report", help="a morning's A/B test of templates, from the audit trail")
    ab.add_argument("date", type=date.fromisoformat, help="IST run date, e.g. 2026-11-23")
    ab.add_argument("--pack", help="only this pack id")
    ab.add_argument("--optout-days", type=int, default=7,
                    help="count opt-outs this many days after the send (7)")
    ab.add_argument("--database-url")
    ab.set_defaults(handler=run_ab_report)


def load_spec(path: Path) -> CheckedSpec:
    """The checked spec at ``path``; the header image path is relative to the spec file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateRuleError([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise TemplateRuleError([f"{path} is not JSON: {exc.msg} at line {exc.lineno}"]) from exc
    image = None
    if isinstance(doc, dict) and isinstance(doc.get("header_image"), str):
        try:
            image = (path.parent / doc["header_image"]).read_bytes()
        except OSError:
            image = None
    return check_spec(doc, image)


async def submit(spec: CheckedSpec, settings: Settings) -> list[tuple[str, str, str]]:
    """Create every language of ``spec`` at Meta: (language, template id, status) each."""
    out = []
    async with CloudApiClient(settings.graph_api_base_url, settings.graph_api_version,
                              settings.whatsapp_access_token.reveal()) as client:
        for language, text in spec.texts.items():
            created = await client.create_template(
                settings.whatsapp_waba_id or "", settings.whatsapp_app_id or "",
                TemplateSpec(name=spec.name, language=language, body_text=text,
                             category=spec.category, body_examples=spec.examples,
                             footer_text=spec.footer, ttl_seconds=spec.ttl_seconds),
                header_image=spec.header_image)
            out.append((language, created.id, created.status or "PENDING"))
    return out


def run_submit(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(soft_wrap=True)
    try:
        spec = load_spec(args.spec)
    except TemplateRuleError as exc:
        console.print(f"[red]{args.spec}: not submitted:[/red]", markup=True)
        for problem in exc.problems:
            console.print(f"  {problem}", markup=False)
        return 1
    if args.check:
        console.print(f"{spec.name}: the spec follows Meta's rules ({', '.join(spec.texts)})")
        return 0
    missing = [name for name, value in (("WHATSAPP_WABA_ID", settings.whatsapp_waba_id),
                                        ("WHATSAPP_APP_ID", settings.whatsapp_app_id or
                                         (None if spec.header_image else "-")))
               if not value]
    if missing:
        console.print(f"[red]dawn templates submit needs {' and '.join(missing)}[/red]")
        return 2
    try:
        database_url = resolve_database_url(args.database_url, settings)
    except NoDatabase as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    try:
        created = asyncio.run(submit(spec, settings))
    except CloudApiError as exc:
        console.print(f"[red]Meta refused {spec.name}: {exc}[/red]")
        return 1
    for language, template_id, status in created:
        console.print(f"{spec.name} ({language}): {status}, id {template_id}")
    now = datetime.now(UTC)
    try:
        apply_migrations(database_url)
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
            for language, template_id, status in created:
                save_sync(conn, TemplateRow(
                    name=spec.name, language=language, status=status.upper(), status_at=now,
                    template_id=template_id, category=spec.category, category_at=now,
                    submitted_at=now, variant_of=spec.variant_of, updated_at=now))
    except psycopg.Error as exc:
        console.print(f"[red]submitted, but not recorded ({type(exc).__name__}): the templates "
                      "agent's poller will still find it, without its submission time[/red]")
        return 1
    console.print(f"follow it with `dawn templates status {spec.name}`; ops are alerted if it is "
                  f"still pending after {settings.template_buffer_days:g} business days")
    return 0


def _rows(args: argparse.Namespace, settings: Settings, console: Console) -> list[TemplateRow] | None:
    try:
        database_url = resolve_database_url(args.database_url, settings)
    except NoDatabase as exc:
        console.print(f"[red]{exc}[/red]")
        return None
    try:
        apply_migrations(database_url)
        with psycopg.connect(database_url, connect_timeout=10) as conn:
            return load_all_sync(conn)
    except psycopg.Error as exc:
        console.print(f"[red]cannot read the template states: {type(exc).__name__}: {exc}[/red]")
        return None


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows: list[TemplateRow], now: datetime) -> Table:
    table = Table("template", "language", "status", "quality", "category", "paced", "submitted",
                  "approved", "reason")
    for r in rows:
        table.add_row(r.name, r.language, r.status, r.quality, r.category or "-",
                      r.pacing(now) or "-", _when(r.submitted_at), _when(r.approved_at),
                      r.reason or (f"variant of {r.variant_of}" if r.variant_of else "-"))
    return table


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    rows = _rows(args, settings, console)
    if rows is None:
        return 2
    if not rows:
        console.print("no templates known yet (the templates agent fills this from Meta)")
        return 0
    console.print(_table(rows, datetime.now(UTC)))
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    rows = _rows(args, settings, console)
    if rows is None:
        return 2
    mine = [r for r in rows if r.name == args.name]
    if not mine:
        console.print(f"[yellow]no template {args.name} known[/yellow]")
        return 1
    console.print(_table(mine, datetime.now(UTC)))
    return 0



def _pct(rate: float, ci: tuple[float, float]) -> str:
    return f"{rate:.1%} [{ci[0]:.1%}, {ci[1]:.1%}]"


def render_ab(report: AbReport) -> list[str | Table]:
    """The report as printable lines and a table (rates with Wilson 95 % intervals)."""
    table = Table("arm", "template", "planned", "sent", "delivered (95% CI)", "read / delivered (95% CI)",
                  "median time to read", "opted out after (95% CI)")
    for a in report.arms:
        median = "-" if a.median_read_s is None else f"{a.median_read_s:.0f} s"
        table.add_row(a.arm, a.template, str(a.planned), str(a.sent),
                      _pct(a.delivered_rate, a.delivered_ci), _pct(a.read_rate, a.read_ci), median,
                      _pct(a.optout_rate, a.optout_ci))
    out: list[str | Table] = [table]
    if report.test is not None and report.best is not None and report.runner_up is not None:
        verdict = (f"winner: arm {report.best.arm} ({report.best.template}), read rate "
                   f"{_pct(report.best.read_rate, report.best.read_ci)}")
        if report.winner is None:
            verdict = (f"no significant difference: arm {report.best.arm} leads "
                       f"{report.runner_up.arm} on read rate")
        out.append(f"{verdict}; vs arm {report.runner_up.arm}: z = {report.test.z:.2f}, "
                   f"p = {report.test.p_value:.4f} (two-proportion z-test, significant below 0.05)")
    return out


def run_ab_report(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(soft_wrap=True)
    try:
        database_url = resolve_database_url(args.database_url, settings)
    except NoDatabase as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    try:
        with psycopg.connect(database_url, connect_timeout=10) as conn:
            report = ab_report(conn, args.date, args.pack, args.optout_days)
    except psycopg.Error as exc:
        console.print(f"[red]cannot read the audit trail: {type(exc).__name__}: {exc}[/red]")
        return 2
    if not report.arms:
        console.print(f"no A/B test on {args.date}" + (f" for pack {args.pack}" if args.pack else ""))
        return 1
    for part in render_ab(report):
        console.print(part)
    return 0
