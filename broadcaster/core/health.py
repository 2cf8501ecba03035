"""Integration health: from recent send results to ``ok`` / ``degraded`` / ``auth_failed``.

The seed's advice "check the integration's status" needs a status that means something.
It is computed from a sliding window of what recent sends came to, kept as a ring of
per-second buckets (memory is ``window`` small counters, whatever the send rate).

The policy (all thresholds live in :class:`HealthPolicy`, every one configurable):

* **auth_failed** — the provider refused the credentials and no send has succeeded
  since. It does not age out with the window: nothing but a successful send (after the
  operator fixes the token) proves the credentials work again.
* **degraded** — over the last ``window`` seconds, with at least ``min_attempts`` sends:
  ``rate_limited_share`` (default 10 %) or more of them answered "slow down", or
  ``failure_share`` (default 20 %) or more failed for reasons that are the integration's
  or the network's (transient, integration, never sent, outcome unknown). Failures
  that are about one contact (blocked the bot, closed window) or one payload say nothing
  about the integration and are not counted.
* **ok** — otherwise, including "too few sends to judge".

Pure: ``now`` is passed in, nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
from typing import Final, Mapping

import attrs

from .errors import ConfigError
from .outcomes import ErrorKind
from .results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, Rerouted, SendResult

__all__ = [
    "DEFAULT_FAILURE_SIGNALS",
    "HealthPolicy",
    "HealthStats",
    "HealthStatus",
    "HealthWindow",
    "IntegrationHealth",
    "Signal",
    "assess",
    "signal_of",
]


class HealthStatus(enum.Enum):
    OK = "ok"
    DEGRADED = "degraded"
    AUTH_FAILED = "auth_failed"


class Signal(enum.Enum):
    """What one send came to, as far as the integration's health is concerned."""

    SENT = "sent"
    #: the whole integration was told to slow down (HTTP 429, WhatsApp 130429)
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    #: about one contact: blocked, unknown, closed window, per-recipient rate limit
    FAILED_CONTACT = "failed_contact"
    FAILED_PAYLOAD = "failed_payload"
    #: the integration is broken in a way other than its credentials (locked account)
    FAILED_INTEGRATION = "failed_integration"
    FAILED_TRANSIENT = "failed_transient"
    #: the request never left (connection refused, DNS)
    NOT_SENT = "not_sent"
    OUTCOME_UNKNOWN = "outcome_unknown"


_SIGNALS: Final = tuple(Signal)
_INDEX: Final = {signal: i for i, signal in enumerate(_SIGNALS)}

#: the failures that count against an integration's health by default
DEFAULT_FAILURE_SIGNALS: Final = frozenset(
    {Signal.FAILED_INTEGRATION, Signal.FAILED_TRANSIENT, Signal.NOT_SENT, Signal.OUTCOME_UNKNOWN}
)

_FAILED_KIND_SIGNAL: Final[Mapping[ErrorKind, Signal]] = {
    ErrorKind.RATE_LIMITED: Signal.RATE_LIMITED,
    ErrorKind.PERMANENT_CONTACT: Signal.FAILED_CONTACT,
    ErrorKind.INTEGRATION: Signal.FAILED_INTEGRATION,
    ErrorKind.PAYLOAD: Signal.FAILED_PAYLOAD,
    ErrorKind.TRANSIENT: Signal.FAILED_TRANSIENT,
    ErrorKind.UNKNOWN: Signal.OUTCOME_UNKNOWN,
}


def signal_of(result: SendResult) -> Signal:
    """The health signal of one send result."""
    if isinstance(result, (Delivered, Rerouted)):
        # a reroute is the provider answering normally, with news about the chat
        return Signal.SENT
    if isinstance(result, RateLimited):
        return Signal.RATE_LIMITED if result.scope == "integration" else Signal.FAILED_CONTACT
    if isinstance(result, Failed):
        if result.kind is ErrorKind.INTEGRATION and result.reason.reason == "auth_failed":
            return Signal.AUTH_FAILED
        return _FAILED_KIND_SIGNAL[result.kind]
    if isinstance(result, NotSent):
        return Signal.NOT_SENT
    if isinstance(result, OutcomeUnknown):
        return Signal.OUTCOME_UNKNOWN
    raise TypeError(f"not a send result: {type(result).__name__}")


