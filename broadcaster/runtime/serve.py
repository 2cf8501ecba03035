"""The long-running worker: fire due broadcasts, run them, resume interrupted ones, purge.

Several broadcasts run at once (up to ``max_concurrent``), each in its own task with its
own dispatcher. They share one token bucket per integration (``Runtime.buckets``), so two
broadcasts through one integration together stay within its rate, while a broadcast on
another channel is not held up by them. A broadcast is fired only when there is room to
run it, so its ``startedAt`` is when it really starts sending. A broadcast whose run-at
passed longer ago than ``Runtime.max_lateness`` is not fired at all: it is reported once
(an ``overdue`` lifecycle event, to the display, plugins and webhooks) and waits for an
operator.

Many workers may share one store (PostgreSQL): each heartbeats into the store's worker
registry and runs a SENDING broadcast only while it holds that broadcast's lease
(``take_broadcast``, renewed with every heartbeat). A worker that dies stops renewing; when
its lease passes another worker marks it lost and takes its broadcasts over, resolving the
sends it left unrecorded as outcome unknown (never resent). A due broadcast is fired by one
worker only (compare-and-set on its state; a loser skips it). Such workers also share each
integration's rate (runtime.rate_sharing): together they stay within it, and a refusal
one of them sees slows them all.

A graceful stop (``Runtime.stop`` set) fires and resumes nothing more; each running
broadcast records its sends in flight and stays SENDING; then ``run_worker`` returns.
"""

from __future__ import annotations

import logging

import trio

from ..core.lifecycle import LifecycleEventKind, State
from ..core.models import Broadcast, LifecycleEvent
from ..core.retry import ROW_TTL_SECONDS
from ..core.sharedbucket import SharedBucket
from ..store.base import ConcurrentUpdate
from .context import Runtime
from .rate_sharing import keep_rate_shares
from .scheduler import due_now, fire
from .worker import run_broadcast

__all__ = ["DEFAULT_MAX_CONCURRENT", "run_worker"]

log = logging.getLogger(__name__)

#: broadcasts one worker runs at the same time
DEFAULT_MAX_CONCURRENT = 4
#: a worker's lease (and its broadcasts'): it heartbeats every HEARTBEAT_EVERY seconds, so a
#: lease spans several missed beats (a slow disk, a pause) before another worker takes over
WORKER_LEASE = 30.0
HEARTBEAT_EVERY = 5.0


async def run_worker(
    runtime: Runtime,
    *,
    once: bool = False,
    idle_poll: float = 1.0,
    purge_every: float = 3600.0,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> list[Broadcast]:
    """Work until ``runtime.stop`` is set and the running broadcasts have stopped (or,
    with ``once``, until nothing is due or sending).

    Returns the broadcasts it finished (COMPLETED or CANCELLED), in the order they finished. Broadcasts left
    SENDING by a stopped worker are resumed before anything new is fired, oldest first;
    then due broadcasts are fired, earliest run-at first, as slots free up.
    """
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1, not {max_concurrent}")
    finished: list[Broadcast] = []
    running: set[str] = set()
    reported: set[str] = set()
    changed = trio.Event()

    async def run_one(broadcast_id: str) -> None:
        nonlocal changed
        try:
            broadcast = await run_broadcast(runtime, broadcast_id)
            if broadcast.state is not State.SENDING:  # not merely stopped
                finished.append(broadcast)
        finally:
            running.discard(broadcast_id)
            runtime.store.release_broadcast(broadcast_id)
            changed.set()

    async def wake_on_stop() -> None:
        await runtime.stop.wait()
        changed.set()

    next_purge = runtime.clock.now()
    runtime.store.start_worker(next_purge, lease=WORKER_LEASE)
    next_beat = next_purge + HEARTBEAT_EVERY
    sharing = runtime.shares_rates
    if sharing:
        runtime.bucket_type = SharedBucket
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wake_on_stop)
            if sharing:
                nursery.start_soon(keep_rate_shares, runtime)
            while True:
                if runtime.stop.is_set():
                    # Nothing new: wait for the running broadcasts to record their sends in flight.
                    if not running:
                        nursery.cancel_scope.cancel()
                        return finished
                    await changed.wait()
                    changed = trio.Event()
                    continue
                now = runtime.clock.now()
                if now >= next_beat:
                    _heartbeat(runtime, running, now)
                    next_beat = now + HEARTBEAT_EVERY
                if now >= next_purge:
                    purged = runtime.store.purge_rows(now - ROW_TTL_SECONDS)
                    if purged:
                        log.info("purged %d dispatch rows older than 30 days", purged)
                    next_purge = now + purge_every
                for broadcast_id in _next_to_run(runtime, running, max_concurrent - len(running), reported):
                    running.add(broadcast_id)
                    nursery.start_soon(run_one, broadcast_id)
                if once and not running:
                    nursery.cancel_scope.cancel()
                    return finished
                # A finished run frees a slot: look again at once rather than after idle_poll.
                with trio.move_on_after(idle_poll):
                    await changed.wait()
                changed = trio.Event()
    finally:
        # a clean exit: its broadcasts' leases go at once, another worker may take them
        runtime.store.retire_worker()


