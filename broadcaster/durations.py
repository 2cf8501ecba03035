"""Durations as people write them: "150ms", "90s", "5m", "1h30m", "2.5h", "3d" (or seconds as a number)."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_HELP", "MAX_DURATION", "parse_duration"]

DURATION_HELP = 'a duration like "90s", "5m", "24h", "3d" or "1h30m" (units ms, s, m, h, d), or seconds as a number'

#: the longest duration anything accepts (ten years): beyond it no setting makes sense, and
#: a time that far ahead no longer fits a calendar date everywhere it is shown
MAX_DURATION = 3650 * 86_400.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds (0 to :data:`MAX_DURATION`) for ``value``; ValueError naming the accepted forms otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number of seconds >= 0, not {value!r}")
        return _bounded(float(value), value)
    if isinstance(value, str) and len(value) <= 100:
        text = re.sub(r"\s+", "", value).lower()
        parts = _PART.findall(text)
        if parts and "".join(number + unit for number, unit in parts) == text:
            return _bounded(sum(float(number) * _UNITS[unit] for number, unit in parts), value)
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
    raise ValueError(f"cannot read {shown!r} as a duration; use {DURATION_HELP}")


def _bounded(seconds: float, given: object) -> float:
    if not seconds <= MAX_DURATION:
        raise ValueError(f"{given!r} is longer than the longest duration accepted, 3650d (ten years)")
    return seconds
