"""Backoff after rate limiting: exponential, jittered, capped, never below the hint.

Rate-limit retries are invisible to operators, but not unbounded: each batch carries a
budget of retries; when it is spent, the rest of the batch becomes FAILED
``<provider>:rate_limit_exhausted``.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

import attrs

from .errors import PacingError

__all__ = ["BackoffPolicy", "RandomSource"]


class RandomSource(Protocol):
    """What the core needs of a ``random.Random``: the shell passes a seeded one in."""

    def random(self) -> float: ...


@attrs.frozen
class BackoffPolicy:
    #: the first delay, in seconds
    base: float = 1.0
    factor: float = 2.0
    #: no computed delay exceeds this (a provider's hint may: it is never undercut)
    cap: float = 300.0
    #: share of the delay randomised away: 0.5 gives delays in [d/2, d] ("equal jitter")
    jitter: float = 0.5
    #: rate-limit retries a batch may spend before its tail fails
    budget: int = 8

    def __attrs_post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise PacingError(f"backoff.base must be > 0 and <= backoff.cap, got base={self.base} cap={self.cap}")
        if self.factor < 1:
            raise PacingError(f"backoff.factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise PacingError(f"backoff.jitter must be between 0 and 1, got {self.jitter}")
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 0:
            raise PacingError(f"backoff.budget must be a whole number >= 0, got {self.budget!r}")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay for the ``attempt``-th retry (0-based), capped."""
        # Avoid float overflow for absurd attempt numbers: the cap is reached long before.
        exponent = min(attempt, 64)
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempt: int, rng: RandomSource, *, hint: float | None = None) -> float:
        ceiling = self.ceiling(attempt)
        delay = ceiling * (1 - self.jitter * rng.random())
        if hint is not None and hint > delay:
            return hint
        return delay

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BackoffPolicy:
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PacingError(
                f"unknown backoff setting {unknown[0]!r}", hint=f"known settings: {', '.join(sorted(known))}"
            )
        return cls(**dict(values))
