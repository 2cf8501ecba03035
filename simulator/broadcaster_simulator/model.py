"""A scenario as values: the audience to generate, the broadcast, the providers' behaviour
over time, and the retry policy applied afterwards.

Times inside a scenario are offsets in seconds from its ``start`` (a POSIX time); the
driver adds ``start`` when it talks to the core, which speaks POSIX seconds.
"""

from __future__ import annotations

import enum
import math
from typing import Iterable, Mapping

import attrs

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.models import FallbackTemplate, Mode, TemplateRoute
from broadcaster.core.pacing import PacingPlan

__all__ = [
    "AudienceSpec",
    "BroadcastSpec",
    "ErrorMode",
    "Fates",
    "Latency",
    "Period",
    "PeriodKind",
    "ProviderBehaviour",
    "RetryPolicy",
    "RetryUntil",
    "Scenario",
]

#: a z-score: the 99th percentile of a standard normal
_Z99 = 2.3263478740408408


@attrs.frozen
class Latency:
    """A log-normal reply latency fitted by its median and 99th percentile (seconds)."""

    median: float = 0.1
    p99: float = 0.1

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / _Z99

    def describe(self) -> str:
        if self.p99 == self.median:
            return f"{self.median:g}s"
        return f"median {self.median:g}s, p99 {self.p99:g}s"


class ErrorMode(enum.Enum):
    """How a failing request fails."""

    #: the provider answers 5xx: a transient FAILED row
    SERVER_ERROR = "5xx"
    #: the connection is refused before the request leaves: safe to resend (NotSent)
    REFUSED = "refused"
    #: no answer within the timeout: the outcome is unknown, never resent in the run
    TIMEOUT = "timeout"


class PeriodKind(enum.Enum):
    #: every request fails with ``error``
    OUTAGE = "outage"
    #: a ``share`` of requests fail with ``error``
    DEGRADED = "degraded"
    #: the provider's limit drops to ``limit`` messages/s (a 429 storm if we send faster)
    RATE_LIMIT = "rate_limit"
    #: the credentials are refused (a revoked token) until the period ends
    AUTH_FAILED = "auth_failed"
    #: replies take ``latency`` instead of the usual
    SLOW = "slow"


@attrs.frozen
class Period:
    """One entry of a provider's timeline, active on ``[start, end)``."""

    kind: PeriodKind
    start: float
    end: float = math.inf
    error: ErrorMode = ErrorMode.SERVER_ERROR
    share: float = 1.0
    limit: float | None = None
    burst: int | None = None
    retry_after: int | None = None
    latency: Latency | None = None

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


@attrs.frozen
class Fates:
    """Shares of a provider's contacts with a fixed fate (drawn per contact, not per request).

    ``flaky`` contacts fail transiently (5xx) on each attempt with ``flaky_failure``
    probability — the failures an operator's Retry clears, eventually.
    """

    blocked: float = 0.0
    unregistered: float = 0.0
    opted_out: float = 0.0
    flaky: float = 0.0
    flaky_failure: float = 0.5


def _periods(items: Iterable[Period]) -> tuple[Period, ...]:
    # not ``converter=tuple``: mypy's attrs plugin cannot resolve its type variable
    return tuple(items)


@attrs.frozen
class ProviderBehaviour:
    """How one simulated integration answers."""

    integration: str
    provider: str
    #: the provider's own limit (messages/s) and burst; over it, a 429 in its own style
    limit: float
    burst: int
    latency: Latency = Latency()
    #: how long a request that times out takes before the client gives up
    timeout: float = 10.0
    #: a baseline share of transient 5xx answers
    failure_rate: float = 0.0
    fates: Fates = Fates()
    timeline: tuple[Period, ...] = attrs.field(default=(), converter=_periods)
    #: our dispatcher's pace for this integration (None: the channel's default)
    send_rate: float | None = None


@attrs.frozen
class AudienceSpec:
    """The audience to generate; contact *i* is a pure function of (seed, i)."""

    size: int
    #: integration name -> weight of contacts whose chat is there
    channels: Mapping[str, float]
    #: share of contacts with a chat on a second integration as well
    second_chat: float = 0.0
    no_chat: float = 0.0
    opted_out: float = 0.0
    #: share missing ``first_name`` (the field templates and flows usually need)
    missing_field: float = 0.0
    #: share whose messaging window (WhatsApp / Instagram, 24 h) is closed
    closed_window: float = 0.0


@attrs.frozen
class BroadcastSpec:
    name: str
    mode: Mode
    text: str = ""
    #: flow mode: the first card is this template instead of ``text`` (name, language, params)
    first_template: tuple[str, str, tuple[str, ...]] | None = None
    required_fields: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    routes: tuple[TemplateRoute, ...] = ()
    fallbacks: tuple[FallbackTemplate, ...] = ()
    pacing: PacingPlan = PacingPlan()
    backoff: BackoffPolicy = BackoffPolicy()


class RetryUntil(enum.Enum):
    #: redrive while any FAILED row is left
    NONE_LEFT = "none_left"
    #: stop when every FAILED row is systemic (blocked, unregistered, payload): Retry won't help
    ONLY_SYSTEMIC = "only_systemic"


@attrs.frozen
class RetryPolicy:
    until: RetryUntil = RetryUntil.ONLY_SYSTEMIC
    max_retries: int = 3
    #: how long after a run finishes its retry fires (the product's default: 2 minutes)
    delay: float = 120.0


@attrs.frozen
class Scenario:
    name: str
    audience: AudienceSpec
    broadcast: BroadcastSpec
    providers: Mapping[str, ProviderBehaviour]
    seed: int = 0
    #: the POSIX time the simulated run starts at
    start: float = 1_767_603_600.0  # 2026-01-05T09:00:00Z
    description: str = ""
    retry: RetryPolicy | None = None
    #: where it was read from (for messages), if from a file
    source: str | None = None
