"""Proactive pacing per integration: an adaptive token bucket on the caller's clock.

The bucket runs at the provider's known rate so that a healthy run approaches the limit
without provoking a 429 storm. A 429 that throttles the whole integration halves the
rate (and honours the provider's pause hint); the rate then climbs back linearly to
the configured one over ``recovery`` seconds. Pure: ``now`` is always passed in.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]

# Refills are float arithmetic: a token due "now" may come out as 0.9999999. Without a
# tolerance the caller would be told to wait 1e-16 s, which a float clock cannot express.
_EPSILON = 1e-9


class TokenBucket:
    __slots__ = (
        "base_rate",
        "burst",
        "min_rate",
        "recovery",
        "_tokens",
        "_last",
        "_reduced",
        "_reduced_at",
        "_paused_until",
    )

    def __init__(self, *, rate: float, burst: int, now: float, min_rate: float = 0.5, recovery: float = 30.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.base_rate = rate
        self.burst = float(burst)
        self.min_rate = min(min_rate, rate)
        self.recovery = recovery
        self._tokens = float(burst)
        self._last = now
        self._reduced: float | None = None
        self._reduced_at = now
        self._paused_until = now

    def rate(self, now: float) -> float:
        if self._reduced is None:
            return self.base_rate
        elapsed = now - self._reduced_at
        if elapsed >= self.recovery:
            self._reduced = None
            return self.base_rate
        return self._reduced + (self.base_rate - self._reduced) * elapsed / self.recovery

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate(now))
            self._last = now

    def try_take(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def next_available(self, now: float) -> float:
        """The earliest time a token may be taken (>= now)."""
        if now < self._paused_until:
            return self._paused_until
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            return now
        return now + max((1.0 - self._tokens) / self.rate(now), _EPSILON)

    def throttled(self, now: float, *, pause: float | None = None) -> None:
        """The provider said "too many requests" for the whole integration."""
        current = self.rate(now)
        self._refill(now)
        self._reduced = max(self.min_rate, current / 2)
        self._reduced_at = now
        self._tokens = 0.0
        if pause is not None and pause > 0:
            self._paused_until = max(self._paused_until, now + pause)
