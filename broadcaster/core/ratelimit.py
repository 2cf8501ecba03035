"""Proactive pacing per integration: an adaptive token bucket on the caller's clock.

The bucket runs at the provider's known rate so that a healthy run approaches the limit
without provoking a 429 storm. When the provider still says "too many requests" for the
whole integration, the bucket learns:

* the rate at that moment becomes the *ceiling* (what the provider would not take);
* the rate is cut by ``decrease`` (multiplicative decrease) — once per ``gap`` seconds, because the
  other refusals of one burst are the same signal, not new ones — and the provider's
  pause hint is honoured;
* it then climbs linearly over ``recovery`` seconds to 90 % of the ceiling, and from
  there probes slowly (over ``4 * recovery``) back up to the configured rate.

So a configured rate far above the real limit costs a few refusals, not a steady storm.

A bucket may also *warm up*: start with one token, not a full burst, and ramp its rate
from 5 % to the full rate over ``warmup`` seconds. A real run starts cold — no
connection to the provider is open yet — so the first requests wait for connections
and then arrive together, a burst the provider answers with 429s; each costs its
``retry_after`` pause (Telegram: at least 1 s) and a rate cut that takes seconds to win
back. Measured (bench/runtime.py, 10 000 contacts at 1 000/s): 5 refusals in the first
0.1 s and 0.76 of the limit without a warm-up; none and 0.96 with half a second of it.
Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from typing import Mapping, MutableMapping

from .channels import ChannelSpec

__all__ = ["DEFAULT_WARMUP", "TokenBucket", "buckets_for"]

# Time is POSIX seconds, where a float resolves only ~2.4e-7 s (near 2e9). A wait computed
# to the exact instant a token is due may land a hair early after rounding, and the
# caller would be woken at the same instant forever. So every wait carries one extra
# microsecond: at the promised time the token is surely there, and the bucket never
# sends earlier than its rate allows (a provider enforcing the same rate never refuses).
_MIN_WAIT = 1e-6
#: refusals closer together than this are one signal (one decrease)
_GAP = 1.0
#: after a refusal, recover to this share of the rate that was refused
_BELOW_CEILING = 0.9
#: then probe back up to the configured rate over this many recovery periods
_PROBE_PERIODS = 4
#: a warming bucket starts at this share of its rate
_WARMUP_FLOOR = 0.05
#: how long a run's new buckets warm up (the runtime's default; the simulator uses it too,
#: so a simulated run makes the decisions a real one makes)
DEFAULT_WARMUP = 0.5


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
        "_target",
        "decrease",
        "warmup",
        "_warm_until",
    )

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        now: float,
        min_rate: float = 0.5,
        recovery: float = 10.0,
        decrease: float = 0.7,
        warmup: float = 0.0,
    ) -> None:
        """``decrease`` is the factor a refusal cuts the rate by. Not a congestion-control
        halving: a provider's limit is known and a stray 429 (arrival jitter) is more common
        than a real overload, so one refusal must not cost half the throughput for long."""
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1 (exclusive), got {decrease!r}")
        if not warmup >= 0:
            raise ValueError(f"warmup must be >= 0 seconds, got {warmup!r}")
        self.warmup = warmup
        self._warm_until = now + warmup
        self.decrease = decrease
        self.base_rate = rate
        self.burst = float(burst)
        self.min_rate = min(min_rate, rate)
        self.recovery = recovery
        self._tokens = 1.0 if warmup > 0 else float(burst)
        self._last = now
        self._reduced: float | None = None
        self._reduced_at = now
        self._paused_until = now
        self._target = rate

    def rate(self, now: float) -> float:
        reduced = self._reduced
        learned = self.base_rate if reduced is None else self._recovering(now, reduced)
        if now < self._warm_until:
            warm = (now - self._warm_until) / self.warmup + 1.0
            return min(learned, self.base_rate * max(_WARMUP_FLOOR, warm))
        return learned

    def _recovering(self, now: float, reduced: float) -> float:
        """The rate while it climbs back after a refusal (and forgets it once recovered)."""
        elapsed = now - self._reduced_at
        if elapsed < self.recovery:
            return reduced + (self._target - reduced) * elapsed / self.recovery
        probing = (elapsed - self.recovery) / (_PROBE_PERIODS * self.recovery)
        if probing >= 1.0:
            self._reduced = None
            return self.base_rate
        return self._target + (self.base_rate - self._target) * probing

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate(now))
            self._last = now

    def try_take(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def next_available(self, now: float) -> float:
        """The earliest time a token may be taken (>= now)."""
        if now < self._paused_until:
            return self._paused_until
        self._refill(now)
        if self._tokens >= 1.0:
            return now
        return now + (1.0 - self._tokens) / self.rate(now) + _MIN_WAIT

    def throttled(self, now: float, *, pause: float | None = None) -> None:
        """The provider said "too many requests" for the whole integration."""
        self._refill(now)
        self._tokens = 0.0
        if pause is not None and pause > 0:
            self._paused_until = max(self._paused_until, now + pause)
        if self._reduced is not None and now - self._reduced_at < _GAP:
            return  # the same burst's other refusals: already slowed down for it
        current = self.rate(now)
        self._target = min(self.base_rate, max(self.min_rate, current * _BELOW_CEILING))
        self._reduced = max(self.min_rate, current * self.decrease)
        self._reduced_at = now


def buckets_for(
    channels: Mapping[str, ChannelSpec],
    *,
    rates: Mapping[str, float],
    now: float,
    shared: MutableMapping[str, TokenBucket] | None = None,
    warmup: float = 0.0,
) -> dict[str, TokenBucket]:
    """One bucket per integration of ``channels``, at its channel's rate and burst
    (``rates`` overrides the rate), warming up over ``warmup`` seconds.

    With ``shared`` (the buckets of every run in one process), an integration that
    already has a bucket there keeps it, and a new one is added to it: runs sending
    through one integration at the same time then take from one bucket, together within
    the provider's rate, and what one run learns from a refusal slows the others too.
    """
    pool: MutableMapping[str, TokenBucket] = {} if shared is None else shared
    for name, spec in channels.items():
        if name not in pool:
            pool[name] = TokenBucket(
                rate=rates.get(name, spec.rate_per_second), burst=spec.burst, now=now, warmup=warmup
            )
    return {name: pool[name] for name in channels}
