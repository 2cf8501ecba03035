"""Times at the command line: read "in 10m" or ISO 8601, show them in the user's zone."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import Any

import click

from ..core.schedule import MAX_RUN_AHEAD
from ..durations import parse_duration

__all__ = ["WHEN_HELP", "WhenType", "Zone", "format_duration", "format_time", "local_zone", "parse_when"]

Zone = dt.tzinfo

WHEN_HELP = 'ISO 8601 ("2026-03-01T09:00", your zone unless it says otherwise), "now", or "in 10m" / "in 2h" / "in 1d"'

_RELATIVE = re.compile(r"in\s+((?:\d+\s*[smhd]\s*)+)", re.IGNORECASE)


def local_zone() -> Zone:
    zone = dt.datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def parse_when(text: str, *, now: float, zone: Zone) -> float:
    """POSIX seconds for ``text``, from 1970 to ten years after ``now``; ValueError otherwise."""
    value = text.strip()
    shown = text if len(text) <= 40 else text[:40] + "..."
    if value.lower() == "now":
        return now
    relative = _RELATIVE.fullmatch(value) if len(value) <= 100 else None
    if relative:
        try:
            at = now + parse_duration(relative[1])
        except ValueError as exc:
            raise ValueError(f"cannot use {shown!r} as a time: {exc}") from None
    else:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"cannot read {shown!r} as a time; use {WHEN_HELP}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        try:
            at = moment.timestamp()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{shown!r} is out of range; give a time from 1970 to ten years ahead") from None
    if not 0 <= at <= now + MAX_RUN_AHEAD:
        raise ValueError(f"{shown!r} is out of range; give a time from 1970 to ten years ahead")
    return at


def format_time(at: float | None, zone: Zone) -> str:
    """``at`` in ``zone``; a stored value no calendar can show still prints (never raises)."""
    if at is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(at, tz=zone).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{at!r} (out of range)"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if not math.isfinite(seconds) or abs(seconds) > 1e12:
        return f"{seconds!r}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 else f"{secs}s"


class WhenType(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only; we support 8.1+
    """A click parameter holding the text; commands call :func:`parse_when` with their clock."""

    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            parse_when(text, now=time.time(), zone=dt.UTC)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return text