@attrs.frozen(kw_only=True)
class HealthPolicy:
    """Thresholds of the health status. Shares are fractions (0.1 = 10 %)."""

    #: seconds of history the status looks at
    window: int = 300
    #: fewer sends than this in the window give no verdict (ok, "too few sends")
    min_attempts: int = 20
    #: this share of sends rate-limited, or more, is degraded (pacing aims at under 1 %)
    rate_limited_share: float = 0.10
    #: this share of sends failing for integration/network reasons, or more, is degraded
    failure_share: float = 0.20
    failure_signals: frozenset[Signal] = DEFAULT_FAILURE_SIGNALS

    def __attrs_post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"health.window must be a whole number of seconds >= 1, got {self.window!r}")
        if isinstance(self.min_attempts, bool) or not isinstance(self.min_attempts, int) or self.min_attempts < 1:
            raise ConfigError(f"health.min_attempts must be a whole number >= 1, got {self.min_attempts!r}")
        for name in ("rate_limited_share", "failure_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(
                    f"health.{name} must be a fraction in (0, 1], got {value!r}", hint="e.g. 0.1 for 10 %"
                )
        if Signal.SENT in self.failure_signals or Signal.AUTH_FAILED in self.failure_signals:
            raise ConfigError("health.failure_signals cannot include 'sent' or 'auth_failed'")


@attrs.frozen(kw_only=True)
class HealthStats:
    """What the window holds at ``at``."""

    at: float
    window: int
    counts: Mapping[Signal, int]
    #: seconds the counted sends span (from the oldest counted second to ``at``; <= window)
    span: float
    last_success_at: float | None
    last_auth_failure_at: float | None
    #: the provider refused the credentials and no send has succeeded since
    auth_broken: bool = False

    @property
    def attempts(self) -> int:
        return sum(self.counts.values())

    @property
    def send_rate(self) -> float:
        """Send attempts per second over the span they cover."""
        return self.attempts / self.span if self.attempts else 0.0

    @property
    def rate_limited_share(self) -> float:
        return self.counts.get(Signal.RATE_LIMITED, 0) / self.attempts if self.attempts else 0.0

    def failure_share(self, signals: frozenset[Signal] = DEFAULT_FAILURE_SIGNALS) -> float:
        if not self.attempts:
            return 0.0
        return sum(self.counts.get(signal, 0) for signal in signals) / self.attempts


