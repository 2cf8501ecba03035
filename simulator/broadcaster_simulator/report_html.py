"""A simulation or rehearsal report as one self-contained HTML page (``--html FILE``).

Rendered from the same report dictionary as the text report (:mod:`.report`,
:mod:`.rehearse`), with the same number formatting, so every figure reads the same in
both. No script, no external stylesheet or font: an inline SVG plot of sends, delivered
and FAILED rows per virtual minute, the scenario's incidents shaded on it, and the
report's tables. Every string from the scenario is HTML-escaped. Same report, same bytes
(the rehearsal's wall time, which differs run to run, is left out).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Iterable, Sequence

from .model import Scenario
from .report import format_clock, format_pct, timeline_rows

__all__ = ["incidents", "render_rehearsal_html", "render_simulation_html"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .2em .7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; } .muted { color: #666; } .ok { color: #2a7d2a; } .bad { color: #b00020; font-weight: bold; }
svg { max-width: 100%; height: auto; } svg text { font: 11px system-ui, sans-serif; fill: #333; }
"""

#: series drawn on the plot: report key, legend label, colour
_SERIES = (("sends", "sends", "#3182bd"), ("delivered", "delivered", "#2ca02c"), ("failed", "FAILED rows", "#d62728"))
_INCIDENT_FILL = {"outage": "#d62728", "auth_failed": "#9467bd", "rate_limit": "#fd8d3c"}
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 900, 300, 56, 16, 16, 40


def _num(value: float) -> str:
    """A coordinate with fixed precision (the same bytes on every platform)."""
    return f"{value:.1f}"


