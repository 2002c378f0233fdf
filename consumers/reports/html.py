"""The report as one self-contained HTML page: charts as inline SVG, no script, no network.

Every figure is also in a table row marked with ``data-section``/``data-key``/``data-field``, so
a person can read the exact number under each chart and a test can find it without parsing SVG.
"""

from __future__ import annotations

from html import escape
from typing import Any

QUALITY_COLOURS = {"GREEN": "#2e9d5b", "YELLOW": "#e0b12a", "RED": "#c9372c", "UNKNOWN": "#b9bec9",
                   None: "#eceef2"}
BAR = "#2f6fdf"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:960px;color:#1d2330}
h1{margin-bottom:0} h2{margin-top:2em;border-bottom:2px solid #eceef2;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}
td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} .big{font-size:3em;font-weight:600}
.met{color:#2e9d5b} .missed{color:#c9372c} .muted{color:#8a90a0} svg text{font-size:12px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def bars(items: list[tuple[str, float]], *, unit: str = "", colour: str = BAR,
         limit: float | None = None) -> str:
    """A horizontal bar chart; ``limit`` draws a dashed line (a target or a budget)."""
    if not items:
        return '<p class="muted">nothing to chart</p>'
    top = max([v for _, v in items] + ([limit] if limit else []) + [1e-9])
    row, width, left = 22, 520, 180
    height = row * len(items) + 10
    out = [f'<svg width="{left + width + 80}" height="{height}" role="img">']
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        w = width * value / top
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>'
                   f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{colour}"/>'
                   f'<text x="{left + w + 4:.1f}" y="{y + 14}">{value:g}{_e(unit)}</text>')
    if limit:
        x = left + width * limit / top
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#1d2330" '
                   'stroke-dasharray="4 3"/>')
    out.append("</svg>")
    return "".join(out)


def _table(section: str, key: str, rows: list[dict[str, Any]], fields: list[str]) -> str:
    head = "".join(f"<th>{_e(f)}</th>" for f in [key, *fields])
    body = []
    for r in rows:
        cells = "".join(f'<td class="n" data-field="{_e(f)}">{_e(r[f])}</td>' for f in fields)
        body.append(f'<tr data-section="{_e(section)}" data-key="{_e(r[key])}"><td>{_e(r[key])}</td>'
                    f"{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _sla(s: dict[str, Any]) -> str:
    verdict = ("met" if s["met"] else "missed")
    figures = [{"figure": k, "value": s[k]} for k in (
        "eligible", "delivered_by_deadline", "delivered", "read", "failed", "pending", "sla_pct",
        "ttd_p50_s", "ttd_p90_s", "ttd_p99_s")]
    return (f'<section id="sla"><h2>SLA: delivered by the deadline</h2>'
            f'<p class="big {verdict}">{s["sla_pct"]:.2f}%</p>'
            f'<p>{s["delivered_by_deadline"]} of {s["eligible"]} eligible advisors had their pack '
            f'delivered by {_e(s["deadline"])} (target 99%: {verdict}).</p>'
            + bars([("delivered by deadline", s["sla_pct"])], unit="%", colour="#2e9d5b", limit=99.0)
            + _table("sla", "figure", figures, ["value"]) + "</section>"
            + '<section id="time-to-deliver"><h2>Time to deliver</h2>'
            '<p>From the planned send time to the first delivered (or read) status.</p>'
            + bars([(b["bucket"], b["deliveries"]) for b in s["time_to_deliver"]])
            + _table("time-to-deliver", "bucket", s["time_to_deliver"], ["deliveries"]) + "</section>")


def _reads(reads: dict[str, list[dict[str, Any]]]) -> str:
    out = ['<section id="reads"><h2>Read rates</h2><p>Read / delivered, by each slice.</p>']
    for dimension, rows in reads.items():
        out.append(f'<h3 id="reads-{dimension}">by {dimension}</h3>')
        out.append(bars([(str(r[dimension]), r["read_pct"]) for r in rows], unit="%", colour="#158a94"))
        out.append(_table(f"reads-{dimension}", dimension, rows,
                          ["deliveries", "delivered", "read", "read_pct"]))
    out.append("</section>")
    return "".join(out)


def _failures(rows: list[dict[str, Any]]) -> str:
    body = (bars([(f"{r['code']}", r["deliveries"]) for r in rows], colour="#c9372c")
            + _table("failures", "code", rows, ["deliveries", "reason"])) if rows \
        else '<p class="muted">no failures</p>'
    return f'<section id="failures"><h2>Failures by error code</h2>{body}</section>'


def _quality(quality: dict[str, list[dict[str, Any]]]) -> str:
    if not quality:
        return ('<section id="quality"><h2>Quality per number, last 30 days</h2>'
                '<p class="muted">no number health recorded</p></section>')
    cell, left = 16, 180
    days = next(iter(quality.values()))
    svg = [f'<svg width="{left + cell * len(days) + 10}" height="{cell * len(quality) + 30}" role="img">']
    for i, (number, series) in enumerate(quality.items()):
        y = i * cell
        svg.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{_e(number)}</text>')
        for j, d in enumerate(series):
            svg.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                       f'fill="{QUALITY_COLOURS.get(d["quality"], "#b9bec9")}">'
                       f'<title>{_e(d["day"])}: {_e(d["quality"] or "no record")}</title></rect>')
    svg.append(f'<text x="{left}" y="{cell * len(quality) + 20}">{_e(days[0]["day"])}</text>'
               f'<text x="{left + cell * len(days)}" y="{cell * len(quality) + 20}" text-anchor="end">'
               f'{_e(days[-1]["day"])}</text></svg>')
    rows = [{"number": n, "today": s[-1]["quality"], "role": s[-1]["role"],
             "green_days": sum(1 for d in s if d["quality"] == "GREEN"),
             "not_green_days": sum(1 for d in s if d["quality"] in ("YELLOW", "RED"))}
            for n, s in quality.items()]
    return ('<section id="quality"><h2>Quality per number, last 30 days</h2>' + "".join(svg)
            + _table("quality", "number", rows, ["today", "role", "green_days", "not_green_days"])
            + "</section>")


def _cost(cost: dict[str, Any]) -> str:
    lines = [{**line, "line": f"{line['category']}/{line['type']}"} for line in cost["lines"]]
    budget = cost["budget_inr"]
    verdict = "" if budget is None else (
        f' of a {budget:.2f} INR budget ({"within" if cost["within_budget"] else "OVER"})')
    return ('<section id="cost"><h2>Cost by pricing category and type</h2>'
            f'<p><b data-field="total_inr">{cost["total_inr"]:.2f}</b> INR{verdict}.</p>'
            + bars([(line["line"], line["cost_inr"]) for line in lines], unit=" INR", colour="#7a48c8",
                   limit=budget)
            + _table("cost", "line", lines, ["messages", "price_inr", "cost_inr"]) + "</section>")


def render(report: dict[str, Any]) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>dawn report {_e(report['date'])}</title><style>{_STYLE}</style></head><body>"
            f"<h1>dawn: the morning of {_e(report['date'])}</h1>"
            '<p class="muted">From the audit trail: every intent, send, status and state as recorded.</p>'
            + _sla(report["sla"]) + _reads(report["reads"]) + _failures(report["failures"])
            + _quality(report["quality"]) + _cost(report["cost"]) + "</body></html>\n")
