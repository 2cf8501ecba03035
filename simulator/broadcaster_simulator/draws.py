"""Order-independent random draws: ``word(key, stream, i)`` is a pure function.

Contact *i*'s traits (its channels, whether it opted out, its fate at a provider) must
not depend on which contacts were generated before it — a retry regenerates only the
failed ones, a fake server sees only the chat id. So they are not taken from a shared
``random.Random`` stream but hashed from ``(key, stream, i)`` with SplitMix64, where
``key`` itself is the first draw of the scenario's seeded ``random.Random``. Everything
that depends on the order of events (latency, degraded-period draws, backoff jitter)
uses that ``random.Random`` directly.

A hash costs about as much as building the contact it describes, so one 64-bit word is
cut into several independent fields (:func:`field16`, :func:`field32`) instead of
hashing once per trait; a share is compared as an integer threshold (:func:`threshold16`)
against its field.
"""

from __future__ import annotations

import random
from typing import Iterable

__all__ = ["derive_key", "field16", "field32", "stream_id", "threshold16", "threshold32", "unit", "word", "words"]

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


def word(key: int, stream: int, i: int) -> int:
    """64 uniform bits, fixed by ``(key, stream, i)`` (SplitMix64's finaliser)."""
    z = ((key ^ stream) + (i + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def words(key: int, stream: int, indexes: Iterable[int]) -> list[int]:
    """``[word(key, stream, i) for i in indexes]`` without a call per word: the audience
    generator hashes every contact of a run, and the call costs as much as the hash."""
    base = key ^ stream
    out: list[int] = []
    append = out.append
    for i in indexes:
        z = (base + (i + 1) * 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        append(z ^ (z >> 31))
    return out


def unit(key: int, stream: int, i: int) -> float:
    """A uniform float in [0, 1), fixed by ``(key, stream, i)``."""
    return (word(key, stream, i) >> 11) * _INV


def field16(w: int, n: int) -> int:
    """The ``n``-th 16-bit field (0-3) of a word: uniform in [0, 65536)."""
    return (w >> (16 * n)) & 0xFFFF


def field32(w: int, n: int) -> int:
    """The ``n``-th 32-bit field (0-1) of a word: uniform in [0, 2**32)."""
    return (w >> (32 * n)) & 0xFFFFFFFF


def threshold16(share: float) -> int:
    """``field16(...) < threshold16(share)`` holds with probability ``share`` (to 1/65536)."""
    return round(share * 65536)


def threshold32(share: float) -> int:
    """``field32(...) < threshold32(share)`` holds with probability ``share`` (to 2**-32)."""
    return round(share * (1 << 32))
