"""Order-independent random draws: ``unit(key, stream, i)`` is a pure function.

Contact *i*'s traits (its channels, whether it opted out, its fate at a provider) must
not depend on which contacts were generated before it — a retry regenerates only the
failed ones, a fake server sees only the chat id. So they are not taken from a shared
``random.Random`` stream but hashed from ``(key, stream, i)`` with SplitMix64, where
``key`` itself is the first draw of the scenario's seeded ``random.Random``. Everything
that depends on the order of events (latency, degraded-period draws, backoff jitter)
uses that ``random.Random`` directly.
"""

from __future__ import annotations

import random

__all__ = ["derive_key", "stream_id", "unit"]

_MASK = (1 << 64) - 1
_INV = 1.0 / (1 << 53)


def derive_key(rng: random.Random) -> int:
    """The hashing key for a run: the seeded RNG's first 64 bits."""
    return rng.getrandbits(64)


def stream_id(name: str) -> int:
    """A stable 64-bit number for a named stream (not ``hash()``: that is salted per process)."""
    value = 0xCBF29CE484222325
    for byte in name.encode():
        value = ((value ^ byte) * 0x100000001B3) & _MASK
    return value


def unit(key: int, stream: int, i: int) -> float:
    """A uniform float in [0, 1), fixed by ``(key, stream, i)``."""
    z = (key ^ stream) + (i + 1) * 0x9E3779B97F4A7C15
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return (z >> 11) * _INV
