"""Durations as people write them: "150ms", "90s", "5m", "1h30m", "2.5h", "3d" (or seconds as a number)."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_HELP", "parse_duration"]

DURATION_HELP = 'a duration like "90s", "5m", "24h", "3d" or "1h30m" (units ms, s, m, h, d), or seconds as a number'

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds (finite, >= 0) for ``value``; ValueError naming the accepted forms otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number of seconds >= 0, not {value!r}")
        return float(value)
    if isinstance(value, str):
        text = re.sub(r"\s+", "", value).lower()
        parts = _PART.findall(text)
        if parts and "".join(number + unit for number, unit in parts) == text:
            return sum(float(number) * _UNITS[unit] for number, unit in parts)
    raise ValueError(f"cannot read {value!r} as a duration; use {DURATION_HELP}")
