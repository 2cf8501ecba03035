"""Order-independent random draws: ``word(key, stream, i)`` is a pure function.

Contact *i*'s traits (its channels, whether it opted out, its fate at a provider) must
not depend on which contacts were generated before it — a retry regenerates only the
failed ones, a fake server sees only the chat id. So they are not taken from a shared
``random.Random`` stream but hashed from ``(key, stream, i)`` with SplitMix64, where
``key`` itself is the first draw of the scenario's seeded ``random.Random``. Everything
that depends on the order of events (latency, degraded-period draws, backoff jitter)
uses that ``random.Random`` directly.

One 64-bit word is cut into several independent fields (:func:`field16`, :func:`field32`)
instead of hashing once per trait; a share is compared as an integer threshold
(:func:`threshold16`) against its field. Hashing in Python integers costs about as much as
building the contact it describes, so the hot paths hash many indexes at once with numpy
(whose uint64 arithmetic wraps modulo 2**64, exactly the masks below): :func:`words` for
a page, :class:`WordBlocks` for per-request lookups. Both give :func:`word`'s values.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "WordBlocks",
    "derive_key",
    "field16",
    "field32",
    "index_array",
    "stream_id",
    "threshold16",
    "threshold32",
    "word",
    "word_array",
    "words",
]

_MASK = (1 << 64) - 1
_GAMMA, _MUL1, _MUL2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


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
    z = ((key ^ stream) + (i + 1) * _GAMMA) & _MASK
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK
    return z ^ (z >> 31)


def word_array(key: int, stream: int, indexes: np.ndarray) -> np.ndarray:
    """:func:`word` of each index, on uint64 arrays (wrapping is the ``& _MASK``); fields
    are cut from it with numpy's shifts and masks, a page at a time."""
    import numpy as np

    u64 = np.uint64
    z = (indexes + u64(1)) * u64(_GAMMA) + u64(key ^ stream)
    z = (z ^ (z >> u64(30))) * u64(_MUL1)
    z = (z ^ (z >> u64(27))) * u64(_MUL2)
    return z ^ (z >> u64(31))


def index_array(indexes: Iterable[int]) -> np.ndarray:
    """``indexes`` as a uint64 array, for :func:`word_array`."""
    # imported here, not at the top: every `broadcaster` command imports this module
    # (through the simulator's command registration) and numpy costs ~0.1 s to load
    import numpy as np

    if isinstance(indexes, range) and indexes.step == 1:
        return np.arange(indexes.start, indexes.stop, dtype=np.uint64)
    return np.fromiter(indexes, dtype=np.uint64)


def words(key: int, stream: int, indexes: Iterable[int]) -> list[int]:
    """``[word(key, stream, i) for i in indexes]``, hashed all at once."""
    return word_array(key, stream, index_array(indexes)).tolist()  # type: ignore[no-any-return]


class WordBlocks:
    """``word(key, stream, i)`` for requests that come in roughly index order (a provider
    model's per-contact fate): each block of 1024 consecutive indexes is hashed at once
    when first asked for, and the last few blocks are kept (a few hundred kB at most, so
    a run's memory stays flat; an old contact's late retry just hashes its block again)."""

    SHIFT = 10
    KEPT = 4

    def __init__(self, key: int, stream: int) -> None:
        self.key = key
        self.stream = stream
        #: block number -> its words; a plain dict, kept small (oldest dropped first)
        self.blocks: dict[int, list[int]] = {}

    def block(self, number: int) -> list[int]:
        found = self.blocks.get(number)
        if found is None:
            first = number << self.SHIFT
            found = words(self.key, self.stream, range(first, first + (1 << self.SHIFT)))
            if len(self.blocks) >= self.KEPT:
                del self.blocks[next(iter(self.blocks))]
            self.blocks[number] = found
        return found

    def __getitem__(self, i: int) -> int:
        return self.block(i >> self.SHIFT)[i & ((1 << self.SHIFT) - 1)]


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
