"""Rendering for humans (rich tables) and for programs (JSON with stable keys, docs/cli.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from ..core.models import Broadcast, DispatchRow
from ..service import BroadcastSummary
from .base import unstructure
from .escaping import SafeTable
from .times import Zone, format_duration, format_time

__all__ = [
    "broadcast_json",
    "console",
    "format_time",
    "history_table",
    "percent",
    "row_cells",
    "row_json",
    "summary_json",
    "summary_lines",
]


def console() -> Console:
    """A console on stdout: colours and the terminal's width on a terminal, wide plain text elsewhere."""
    probe = Console()
    if probe.is_terminal:
        return probe
    return Console(width=200, no_color=True, highlight=False, soft_wrap=False)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def broadcast_json(broadcast: Broadcast) -> dict[str, Any]:
    counters = broadcast.counters
    return {
        **unstructure(broadcast),
        "delivery_rate": counters.delivery_rate,
        "drop_rate": counters.drop_rate,
        "duration": counters.duration,
    }


def summary_json(summary: BroadcastSummary) -> dict[str, Any]:
    return {
        **broadcast_json(summary.broadcast),
        "used_fallback": summary.used_fallback,
        "used_fallback_share": summary.used_fallback_share,
        "lineage": list(summary.lineage),
        "retries": list(summary.retries),
        "overdue_by": summary.overdue_by,
        "stalled_for": summary.stalled_for,
    }


def _audience(broadcast: Broadcast) -> str:
    audience = broadcast.audience
    if audience.contact_ids is not None:
        return f"{len(audience.contact_ids)} listed contact IDs"
    return f"filter {audience.filter!r}" if audience.filter else "everyone"


def _state(summary: BroadcastSummary) -> str:
    b = summary.broadcast
    if b.cancel_requested and b.state.value == "SENDING":
        return f"{b.state.value}  (cancel requested)"
    if summary.stalled_for is not None:
        return f"{b.state.value}  ({stalled_note(summary.stalled_for)})"
    if summary.overdue_by is not None:
        return f"{b.state.value}  ({overdue_note(b.id, summary.overdue_by)})"
    return b.state.value


def stalled_note(quiet: float) -> str:
    return (
        f"stalled: no new row for {format_duration(quiet)}; is `broadcaster run` running?"
        " A stopped worker's broadcast resumes where it stopped when one starts"
    )


def overdue_note(broadcast_id: str, late: float) -> str:
    return (
        f"overdue: its run-at passed {format_duration(late)} ago, too late to fire by itself;"
        f" `broadcaster edit {broadcast_id} --run-at now` sends it, `broadcaster cancel {broadcast_id}` drops it"
    )


def summary_lines(summary: BroadcastSummary, zone: Zone) -> list[tuple[str, str]]:
    b = summary.broadcast
    c = b.counters
    what = f"flow {b.flow_id}" if b.flow_id and not b.routes else f"{len(b.routes)} template route(s)"
    lines = [
        ("broadcast", f"{b.id}  {b.name}".rstrip()),
        ("state", _state(summary)),
        ("mode", f"{b.mode.value}: {what}"),
        ("audience", _audience(b)),
        ("run at", format_time(b.run_at, zone)),
        ("audience estimate", "-" if c.audience_size_estimate is None else str(c.audience_size_estimate)),
        ("audience actual", "-" if c.audience_size_actual is None else str(c.audience_size_actual)),
        ("delivered", str(c.delivered)),
        ("failed", str(c.failed)),
        ("skipped", str(c.skipped)),
        ("delivery rate", percent(c.delivery_rate)),
        ("drop rate", percent(c.drop_rate)),
        ("started / finished", f"{format_time(c.started_at, zone)} / {format_time(c.finished_at, zone)}"),
        ("duration", format_duration(c.duration)),
        ("used fallback", f"{summary.used_fallback} ({percent(summary.used_fallback_share)})"),
    ]
    if b.fallbacks:
        lines.append(("fallbacks", ", ".join(f"{f.integration}:{f.template}" for f in b.fallbacks)))
    if len(summary.lineage) > 1:
        lines.append(("lineage", " → ".join(summary.lineage)))
    if summary.retries:
        lines.append(("retries", ", ".join(summary.retries)))
    return lines


def row_json(row: DispatchRow) -> dict[str, Any]:
    return {**unstructure(row), "outcome": row.outcome.value}


def row_cells(row: DispatchRow, zone: Zone) -> list[str]:
    return [
        row.contact_name or row.contact_id,
        row.integration or "-",
        row.outcome.value,
        str(row.error_reason) if row.error_reason is not None else "",
        "fallback" if row.used_fallback else "",
        format_time(row.sent_at, zone),
        format_time(row.delivered_at, zone),
    ]


HISTORY_COLUMNS = ("contact", "channel", "status", "error reason", "used fallback", "sent at", "delivered at")


def history_table(rows: list[DispatchRow] | tuple[DispatchRow, ...], zone: Zone) -> SafeTable:
    table = SafeTable(*HISTORY_COLUMNS)
    for row in rows:
        table.add_row(*row_cells(row, zone))
    return table
