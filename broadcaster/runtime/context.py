"""What the runtime needs to run broadcasts: store, plugins, HTTP, clock, policies."""

from __future__ import annotations

import random
import time
from typing import Callable, Mapping

import attrs
import trio

from ..core.backoff import BackoffPolicy
from ..core.models import LifecycleEvent
from ..core.pacing import PacingPlan
from ..core.ratelimit import DEFAULT_WARMUP, TokenBucket
from ..core.schedule import DEFAULT_MAX_LATENESS
from ..plugins import ProviderRegistry
from ..store.base import Store
from .health import HealthTracker
from .http import HttpExecutor
from .store_waits import StoreOutage

__all__ = ["HEARTBEAT_EVERY", "WORKER_LEASE", "Runtime", "WallClock"]

#: a worker's lease, and its audience units' (the default of Runtime.worker_lease): it
#: heartbeats every sixth of it (from the worker's main loop, never held up by sends), so a
#: lease spans six missed beats (a slow disk, a pause, a starved process) before another
#: worker takes over
WORKER_LEASE = 30.0
HEARTBEAT_EVERY = WORKER_LEASE / 6


class WallClock:
    """POSIX time derived from trio's clock, so ``autojump_clock`` drives it in tests.

    The core speaks POSIX seconds; trio sleeps on its own clock. One offset, taken once,
    converts between the two.
    """

    def __init__(self, *, epoch: float | None = None) -> None:
        self._offset = (time.time() if epoch is None else epoch) - trio.current_time()

    def now(self) -> float:
        return trio.current_time() + self._offset

    def to_trio(self, posix: float) -> float:
        return posix - self._offset


@attrs.define(kw_only=True)
class Runtime:
    store: Store
    registry: ProviderRegistry
    executor: HttpExecutor
    clock: WallClock
    rng: random.Random = attrs.field(factory=random.Random)
    pacing: PacingPlan = PacingPlan()
    backoff: BackoffPolicy = BackoffPolicy()
    #: per-integration send-rate overrides (messages/s)
    rates: Mapping[str, float] = attrs.field(factory=dict)
    #: how often a running broadcast looks for a cancel or an unpublished flow
    poll_interval: float = 1.0
    #: sees this worker's lifecycle events as they are stored (the terminal display); the
    #: plugins' hook and webhooks get every event from the store's outbox instead
    #: (runtime.outbox_delivery), whichever process made it
    on_event: Callable[[LifecycleEvent], None] = lambda event: None
    health: HealthTracker | None = None
    #: the token bucket of each integration, shared by every broadcast this runtime runs
    #: (two running at once through one integration share its rate)
    buckets: dict[str, TokenBucket] = attrs.field(factory=dict)
    #: what new buckets are (None: TokenBucket); ``run_worker`` sets SharedBucket on a store
    #: many workers share, and renews their shares (runtime.rate_sharing)
    bucket_type: type[TokenBucket] | None = None
    #: whether to share integrations' rates with the other workers of the store (None:
    #: when the store takes many workers — PostgreSQL; SQLite has one, which needs no sharing)
    share_rates: bool | None = None
    #: whether a run makes its store calls from a thread (None: when the store waits on a
    #: server). A test on trio's autojump clock keeps them inline: the clock jumps ahead
    #: while a thread works, as if the call had taken no time at all
    store_threads: bool | None = None
    #: how long a new integration bucket ramps up to its rate while connections open
    #: (core.ratelimit: without it a cold start provoked 429s that cost seconds)
    warmup: float = DEFAULT_WARMUP
    #: how late after its run-at a broadcast still fires (core.schedule)
    max_lateness: float = DEFAULT_MAX_LATENESS
    #: how long this worker and its audience units stay live without a heartbeat (it beats
    #: every sixth of it); `broadcaster run --lease`
    worker_lease: float = WORKER_LEASE
    #: set to stop gracefully: nothing new is fired or sent, sends in flight finish and
    #: are recorded, running broadcasts stay SENDING for a later run (runtime.stopping)
    stop: trio.Event = attrs.field(factory=trio.Event)
    #: whether the store answers, as this worker's tasks last found it (runtime.store_waits)
    outage: StoreOutage = attrs.field(factory=StoreOutage)

    @property
    def calls_store_in_threads(self) -> bool:
        """Whether a run makes its store calls from a thread (runtime.worker): set by
        ``store_threads``, else when the store's calls wait on a database server (PostgreSQL)."""
        if self.store_threads is not None:
            return self.store_threads
        engine = getattr(self.store, "engine", None)
        return bool(getattr(engine, "waits_on_server", False))

    @property
    def shares_rates(self) -> bool:
        if self.share_rates is not None:
            return self.share_rates
        engine = getattr(self.store, "engine", None)
        return engine is not None and not getattr(engine, "exclusive", True)