def _heartbeat(runtime: Runtime, running: set[str], now: float) -> None:
    """Renew this worker's lease and its broadcasts'; mark workers whose lease passed as lost."""
    store = runtime.store
    store.heartbeat(now, lease=WORKER_LEASE, broadcasts=sorted(running))
    store.renew_broadcasts(now, lease=WORKER_LEASE)
    for lost in store.mark_lost_workers(now):
        log.warning(
            "worker %s (host %s, pid %d) stopped heartbeating %.0f s ago; its broadcasts %s are taken over",
            lost.id, lost.host, lost.pid, now - lost.heartbeat_at, ", ".join(lost.broadcasts) or "(none)",
        )  # fmt: skip


def _next_to_run(runtime: Runtime, running: set[str], room: int, reported: set[str]) -> list[str]:
    """Broadcasts to start now, at most ``room``: SENDING ones nobody runs (a stopped
    worker's), oldest first, then due SCHEDULED ones, fired as they are taken. Overdue
    ones are reported (once each) instead."""
    ready, overdue = due_now(runtime)
    now = runtime.clock.now()
    for broadcast in overdue:
        if broadcast.id not in reported:
            reported.add(broadcast.id)
            log.warning(
                "broadcast %s is overdue: its run-at passed %.0f s ago, more than the %.0f s allowed; not firing it",
                broadcast.id,
                now - (broadcast.run_at or now),
                runtime.max_lateness,
            )
            runtime.store.add_event(LifecycleEventKind.OVERDUE, broadcast.id, now)
            runtime.on_event(LifecycleEvent(LifecycleEventKind.OVERDUE, broadcast, now))
    if room <= 0:
        return []
    store = runtime.store
    waiting = [b for b in store.list_broadcasts(state=State.SENDING) if b.id not in running]
    picked: list[str] = []
    for b in sorted(waiting, key=lambda b: (b.counters.started_at or 0.0, b.id)):
        if len(picked) < room and store.take_broadcast(b.id, now, lease=WORKER_LEASE):
            if store.get_broadcast(b.id).state is not State.SENDING:
                # finished by the worker that held it between our listing and our lease
                store.release_broadcast(b.id)
                continue
            picked.append(b.id)  # nobody runs it: a stopped or lost worker's, or new
    for broadcast in ready[: room - len(picked)]:
        try:
            fired = fire(runtime, broadcast)
        except ConcurrentUpdate:
            continue  # another worker fired it first: it runs there
        if store.take_broadcast(fired.id, now, lease=WORKER_LEASE):
            picked.append(fired.id)
    return picked
