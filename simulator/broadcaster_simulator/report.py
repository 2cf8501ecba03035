"""The report of a simulation: one plain data structure, rendered as text or JSON.

Everything in it is derived from the tallies with fixed rounding and fixed ordering, so
the same simulation renders to the same bytes. File paths are reduced to their name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from broadcaster.core.outcomes import Status

from .driver import SimulationResult
from .failures import Verdict
from .model import Scenario
from .tally import RunTally

__all__ = [
    "build_report",
    "format_clock",
    "format_pct",
    "render_json",
    "render_text",
    "scenario_summary",
    "share",
    "text_table",
    "timeline_rows",
]

_STATUS_ORDER = {status: i for i, status in enumerate(Status)}
_VERDICT_ORDER = {verdict: i for i, verdict in enumerate(Verdict)}


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _attempt(tally: RunTally) -> dict[str, Any]:
    duration = tally.duration
    reasons = sorted(((str(reason), n) for reason, n in tally.reasons.items()), key=lambda item: (-item[1], item[0]))
    integrations: dict[str, dict[str, int]] = {}
    for (name, outcome), n in sorted(tally.integrations.items(), key=lambda item: (item[0][0], item[0][1].value)):
        integrations.setdefault(name, {"delivered": 0, "failed": 0, "skipped": 0})[outcome.value.lower()] = n
    return {
        "attempt": tally.attempt,
        "broadcast": tally.broadcast_id,
        "started_at_s": round(tally.started_at, 3),
        "duration_s": round(duration, 3),
        "targeted": tally.targeted,
        "delivered": tally.delivered,
        "failed": tally.failed,
        "skipped": tally.skipped,
        "delivery_rate": share(tally.delivered, tally.targeted),
        "drop_rate": share(tally.failed + tally.skipped, tally.targeted),
        "throughput_per_s": round(tally.delivered / duration, 2) if duration > 0 else None,
        "failed_retryable": tally.failed_retryable,
        "failed_systemic": tally.failed - tally.failed_retryable,
        "statuses": {
            status.value: n for status, n in sorted(tally.statuses.items(), key=lambda item: _STATUS_ORDER[item[0]])
        },
        "error_reasons": dict(reasons),
        "fallbacks": {"sent": tally.fallbacks_sent, "delivered": tally.fallbacks_delivered},
        "rate_limits": {
            "answers_429": tally.answers.get(Verdict.THROTTLED, 0),
            "internal_retries": tally.rate_limit_retries,
            "exhausted_batches": tally.exhausted_batches,
            "failed_rows": tally.statuses.get(Status.RATE_LIMIT_EXHAUSTED, 0),
        },
        "requests": tally.requests,
        "answers": {
            verdict.value: n for verdict, n in sorted(tally.answers.items(), key=lambda item: _VERDICT_ORDER[item[0]])
        },
        "integrations": integrations,
    }


def scenario_summary(scenario: Scenario, *, seed: int) -> dict[str, Any]:
    """The report's "scenario" section (shared with the rehearsal report)."""
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": Path(scenario.source).name if scenario.source else None,
        "seed": seed,
        "audience_size": scenario.audience.size,
        "integrations": {name: b.provider for name, b in scenario.providers.items()},
    }


def build_report(result: SimulationResult) -> dict[str, Any]:
    scenario = result.scenario
    attempts = [_attempt(tally) for tally in result.attempts]
    timeline = result.timeline
    cumulative, total = [], 0
    for n in timeline.delivered:
        total += n
        cumulative.append(total)
    last = result.attempts[-1]
    return {
        "scenario": scenario_summary(scenario, seed=result.seed),
        "attempts": attempts,
        "retry_chain": [
            {key: a[key] for key in ("attempt", "broadcast", "targeted", "delivered", "failed", "skipped")}
            for a in attempts
        ],
        "chain": {
            "attempts": len(attempts),
            "delivered": sum(t.delivered for t in result.attempts),
            "still_failed": last.failed,
            "still_failed_systemic": last.failed - last.failed_retryable,
            "delivery_rate": share(sum(t.delivered for t in result.attempts), result.attempts[0].targeted),
        },
        "timeline": {
            "minutes": len(timeline),
            "sends": list(timeline.sends),
            "rate_limited": list(timeline.throttled),
            "failed": list(timeline.failed),
            "delivered": list(timeline.delivered),
            "cumulative_delivered": cumulative,
            "retry_starts_min": [round(t.started_at / 60, 3) for t in result.attempts[1:]],
        },
    }


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


# -- text ---------------------------------------------------------------------------------------


