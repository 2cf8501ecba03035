"""Times at the command line: read "in 10m" or ISO 8601, show them in the user's zone."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import click

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
    """POSIX seconds for ``text``; ValueError with the accepted forms otherwise."""
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now + parse_duration(relative[1])
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time; use {WHEN_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def format_time(at: float | None, zone: Zone) -> str:
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, tz=zone).isoformat(timespec="seconds")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
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
            parse_when(text, now=0.0, zone=dt.UTC)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return text
