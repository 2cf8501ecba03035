"""The failure models: how a simulated integration answers one request at a given time.

One :class:`SimulatedProvider` per integration decides a :class:`Verdict` and a
latency; the same decision is rendered two ways — as a ``SendResult`` for the fast
discrete-event driver (:mod:`.fastpath`), and as the provider's real HTTP reply for the
fake servers (:mod:`.wire`). Checks run in this order, the first that applies wins:
revoked credentials, an outage, the provider's rate limit (a token bucket), the
contact's fixed fate, a closed messaging window, a flaky contact, a degraded period,
the baseline failure rate.
"""

from __future__ import annotations

import enum
import math
import random
from typing import Callable

from .draws import stream_id, unit
from .model import ErrorMode, Latency, Period, PeriodKind, ProviderBehaviour

__all__ = ["Answer", "SimulatedProvider", "Verdict"]


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    #: over the provider's limit: a 429 in its own style (with a hint where it gives one)
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    BLOCKED = "blocked"
    UNREGISTERED = "unregistered"
    OPTED_OUT = "opted_out"
    WINDOW_CLOSED = "window_closed"


_ERROR_VERDICT = {
    ErrorMode.SERVER_ERROR: Verdict.SERVER_ERROR,
    ErrorMode.REFUSED: Verdict.REFUSED,
    ErrorMode.TIMEOUT: Verdict.TIMEOUT,
}

#: a refused connection fails fast
_REFUSED_LATENCY = 0.002

#: (verdict, seconds until the reply, retry-after hint or None)
Answer = tuple[Verdict, float, "int | None"]


class SimulatedProvider:
    """A stateful model of one integration (its token bucket); time ``t`` is seconds since
    the scenario's start and must not go backwards."""

    def __init__(
        self,
        behaviour: ProviderBehaviour,
        *,
        rng: random.Random,
        key: int,
        window_closed: Callable[[int], bool] = lambda index: False,
    ) -> None:
        self.behaviour = behaviour
        self.rng = rng
        self.key = key
        self.window_closed = window_closed
        self._fate_stream = stream_id(f"fate:{behaviour.integration}")
        self._flaky_stream = stream_id(f"flaky:{behaviour.integration}")
        fates = behaviour.fates
        self._blocked = fates.blocked
        self._unregistered = fates.blocked + fates.unregistered
        self._opted_out = self._unregistered + fates.opted_out
        self._tokens = float(behaviour.burst)
        self._last = 0.0
        self._timeline = behaviour.timeline
        self._latency = behaviour.latency
        self._mu = behaviour.latency.mu
        self._sigma = behaviour.latency.sigma

    # -- the parts of a decision --------------------------------------------------------------

    def fate(self, index: int) -> Verdict | None:
        """The contact's fixed fate at this integration, if any."""
        u = unit(self.key, self._fate_stream, index)
        if u < self._blocked:
            return Verdict.BLOCKED
        if u < self._unregistered:
            return Verdict.UNREGISTERED
        if u < self._opted_out:
            return Verdict.OPTED_OUT
        return None

    def is_flaky(self, index: int) -> bool:
        return unit(self.key, self._flaky_stream, index) < self.behaviour.fates.flaky

    def _sample(self, latency: Latency | None) -> float:
        if latency is None:
            if self._sigma == 0.0:
                return self._latency.median
            return self.rng.lognormvariate(self._mu, self._sigma)
        if latency.p99 == latency.median:
            return latency.median
        return self.rng.lognormvariate(latency.mu, latency.sigma)

    def _admit(self, t: float, limit: float, burst: float) -> float | None:
        """Take a token from the provider's bucket; None if admitted, else the wait (s)."""
        if t > self._last:
            self._tokens = min(burst, self._tokens + (t - self._last) * limit)
            self._last = t
        elif self._tokens > burst:
            self._tokens = burst
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / limit

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, index: int, t: float, *, text: bool) -> Answer:
        """Answer a request for the contact ``index`` at ``t``; ``text`` says whether it is a
        free-form message (refused outside the messaging window) rather than a template."""
        behaviour = self.behaviour
        limit = behaviour.limit
        burst = float(behaviour.burst)
        hint: int | None = None
        degraded: Period | None = None
        latency: Latency | None = None
        for period in self._timeline:
            if not period.start <= t < period.end:
                continue
            kind = period.kind
            if kind is PeriodKind.AUTH_FAILED:
                return Verdict.AUTH_FAILED, self._sample(latency), None
            if kind is PeriodKind.OUTAGE:
                return self._fail(period.error, latency)
            if kind is PeriodKind.RATE_LIMIT:
                limit = period.limit if period.limit is not None else limit
                burst = float(period.burst if period.burst is not None else max(1, int(limit)))
                hint = period.retry_after
            elif kind is PeriodKind.DEGRADED:
                degraded = period
            elif kind is PeriodKind.SLOW:
                latency = period.latency
        wait = self._admit(t, limit, burst)
        if wait is not None:
            return Verdict.THROTTLED, self._sample(latency), hint if hint is not None else max(1, math.ceil(wait))
        fate = self.fate(index)
        if fate is not None:
            return fate, self._sample(latency), None
        if text and self.window_closed(index):
            return Verdict.WINDOW_CLOSED, self._sample(latency), None
        rng = self.rng
        if self.is_flaky(index) and rng.random() < behaviour.fates.flaky_failure:
            return Verdict.SERVER_ERROR, self._sample(latency), None
        if degraded is not None and rng.random() < degraded.share:
            return self._fail(degraded.error, latency)
        if behaviour.failure_rate and rng.random() < behaviour.failure_rate:
            return Verdict.SERVER_ERROR, self._sample(latency), None
        return Verdict.ACCEPTED, self._sample(latency), None

    def _fail(self, error: ErrorMode, latency: Latency | None) -> Answer:
        if error is ErrorMode.REFUSED:
            return Verdict.REFUSED, _REFUSED_LATENCY, None
        if error is ErrorMode.TIMEOUT:
            return Verdict.TIMEOUT, self.behaviour.timeout, None
        return Verdict.SERVER_ERROR, self._sample(latency), None