def format_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def text_table(headers: list[str], rows: list[list[object]]) -> list[str]:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append("  " + "  ".join(parts).rstrip())
        if n == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def format_clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


def timeline_rows(timeline: dict[str, Any]) -> tuple[list[str], list[list[object]]]:
    """The timeline table (at most ~24 rows: minutes grouped), shared by the text and HTML reports."""
    minutes = timeline["minutes"]
    step = max(1, math.ceil(minutes / 24))
    rows: list[list[object]] = []
    for first in range(0, minutes, step):
        window = slice(first, first + step)
        rows.append(
            [
                f"{first}-{min(first + step, minutes)}m" if step > 1 else f"{first}m",
                sum(timeline["sends"][window]),
                sum(timeline["rate_limited"][window]),
                sum(timeline["failed"][window]),
                sum(timeline["delivered"][window]),
                timeline["cumulative_delivered"][min(first + step, minutes) - 1],
            ]
        )
    return ["minute", "sends", "429s", "failed", "delivered", "cumulative"], rows


def _timeline_lines(timeline: dict[str, Any]) -> list[str]:
    if not timeline["minutes"]:
        return ["  (no sends)"]
    return text_table(*timeline_rows(timeline))


def render_text(report: dict[str, Any]) -> str:
    head = report["scenario"]
    first = report["attempts"][0]
    lines = [f"Simulation: {head['name']}  (seed {head['seed']})"]
    if head["description"]:
        lines.append(f"  {head['description']}")
    integrations = ", ".join(f"{name} ({provider})" for name, provider in head["integrations"].items())
    lines += [f"  audience {head['audience_size']:,} contacts; integrations: {integrations}", ""]
    for attempt in report["attempts"]:
        title = "Original broadcast" if attempt["attempt"] == 1 else f"Retry #{attempt['attempt'] - 1}"
        lines.append(f"{title} {attempt['broadcast']}: {attempt['targeted']:,} targeted")
        lines.append(
            f"  delivered {attempt['delivered']:,}  failed {attempt['failed']:,}  skipped {attempt['skipped']:,}"
            f"  | delivery rate {format_pct(attempt['delivery_rate'])}  drop rate {format_pct(attempt['drop_rate'])}"
        )
        throughput = attempt["throughput_per_s"]
        lines.append(
            f"  started +{format_clock(attempt['started_at_s'])}, took {format_clock(attempt['duration_s'])}"
            f" (simulated); {attempt['requests']:,} requests; "
            f"throughput {throughput if throughput is not None else '-'} delivered/s"
        )
        limits = attempt["rate_limits"]
        lines.append(
            f"  rate limiting: {limits['answers_429']:,} 429 answers -> {limits['internal_retries']:,} internal retries"
            f" (invisible); {limits['exhausted_batches']:,} batches exhausted their budget"
            f" -> {limits['failed_rows']:,} FAILED rows"
        )
        fallbacks = attempt["fallbacks"]
        lines.append(f"  fallback templates: {fallbacks['sent']:,} sent, {fallbacks['delivered']:,} delivered")
        if attempt["statuses"]:
            lines.append("  statuses:")
            lines += text_table(["status", "rows"], [[k, f"{v:,}"] for k, v in attempt["statuses"].items()])
        if attempt["error_reasons"]:
            lines.append("  error reasons (FAILED rows):")
            lines += text_table(["reason", "rows"], [[k, f"{v:,}"] for k, v in attempt["error_reasons"].items()])
        if len(attempt["integrations"]) > 1 or attempt["attempt"] == 1:
            lines.append("  per integration:")
            lines += text_table(
                ["integration", "delivered", "failed", "skipped"],
                [[k, v["delivered"], v["failed"], v["skipped"]] for k, v in attempt["integrations"].items()],
            )
        lines.append("")
    lines.append("Retry chain:")
    lines += text_table(
        ["attempt", "broadcast", "targeted", "delivered", "failed"],
        [[r["attempt"], r["broadcast"], r["targeted"], r["delivered"], r["failed"]] for r in report["retry_chain"]],
    )
    chain = report["chain"]
    lines.append(
        f"  reached over the chain: {chain['delivered']:,} of {first['targeted']:,} ({format_pct(chain['delivery_rate'])});"
        f" still failed: {chain['still_failed']:,} ({chain['still_failed_systemic']:,} systemic)"
    )
    lines += ["", "Timeline (simulated minutes since start):"]
    lines += _timeline_lines(report["timeline"])
    return "\n".join(lines) + "\n"
