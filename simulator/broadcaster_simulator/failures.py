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

import math
import random
import statistics
from typing import Callable, Sequence

from broadcaster.fake import Verdict

from .draws import WordBlocks, stream_id, threshold32
from .model import ErrorMode, Latency, Period, PeriodKind, ProviderBehaviour

__all__ = ["Answer", "SimulatedProvider", "Verdict"]


_ERROR_VERDICT = {
    ErrorMode.SERVER_ERROR: Verdict.SERVER_ERROR,
    ErrorMode.REFUSED: Verdict.REFUSED,
    ErrorMode.TIMEOUT: Verdict.TIMEOUT,
}

#: a refused connection fails fast
_REFUSED_LATENCY = 0.002

_SHIFT = WordBlocks.SHIFT
_LOW = (1 << _SHIFT) - 1

#: (verdict, seconds until the reply, retry-after hint or None)
Answer = tuple[Verdict, float, "int | None"]
#: (the request's own verdict or None, seconds until the reply, hint, each recipient's verdict)
BatchAnswer = tuple["Verdict | None", float, "int | None", list[Verdict]]


#: latencies are sampled through this many quantiles of their distribution (a table
#: lookup per request instead of a normal variate)
_QUANTILES_BITS = 12
_QUANTILES: dict[tuple[float, float], tuple[float, ...]] = {}


def _quantiles(latency: Latency) -> tuple[float, ...]:
    """The log-normal's quantiles at the midpoints of ``2**_QUANTILES_BITS`` equal slices."""
    key = (latency.median, latency.p99)
    table = _QUANTILES.get(key)
    if table is None:
        n = 1 << _QUANTILES_BITS
        if latency.p99 == latency.median:
            table = (latency.median,) * n
        else:
            normal = statistics.NormalDist(latency.mu, latency.sigma)
            table = tuple(math.exp(normal.inv_cdf((k + 0.5) / n)) for k in range(n))
        _QUANTILES[key] = table
    return table


class _Span:
    """What a provider's timeline says on ``[start, end)``: the periods in force there,
    folded into the few values a decision needs."""

    __slots__ = ("start", "end", "auth_failed", "outage", "limit", "burst", "hint", "degraded", "latencies", "open")

    def __init__(self, behaviour: ProviderBehaviour, t: float) -> None:
        self.start, self.end = -math.inf, math.inf
        self.auth_failed = False
        self.outage: ErrorMode | None = None
        self.limit = behaviour.limit
        self.burst = float(behaviour.burst)
        self.hint: int | None = None
        self.degraded: Period | None = None
        latency: Latency | None = None
        # First match wins, as the periods are listed: auth failure and outage end the scan.
        decided = False
        for period in behaviour.timeline:
            if period.start <= t < period.end:
                self.start = max(self.start, period.start)
                self.end = min(self.end, period.end)
                if decided:
                    continue
                kind = period.kind
                if kind is PeriodKind.AUTH_FAILED:
                    self.auth_failed, decided = True, True
                elif kind is PeriodKind.OUTAGE:
                    self.outage, decided = period.error, True
                elif kind is PeriodKind.RATE_LIMIT:
                    self.limit = period.limit if period.limit is not None else self.limit
                    self.burst = float(period.burst if period.burst is not None else max(1, int(self.limit)))
                    self.hint = period.retry_after
                elif kind is PeriodKind.DEGRADED:
                    self.degraded = period
                elif kind is PeriodKind.SLOW:
                    latency = period.latency
            elif period.start > t:
                self.end = min(self.end, period.start)
            elif period.end <= t:
                self.start = max(self.start, period.end)
        self.latencies = _quantiles(latency if latency is not None else behaviour.latency)
        #: requests get through to the provider's bucket (no revoked token, no outage)
        self.open = not self.auth_failed and self.outage is None


