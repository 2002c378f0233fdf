"""The report's sections as CSV files, one per table, for a spreadsheet or the data team."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        if not rows:
            return
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_csvs(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write every section; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    sla = {k: v for k, v in report["sla"].items() if k != "time_to_deliver"}
    tables: dict[str, list[dict[str, Any]]] = {
        "sla": [sla],
        "time_to_deliver": report["sla"]["time_to_deliver"],
        **{f"reads_by_{d}": rows for d, rows in report["reads"].items()},
        "failures": report["failures"],
        "quality": [{"number": n, **d} for n, days in report["quality"].items() for d in days],
        "cost": report["cost"]["lines"],
    }
    written = []
    for name, rows in tables.items():
        path = directory / f"{report['date']}-{name}.csv"
        _write(path, rows)
        written.append(path)
    return written
