"""Workers deliver the store's lifecycle events outbox: the plugins' hook, then signed webhooks.

Every state change writes its event in its own transaction (:mod:`broadcaster.store.outbox`),
whichever process made it — the CLI, ``broadcaster serve`` or a worker. Each worker runs one
:class:`OutboxDelivery`, which loops:

1. claim due events atomically (a lease: two workers never hold one event at once);
2. for each, oldest first, call ``on_lifecycle_event`` unless an earlier claim already did,
   and record that at once — so the hook sees each event once across workers and restarts
   (a worker killed in the instant between the call and that record would let the next
   claimer call it again: at most that one event, at least once);
3. run one webhook *round* per event in its own task: one signed POST to every endpoint
   that wants the event and has not answered 2xx yet, all at once, each bounded by the
   timeout, so a hanging endpoint holds only its own event's round;
4. settle: done when every endpoint answered or the last attempt failed; otherwise due
   again after the backoff (1, 2, 4, 8 s) — the retry schedule lives in the store, so a
   restarted or another worker carries it on.

The delivery id of an event at an endpoint derives from the event's id, so it is the same
on every attempt from any worker: receivers deduplicate on it.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, Iterable, Literal

import httpx
import pluggy
import trio

from ..core.errors import StoreUnreachable
from ..core.models import LifecycleEvent
from ..store.base import OutboxEvent, Store
from .webhooks import (
    DeliveryLog,
    DeliveryRecord,
    MemoryDeliveryLog,
    WebhookEndpoint,
    WebhookSettings,
    delivery_id,
    post_once,
)

__all__ = ["OutboxDelivery"]

log = logging.getLogger(__name__)


class OutboxDelivery:
    """Delivers the outbox of ``store`` to ``plugin_manager``'s hook and to ``endpoints``.

    Run :meth:`run` in a nursery; :meth:`close` ends it — at once after the rounds in
    flight (``drain=False``), or once nothing this worker could deliver is owed any more
    (``drain=True``: ``broadcaster run --once``). However it ends (a forced stop cancels the
    rounds), it frees the claims it still holds, so the next worker delivers them at once.
    """

    def __init__(
        self,
        store: Store,
        *,
        endpoints: Iterable[WebhookEndpoint] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        delivery_log: DeliveryLog | None = None,
        settings: WebhookSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        poll: float = 1.0,
        lease: float = 60.0,
        batch: int = 50,
    ) -> None:
        self.store = store
        self._endpoints = tuple(endpoints)
        self._pm = plugin_manager
        self.delivery_log: DeliveryLog = delivery_log if delivery_log is not None else MemoryDeliveryLog()
        self._settings = settings or WebhookSettings()
        self._transport = transport
        self._rng = rng or random.Random()
        self._clock = clock
        self._poll = poll
        self._lease = lease
        self._batch = batch
        self._in_flight: set[int] = set()
        self._closing: Literal["", "stop", "drain"] = ""
        self._wake = trio.Event()

    def wake(self) -> None:
        """Look for new events now rather than at the next poll."""
        self._wake.set()

    def close(self, *, drain: bool = False) -> None:
        self._closing = "drain" if drain else "stop"
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        timeout = httpx.Timeout(self._settings.timeout)
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=timeout, follow_redirects=False) as client:
                async with trio.open_nursery() as nursery:
                    task_status.started()
                    while True:
                        try:
                            claimed = 0 if self._closing == "stop" else self._pump(nursery, client)
                            if self._closing and not self._in_flight:
                                if self._closing == "stop" or self.store.next_event_at() is None:
                                    return
                            delay = self._delay(claimed)
                        except StoreUnreachable:
                            # the worker logs the outage; events wait in the store meanwhile
                            if self._closing and not self._in_flight:
                                return
                            delay = self._poll
                        with trio.move_on_after(delay):
                            await self._wake.wait()
                        self._wake = trio.Event()
        finally:
            # Every round has ended here (settled, or cancelled by a forced stop): hand what
            # this worker still holds to the next worker now, not when the lease runs out.
            self._release()

    def _release(self) -> None:
        try:
            freed = self.store.release_events()
        except Exception:  # the store is gone too: the lease frees them later
            log.exception("could not free this worker's lifecycle event claims; they free at the lease's end")
            return
        if freed:
            log.info("freed %d lifecycle event claim(s) for the next worker", freed)

    def _delay(self, claimed: int) -> float:
        """Until the next event is due, at most one poll (other processes add events)."""
        due = self.store.next_event_at()
        if due is None or (claimed == 0 and due <= self._clock()) or len(self._in_flight) >= self._batch:
            return self._poll  # nothing owed, or due but held elsewhere, or no room: a round's end wakes us
        return min(self._poll, max(0.0, due - self._clock()))

    def _pump(self, nursery: trio.Nursery, client: httpx.AsyncClient) -> int:
        room = self._batch - len(self._in_flight)
        if room <= 0:
            return 0
        events = self.store.claim_events(self._clock(), lease=self._lease, limit=room)
        for item in events:  # oldest first: the hook sees a broadcast's events in order
            if not item.hooked:
                self._call_hooks(item.event)
                if not self.store.mark_hooked(item.seq, self._clock()):
                    log.warning("lifecycle event %d: the claim lapsed while its hook ran", item.seq)
            wanted = [e for e in self._endpoints if e.wants(item.event.kind) and e.label not in item.sent_to]
            if not wanted:
                self.store.settle_event(
                    item.seq, attempts=item.attempts, sent_to=item.sent_to, now=self._clock(), next_at=None
                )
                continue
            self._in_flight.add(item.seq)
            nursery.start_soon(self._round, client, item, wanted)
        return len(events)

    def _call_hooks(self, event: LifecycleEvent) -> None:
        if self._pm is None:
            return
        # One call per plugin, so a plugin that raises cannot keep the others from the event.
        plugins = {id(impl.plugin): impl.plugin for impl in self._pm.hook.on_lifecycle_event.get_hookimpls()}
        for plugin in plugins.values():
            others = [p for p in self._pm.get_plugins() if p is not plugin]
            try:
                self._pm.subset_hook_caller("on_lifecycle_event", remove_plugins=others)(event=event)
            except Exception:
                log.exception(
                    "plugin %r failed in on_lifecycle_event (%s of broadcast %s); carrying on",
                    self._pm.get_name(plugin),
                    event.kind.value,
                    event.broadcast.id,
                )

    async def _round(self, client: httpx.AsyncClient, item: OutboxEvent, wanted: list[WebhookEndpoint]) -> None:
        attempt = item.attempts + 1
        last = attempt >= self._settings.attempts
        sent = set(item.sent_to)

        async def one(endpoint: WebhookEndpoint) -> None:
            delivery = delivery_id(item.event_id, endpoint)
            status, error = await post_once(client, endpoint, item.event, delivery, timeout=self._settings.timeout)
            if error is None:
                sent.add(endpoint.label)
                outcome = "delivered"
            else:
                outcome = "gave_up" if last else "retrying"
            self._record(endpoint, item.event, delivery, outcome, attempt, status, error)
            if outcome == "gave_up":
                log.warning(
                    "webhook %s: gave up on %s of broadcast %s after %d attempts (%s)",
                    endpoint.label, item.event.kind.value, item.event.broadcast.id, attempt, error,
                )  # fmt: skip

        try:
            async with trio.open_nursery() as nursery:
                for endpoint in wanted:
                    nursery.start_soon(one, endpoint)
            now = self._clock()
            owed = any(endpoint.label not in sent for endpoint in wanted)
            next_at = now + self._settings.backoff.delay(attempt - 1, self._rng) if owed and not last else None
            try:
                self.store.settle_event(item.seq, attempts=attempt, sent_to=sent, now=now, next_at=next_at)
            except StoreUnreachable:
                # its claim's lease frees it: the endpoints already sent to are sent to
                # again (each delivery carries its id, for the receiver to deduplicate)
                log.warning("lifecycle event %d: the store was unreachable to settle it; it goes again", item.seq)
        finally:
            self._in_flight.discard(item.seq)
            self._wake.set()

    def _record(
        self,
        endpoint: WebhookEndpoint,
        event: LifecycleEvent,
        delivery: str,
        outcome: str,
        attempt: int,
        status_code: int | None,
        error: str | None,
    ) -> None:
        entry = DeliveryRecord(
            delivery_id=delivery, endpoint=endpoint.label, event=event.kind.value, broadcast_id=event.broadcast.id,
            outcome=outcome, attempt=attempt, status_code=status_code, error=error, at=self._clock(),
        )  # fmt: skip
        try:
            self.delivery_log.record(entry)
        except Exception:
            log.exception("could not write the webhook delivery log")