class SimulatedProvider:
    """A stateful model of one integration (its token bucket); time ``t`` is seconds since
    the scenario's start and must not go backwards."""

    def __init__(
        self,
        behaviour: ProviderBehaviour,
        *,
        rng: random.Random,
        key: int,
        window_closed: Callable[[int], bool] | None = None,
    ) -> None:
        """``window_closed`` says which contact indexes have a closed messaging window
        (None: none has)."""
        self.behaviour = behaviour
        self.rng = rng
        self._bits = rng.getrandbits
        self.key = key
        self.window_closed = window_closed
        self._failure_rate = behaviour.failure_rate
        #: one word per contact and integration: its fate (low 32 bits) and flakiness (high 32)
        self._contact_stream = stream_id(f"contact:{behaviour.integration}")
        self._contact_words = WordBlocks(key, self._contact_stream)
        fates = behaviour.fates
        self._blocked = threshold32(fates.blocked)
        self._unregistered = threshold32(fates.blocked + fates.unregistered)
        self._opted_out = threshold32(fates.blocked + fates.unregistered + fates.opted_out)
        self._flaky = threshold32(fates.flaky)
        self._draws_word = bool(self._opted_out or self._flaky)
        self._tokens = float(behaviour.burst)
        self._last = 0.0
        self._span = _Span(behaviour, 0.0)

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, index: int, t: float, *, text: bool) -> Answer:
        """Answer a request for the contact ``index`` at ``t``; ``text`` says whether it is a
        free-form message (refused outside the messaging window) rather than a template."""
        span = self._span
        if span.open and span.start <= t < span.end:
            # _request's common case written out (it runs once per request): a token is there.
            # Nothing is stored unless it is, so any other case is _request's from the same state.
            burst, tokens, last = span.burst, self._tokens, self._last
            if t > last:
                tokens += (t - last) * span.limit
                if tokens > burst:  # min(burst, tokens), without the call
                    tokens = burst
            elif tokens > burst:
                tokens = burst
            if tokens >= 1.0:
                self._tokens = tokens - 1.0
                if t > last:
                    self._last = t
                latency = span.latencies[self._bits(_QUANTILES_BITS)]  # drawn before the recipient's draws
                return self._recipient(index, span, text), latency, None
        span, answer = self._request(t)
        if answer is not None:
            return answer
        latency = span.latencies[self._bits(_QUANTILES_BITS)]  # drawn before the recipient's draws
        return self._recipient(index, span, text), latency, None

    def decide_batch(self, indexes: Sequence[int], t: float, *, text: bool) -> BatchAnswer:
        """Answer one request for many recipients (Viber's broadcast_message): what the
        provider says of the request as a whole (a revoked token, an outage, its rate
        limit, which counts requests), or else each recipient's own verdict."""
        span, answer = self._request(t)
        if answer is not None:
            verdict, latency, hint = answer
            return verdict, latency, hint, []
        latency = span.latencies[self.rng.getrandbits(_QUANTILES_BITS)]
        return None, latency, None, [self._recipient(index, span, text) for index in indexes]

    def _request(self, t: float) -> tuple[_Span, Answer | None]:
        """The request-level part of an answer: None when the request gets through."""
        span = self._span
        if not span.start <= t < span.end:
            span = self._span = _Span(self.behaviour, t)
        if span.auth_failed:
            return span, (Verdict.AUTH_FAILED, span.latencies[self.rng.getrandbits(_QUANTILES_BITS)], None)
        if span.outage is not None:
            return span, self._fail(span.outage, span.latencies[self.rng.getrandbits(_QUANTILES_BITS)])
        # Take a token from the provider's bucket (written out: it runs once per request).
        limit, burst, tokens = span.limit, span.burst, self._tokens
        if t > self._last:
            tokens = min(burst, tokens + (t - self._last) * limit)
            self._last = t
        elif tokens > burst:
            tokens = burst
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return span, None
        self._tokens = tokens
        hint = span.hint
        wait = (1.0 - tokens) / limit
        latency = span.latencies[self.rng.getrandbits(_QUANTILES_BITS)]
        return span, (Verdict.THROTTLED, latency, hint if hint is not None else max(1, math.ceil(wait)))

    def _recipient(self, index: int, span: _Span, text: bool) -> Verdict:
        """One recipient's verdict, once the request got through."""
        if self._draws_word:
            # WordBlocks' lookup, written out: it runs once per request
            blocks = self._contact_words
            block = blocks.blocks.get(index >> _SHIFT)
            if block is None:
                block = blocks.block(index >> _SHIFT)
            w = block[index & _LOW]
            u = w & 0xFFFFFFFF
            if u < self._opted_out:
                if u < self._blocked:
                    return Verdict.BLOCKED
                if u < self._unregistered:
                    return Verdict.UNREGISTERED
                return Verdict.OPTED_OUT
            flaky = (w >> 32) < self._flaky
        else:
            flaky = False
        if text and self.window_closed is not None and self.window_closed(index):
            return Verdict.WINDOW_CLOSED
        rng = self.rng
        if flaky and rng.random() < self.behaviour.fates.flaky_failure:
            return Verdict.SERVER_ERROR
        degraded = span.degraded
        if degraded is not None and rng.random() < degraded.share:
            return self._fail(degraded.error, 0.0)[0]
        if self._failure_rate and rng.random() < self._failure_rate:
            return Verdict.SERVER_ERROR
        return Verdict.ACCEPTED

    def _fail(self, error: ErrorMode, latency: float) -> Answer:
        if error is ErrorMode.REFUSED:
            return Verdict.REFUSED, _REFUSED_LATENCY, None
        if error is ErrorMode.TIMEOUT:
            return Verdict.TIMEOUT, self.behaviour.timeout, None
        return Verdict.SERVER_ERROR, latency, None