def _table(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def incidents(scenario: Scenario) -> list[dict[str, Any]]:
    """Each provider timeline period as (integration, kind, start and end second), in start order."""
    found = []
    for name, behaviour in sorted(scenario.providers.items()):
        for period in behaviour.timeline:
            found.append(
                {
                    "integration": name,
                    "kind": period.kind.value,
                    "start_s": period.start,
                    "end_s": None if math.isinf(period.end) else period.end,
                }
            )
    return sorted(found, key=lambda item: (item["start_s"], item["integration"], item["kind"]))


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (round axis ticks)."""
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= value:
                return step * power
        power *= 10


def _at(seconds: float, span: float) -> str:
    return f"{seconds:.0f}s" if span <= 120 else f"{seconds / 60:.0f}m"


def _plot(counts: dict[str, list[int]], bin_s: int, retry_starts_s: list[float], marked: list[dict[str, Any]]) -> str:
    """Rows per bin of ``bin_s`` virtual seconds as lines; incidents shaded; retries dashed."""
    bins = len(counts["sends"])
    span = float(max(1, bins) * bin_s)
    highest = max([1, *(max(counts[key], default=0) for key, _, _ in _SERIES)])
    tick = _nice_ceiling(math.ceil(highest / 4))
    peak = tick * math.ceil(highest / tick)
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(second: float) -> float:
        return _LEFT + width * min(max(second, 0.0), span) / span

    def y(count: float) -> float:
        return _TOP + height * (1 - count / peak)

    per = f"{bin_s} s" if bin_s < 60 else f"{bin_s // 60} min"
    parts = [
        f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img"'
        f' aria-label="sends, delivered and FAILED rows per {per} of virtual time">'
    ]
    for n, item in enumerate(marked):
        if item["start_s"] >= span:
            continue
        end = span if item["end_s"] is None else item["end_s"]
        fill = _INCIDENT_FILL.get(item["kind"], "#7f7f7f")
        label = f"{item['integration']} {item['kind']}"
        left = x(item["start_s"])
        parts.append(
            f'<rect x="{_num(left)}" y="{_TOP}" width="{_num(max(1.0, x(end) - left))}" height="{height}"'
            f' fill="{fill}" fill-opacity="0.12"><title>{escape(label)}</title></rect>'
            f'<text x="{_num(left + 3)}" y="{_TOP + 12 + 13 * (n % 4)}">{escape(label)}</text>'
        )
    for value in range(0, peak + 1, tick):
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_num(y(value))}" y2="{_num(y(value))}" stroke="#e5e5e5"/>'
            f'<text x="{_LEFT - 6}" y="{_num(y(value) + 4)}" text-anchor="end">{value:,}</text>'
        )
    unit = 1 if span <= 120 else 60
    step = unit * max(1, math.ceil(span / unit / 12))
    for at in range(0, int(span) + 1, step):
        parts.append(f'<text x="{_num(x(at))}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{_at(at, span)}</text>')
    parts.append(
        f'<text x="{_LEFT + width / 2:.1f}" y="{_H - 6}" text-anchor="middle">'
        f"virtual time since start (rows per {per})</text>"
    )
    for start in retry_starts_s:
        parts.append(
            f'<line x1="{_num(x(start))}" x2="{_num(x(start))}" y1="{_TOP}" y2="{_TOP + height}" stroke="#555"'
            f' stroke-dasharray="4 3"/><text x="{_num(x(start) - 3)}" y="{_TOP + height - 4}"'
            ' text-anchor="end">retry</text>'
        )
    for n, (key, label, colour) in enumerate(_SERIES):
        points = [(x((i + 0.5) * bin_s), y(v)) for i, v in enumerate(counts[key])]
        if len(points) > 1:
            line = " ".join(f"{_num(px)},{_num(py)}" for px, py in points)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        if len(points) == 1:  # a one-bin run: a dot, as a polyline of one point draws nothing
            parts.append(f'<circle cx="{_num(points[0][0])}" cy="{_num(points[0][1])}" r="2.5" fill="{colour}"/>')
        legend_x = _W - _RIGHT - 130
        parts.append(
            f'<rect x="{legend_x}" y="{_TOP + 8 + 16 * n}" width="12" height="3" fill="{colour}"/>'
            f'<text x="{legend_x + 18}" y="{_TOP + 12 + 16 * n}">{escape(label)}</text>'
        )
    parts.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{width}" height="{height}" fill="none" stroke="#999"/></svg>')
    return "".join(parts)


def _incident_table(marked: list[dict[str, Any]]) -> str:
    if not marked:
        return '<p class="muted">No incidents in the scenario.</p>'

    def at(second: float | None) -> str:
        return "the end" if second is None else "+" + format_clock(second)

    rows = [[m["integration"], m["kind"], at(m["start_s"]), at(m["end_s"])] for m in marked]
    return _table(["integration", "incident", "from", "until"], rows)


def _page(title: str, head: dict[str, Any], body: list[str]) -> str:
    integrations = ", ".join(f"{name} ({provider})" for name, provider in head["integrations"].items())
    intro = [f"<h1>{escape(title)}: {escape(head['name'])} <span class='muted'>(seed {head['seed']})</span></h1>"]
    if head["description"]:
        intro.append(f"<p>{escape(head['description'])}</p>")
    intro.append(f"<p>audience {head['audience_size']:,} contacts; integrations: {escape(integrations)}</p>")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}: {escape(head['name'])}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(intro + body)
        + "\n</body>\n</html>\n"
    )


def _attempt_title(attempt: dict[str, Any]) -> str:
    return "Original broadcast" if attempt["attempt"] == 1 else f"Retry #{attempt['attempt'] - 1}"


def _counts(attempt: dict[str, Any]) -> list[list[object]]:
    return [
        ["targeted", f"{attempt['targeted']:,}"],
        ["delivered", f"{attempt['delivered']:,}"],
        ["failed", f"{attempt['failed']:,}"],
        ["skipped", f"{attempt['skipped']:,}"],
        ["delivery rate", format_pct(attempt["delivery_rate"])],
        ["drop rate", format_pct(attempt["drop_rate"])],
        ["started", "+" + format_clock(attempt["started_at_s"])],
        ["took", format_clock(attempt["duration_s"])],
    ]


def _breakdowns(attempt: dict[str, Any], reasons_header: str = "error reason") -> list[str]:
    out = []
    if attempt["statuses"]:
        out.append(_table(["status", "rows"], [[k, f"{v:,}"] for k, v in attempt["statuses"].items()]))
    if attempt["error_reasons"]:
        out.append(_table([reasons_header, "rows"], [[k, f"{v:,}"] for k, v in attempt["error_reasons"].items()]))
    out.append(
        _table(
            ["integration", "delivered", "failed", "skipped"],
            [[k, v["delivered"], v["failed"], v["skipped"]] for k, v in attempt["integrations"].items()],
        )
    )
    return out


def _chain_line(chain: dict[str, Any], targeted: int) -> str:
    return (
        f"<p>reached over the chain: {chain['delivered']:,} of {targeted:,} ({format_pct(chain['delivery_rate'])});"
        f" still failed: {chain['still_failed']:,} ({chain['still_failed_systemic']:,} systemic)</p>"
    )


def render_simulation_html(report: dict[str, Any], scenario: Scenario) -> str:
    """The page of a ``simulate`` report (:func:`~.report.build_report`)."""
    marked = incidents(scenario)
    timeline = report["timeline"]
    starts = [minute * 60 for minute in timeline["retry_starts_min"]]
    body = ["<h2>Timeline</h2>", _plot(timeline, 60, starts, marked), _incident_table(marked)]
    for attempt in report["attempts"]:
        limits, fallbacks = attempt["rate_limits"], attempt["fallbacks"]
        throughput = attempt["throughput_per_s"]
        body += [
            f"<h2>{_attempt_title(attempt)} {escape(attempt['broadcast'])}</h2>",
            _table(
                ["figure", "value"],
                _counts(attempt)
                + [
                    ["requests", f"{attempt['requests']:,}"],
                    ["throughput (delivered/s)", "-" if throughput is None else throughput],
                    ["429 answers", f"{limits['answers_429']:,}"],
                    ["internal retries (invisible)", f"{limits['internal_retries']:,}"],
                    ["batches that exhausted their budget", f"{limits['exhausted_batches']:,}"],
                    ["FAILED rows from rate limiting", f"{limits['failed_rows']:,}"],
                    ["fallback templates sent", f"{fallbacks['sent']:,}"],
                    ["fallback templates delivered", f"{fallbacks['delivered']:,}"],
                ],
            ),
            *_breakdowns(attempt),
        ]
    body += [
        "<h2>Retry chain</h2>",
        _table(
            ["attempt", "broadcast", "targeted", "delivered", "failed"],
            [[r["attempt"], r["broadcast"], r["targeted"], r["delivered"], r["failed"]] for r in report["retry_chain"]],
        ),
        _chain_line(report["chain"], report["attempts"][0]["targeted"]),
    ]
    if report["timeline"]["minutes"]:
        body += ["<h2>Per minute</h2>", _table(*timeline_rows(report["timeline"]))]
    return _page("Simulation", report["scenario"], body)


def render_rehearsal_html(report: dict[str, Any], scenario: Scenario) -> str:
    """The page of a ``rehearse`` report (:func:`~.rehearse.build_rehearsal_report`)."""
    from .rehearse import TOP_REASONS  # the rehearsal's engine: only when its report is rendered

    marked = incidents(scenario)
    body = [
        "<p class='muted'>The real store, plugins, worker and HTTP executor against fake provider servers,"
        " on a virtual clock.</p>",
        "<h2>Timeline</h2>",
        _plot(report["timeline"], report["timeline"]["bin_s"], report["timeline"]["retry_starts_s"], marked),
        _incident_table(marked),
    ]
    for attempt in report["attempts"]:
        of = f" (retry of {escape(attempt['retry_of'])})" if attempt["retry_of"] else ""
        body += [
            f"<h2>{_attempt_title(attempt)} {escape(attempt['broadcast'])}{of}: {escape(attempt['state'])}</h2>",
            _table(
                ["figure", "value"],
                _counts(attempt)
                + [
                    ["rows in the store", f"{attempt['rows']:,}"],
                    ["used fallback", f"{attempt['used_fallback']:,} ({format_pct(attempt['used_fallback_share'])})"],
                    ["FAILED a retry may clear", f"{attempt['failed_retryable']:,}"],
                    ["FAILED systemic", f"{attempt['failed_systemic']:,}"],
                ],
            ),
            *_breakdowns(attempt, f"top error reasons (at most {TOP_REASONS})"),
        ]
    checks = "".join(
        f"<tr><td>{escape(name.replace('_', ' '))}</td>"
        + ("<td class='ok'>ok</td>" if passed else "<td class='bad'>FAILED</td>")
        + "</tr>"
        for name, passed in report["checks"].items()
    )
    body += [
        f"<h2>Lineage: {escape(' -> '.join(report['lineage']))}</h2>",
        _table(
            ["attempt", "broadcast", "targeted", "delivered", "failed", "skipped"],
            [
                [a["attempt"], a["broadcast"], a["targeted"], a["delivered"], a["failed"], a["skipped"]]
                for a in report["attempts"]
            ],
        ),
        _chain_line(report["chain"], report["attempts"][0]["targeted"]),
        "<h2>Fake provider servers</h2>",
        _table(
            ["integration", "provider", "requests", "accepted", "duplicates"],
            [
                [k, v["provider"], f"{v['requests']:,}", f"{v['accepted']:,}", v["duplicates"]]
                for k, v in report["fakes"].items()
            ],
        ),
        f"<h2>Checks</h2><table><tbody>{checks}</tbody></table>",
        f"<p class='muted'>The runtime logged {report['runtime_warnings']:,} warnings (one per transport failure).</p>",
    ]
    return _page("Rehearsal", report["scenario"], body)