class HealthWindow:
    """A ring of per-second buckets of signal counts (bounded memory)."""

    def __init__(self, *, window: int = 300) -> None:
        if window < 1:
            raise ConfigError(f"a health window must be at least 1 second, got {window!r}")
        self._window = window
        self._seconds: list[int | None] = [None] * window
        self._counts: list[list[int]] = [[0] * len(_SIGNALS) for _ in range(window)]
        self._last_success_at: float | None = None
        self._last_auth_failure_at: float | None = None
        self._auth_broken = False

    @property
    def window(self) -> int:
        return self._window

    def observe(self, signal: Signal, *, now: float, n: int = 1) -> None:
        """Count ``n`` sends that came to ``signal`` at ``now``."""
        if n < 1:
            raise ValueError(f"observe counts at least one send, got n={n!r}")
        # Results may be observed slightly out of order (concurrent sends): the latest
        # by time decides the credentials' state, and on a tie the later observation.
        if signal is Signal.SENT:
            if self._last_auth_failure_at is None or now >= self._last_auth_failure_at:
                self._auth_broken = False
            self._last_success_at = now if self._last_success_at is None else max(now, self._last_success_at)
        elif signal is Signal.AUTH_FAILED:
            if self._last_success_at is None or now >= self._last_success_at:
                self._auth_broken = True
            self._last_auth_failure_at = (
                now if self._last_auth_failure_at is None else max(now, self._last_auth_failure_at)
            )
        second = math.floor(now)
        slot = second % self._window
        stamp = self._seconds[slot]
        if stamp is not None and stamp > second:
            # the slot already holds a later second: this one is older than the window
            return
        if stamp != second:
            self._seconds[slot] = second
            self._counts[slot] = [0] * len(_SIGNALS)
        self._counts[slot][_INDEX[signal]] += n

    def observe_result(self, result: SendResult, *, now: float) -> Signal:
        signal = signal_of(result)
        self.observe(signal, now=now)
        return signal

    def stats(self, *, now: float) -> HealthStats:
        current = math.floor(now)
        totals = [0] * len(_SIGNALS)
        oldest: int | None = None
        for stamp, counts in zip(self._seconds, self._counts, strict=True):
            if stamp is None or not current - self._window < stamp <= current:
                continue
            if any(counts):
                oldest = stamp if oldest is None else min(oldest, stamp)
            for i, count in enumerate(counts):
                totals[i] += count
        span = 0.0 if oldest is None else min(float(self._window), max(1.0, now - oldest))
        return HealthStats(
            at=now,
            window=self._window,
            counts={signal: totals[i] for i, signal in enumerate(_SIGNALS) if totals[i]},
            span=span,
            last_success_at=self._last_success_at,
            last_auth_failure_at=self._last_auth_failure_at,
            auth_broken=self._auth_broken,
        )


@attrs.frozen(kw_only=True)
class IntegrationHealth:
    status: HealthStatus
    #: one line an operator can act on, e.g. "42% of sends rate-limited in the last 5 min"
    reason: str
    stats: HealthStats
    #: the rate to suggest when the provider seems to allow more than the configured one
    #: (:meth:`~broadcaster.core.ratelimit.TokenBucket.allows_more`); None otherwise
    allows_more: float | None = None


def _span_text(seconds: int) -> str:
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _pct(share: float) -> str:
    # floor, so "20%" never shows for a share just under a 20 % threshold
    return f"{math.floor(share * 100 + 1e-9)}%"


def assess(stats: HealthStats, policy: HealthPolicy = HealthPolicy()) -> IntegrationHealth:
    """The status the window's stats deserve under ``policy``."""
    last = f"in the last {_span_text(stats.window)}"
    if stats.auth_broken:
        return IntegrationHealth(
            status=HealthStatus.AUTH_FAILED,
            reason="the provider refused the credentials and no send has succeeded since; fix the integration's token",
            stats=stats,
        )
    attempts = stats.attempts
    if attempts == 0:
        return IntegrationHealth(status=HealthStatus.OK, reason=f"no sends {last}", stats=stats)
    if attempts < policy.min_attempts:
        return IntegrationHealth(
            status=HealthStatus.OK, reason=f"only {attempts} sends {last}, too few to judge", stats=stats
        )
    problems = []
    if stats.rate_limited_share >= policy.rate_limited_share:
        problems.append(f"{_pct(stats.rate_limited_share)} of sends rate-limited {last}")
    failure_share = stats.failure_share(policy.failure_signals)
    if failure_share >= policy.failure_share:
        detail = ", ".join(
            f"{signal.value} {stats.counts[signal]}"
            for signal in _SIGNALS
            if signal in policy.failure_signals and stats.counts.get(signal)
        )
        problems.append(f"{_pct(failure_share)} of sends failed {last} ({detail})")
    if problems:
        # the send rate first: "a degraded provider shows degraded send rates" (the product page)
        reason = "; ".join([f"{stats.send_rate:.1f} sends/s", *problems])
        return IntegrationHealth(status=HealthStatus.DEGRADED, reason=reason, stats=stats)
    return IntegrationHealth(
        status=HealthStatus.OK,
        reason=(
            f"{stats.send_rate:.1f} sends/s, {_pct(stats.rate_limited_share)} rate-limited, "
            f"{_pct(failure_share)} failed {last}"
        ),
        stats=stats,
    )
