"""Durations as people write them: "90m", "24h", "1d12h", "45s" (or a number of seconds)."""

from __future__ import annotations

import re

__all__ = ["DURATION_HELP", "parse_duration"]

DURATION_HELP = 'a duration like "90m", "24h", "3d" or "1h30m" (units s, m, h, d), or seconds as a number'

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHOLE = re.compile(r"(?:\d+\s*[smhd]\s*)+", re.IGNORECASE)
_PART = re.compile(r"(\d+)\s*([smhd])", re.IGNORECASE)


def parse_duration(value: object) -> float:
    """Seconds for ``value``; ValueError naming the accepted forms otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if isinstance(value, str) and _WHOLE.fullmatch(text):
        return float(sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(text)))
    raise ValueError(f"cannot read {value!r} as a duration; use {DURATION_HELP}")
