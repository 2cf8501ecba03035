"""Per-integration health tracking for the worker (the policy is :mod:`broadcaster.core.health`).

The worker calls :meth:`HealthTracker.record` with every send result (cheap and
synchronous: one counter in a ring). :meth:`HealthTracker.run`, in its own task, hands
each integration's :class:`~broadcaster.core.health.IntegrationHealth` to ``on_status``
every ``interval`` seconds — for integrations that sent something since the last
hand-over or whose status changed — so the store can persist it for the CLI.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Awaitable, Callable, Mapping

import attrs
import trio

from ..core.health import HealthPolicy, HealthStatus, HealthWindow, IntegrationHealth, assess
from ..core.ratelimit import TokenBucket
from ..core.results import SendResult
from ..store.base import IntegrationHealth as StoredHealth
from ..store.base import Store

__all__ = ["HealthTracker", "StatusSink", "store_sink"]

log = logging.getLogger(__name__)

#: receives ``(integration, health)``; may be a plain or an async function
StatusSink = Callable[[str, IntegrationHealth], "Awaitable[None] | None"]


class HealthTracker:
    """Keeps a :class:`HealthWindow` per integration and reports their status."""

    def __init__(
        self,
        *,
        on_status: StatusSink,
        policy: HealthPolicy | None = None,
        interval: float = 10.0,
        clock: Callable[[], float] = time.time,
        buckets: Mapping[str, TokenBucket] | None = None,
    ) -> None:
        """``buckets`` are the runtime's token buckets (``Runtime.buckets``): an integration's
        status then says when its provider seems to allow more than its configured rate."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self._on_status = on_status
        self._policy = policy or HealthPolicy()
        self._interval = interval
        self._clock = clock
        self._buckets: Mapping[str, TokenBucket] = {} if buckets is None else buckets
        self._windows: dict[str, HealthWindow] = {}
        self._dirty: set[str] = set()
        self._reported: dict[str, HealthStatus] = {}

    def record(self, integration: str, result: SendResult) -> None:
        """Count one send result (call it for every send, from the worker)."""
        window = self._windows.get(integration)
        if window is None:
            window = self._windows[integration] = HealthWindow(window=self._policy.window)
        window.observe_result(result, now=self._clock())
        self._dirty.add(integration)

    def health(self, integration: str) -> IntegrationHealth:
        """The integration's status now (ok with "no sends" for one never seen)."""
        window = self._windows.get(integration) or HealthWindow(window=self._policy.window)
        health = assess(window.stats(now=self._clock()), self._policy)
        bucket = self._buckets.get(integration)
        more = None if bucket is None else bucket.allows_more()
        return health if more is None else attrs.evolve(health, allows_more=more)

    async def flush(self) -> None:
        """Hand over the status of every integration that changed since the last hand-over."""
        dirty, self._dirty = self._dirty, set()
        for integration in sorted(self._windows):
            health = self.health(integration)
            if integration not in dirty and self._reported.get(integration) is health.status:
                continue
            self._reported[integration] = health.status
            try:
                answer = self._on_status(integration, health)
                if inspect.isawaitable(answer):
                    await answer
            except Exception:
                # a failing sink (store busy) must not stop tracking; the next tick retries
                log.exception("could not hand over the health of integration %r", integration)
                self._reported.pop(integration, None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Report every ``interval`` seconds until cancelled (then one last time)."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self._interval)
                await self.flush()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()


def store_sink(store: Store) -> StatusSink:
    """A sink that keeps each integration's latest status in the store (the CLI shows it)."""

    def put(integration: str, health: IntegrationHealth) -> None:
        store.put_integration_health(
            StoredHealth(integration, health.status, health.reason, health.stats.at, health.allows_more)
        )

    return put
