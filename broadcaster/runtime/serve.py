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
registry, and any of them joins any SENDING broadcast that has an audience unit left to
claim (store/units_sql.py): the contacts of one broadcast are shared, unit by unit, and its
unit leases are renewed with the worker's heartbeat. A worker that dies stops renewing; when
its lease passes another worker marks it lost, which frees its units, and whoever claims one
resolves the sends it left unrecorded as outcome unknown (never resent) and sends the rest.
A due broadcast is fired by one worker only (compare-and-set on its state; a loser skips
it); the firing worker claims its first unit right after, and other workers join within an
``idle_poll``. Whichever worker's units complete a broadcast finishes it, exactly once. Such workers also share each
integration's rate (runtime.rate_sharing): together they stay within it, and a refusal
one of them sees slows them all.

A store that stops answering (PostgreSQL restarted or cut off) is waited out: the loop
fires and joins nothing until it answers, each run waits in its own calls
(runtime.store_waits), and the worker carries on once the server is back.

A graceful stop (``Runtime.stop`` set) fires and resumes nothing more; each running
broadcast records its sends in flight and stays SENDING; then ``run_worker`` returns.
"""

from __future__ import annotations

import logging

import trio

from ..core.errors import StoreUnreachable
from ..core.lifecycle import LifecycleEventKind
from ..core.models import Broadcast, LifecycleEvent
from ..core.retry import ROW_TTL_SECONDS
from ..core.sharedbucket import SharedBucket
from ..store.base import ConcurrentUpdate
from ..store.units_sql import Unit
from .context import HEARTBEAT_EVERY, WORKER_LEASE, Runtime
from .rate_sharing import keep_rate_shares
from .scheduler import due_now, fire
from .worker import run_share

__all__ = ["DEFAULT_MAX_CONCURRENT", "HEARTBEAT_EVERY", "WORKER_LEASE", "run_worker"]

log = logging.getLogger(__name__)

#: broadcasts one worker runs at the same time
DEFAULT_MAX_CONCURRENT = 4


async def run_worker(
    runtime: Runtime,
    *,
    once: bool = False,
    idle_poll: float = 1.0,
    purge_every: float = 3600.0,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> list[Broadcast]:
    """Work until ``runtime.stop`` is set and the running broadcasts have stopped (or,
    with ``once``, until nothing is due and nothing is left for this worker to send: units other
    live workers hold are theirs, so a takeover needs a worker that is not ``once``).

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

    async def run_one(broadcast_id: str, unit: Unit | None) -> None:
        nonlocal changed
        try:
            broadcast, here = await run_share(runtime, broadcast_id, unit)
            if here:  # finished by this worker (not merely stopped, nor done elsewhere)
                finished.append(broadcast)
        finally:
            running.discard(broadcast_id)
            changed.set()

    async def wake_on_stop() -> None:
        await runtime.stop.wait()
        changed.set()

    next_purge = runtime.clock.now()
    runtime.store.start_worker(next_purge, lease=runtime.worker_lease)
    beat_every = runtime.worker_lease / 6
    next_beat = next_purge + beat_every
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
                try:
                    if now >= next_beat:
                        _heartbeat(runtime, running, now)
                        next_beat = now + beat_every
                    if now >= next_purge:
                        purged = runtime.store.purge_rows(now - ROW_TTL_SECONDS)
                        if purged:
                            log.info("purged %d dispatch rows older than 30 days", purged)
                        next_purge = now + purge_every
                    picked, answered = _next_to_run(runtime, running, max_concurrent - len(running), reported)
                except StoreUnreachable as exc:
                    runtime.outage.failed(exc)
                    picked, answered = [], False
                for broadcast_id, unit in picked:
                    running.add(broadcast_id)
                    nursery.start_soon(run_one, broadcast_id, unit)
                if not answered:
                    # nothing is known to be due or done: not even `--once` may end here
                    await trio.sleep(min(idle_poll, 1.0))
                    continue
                runtime.outage.answered()
                if once and not running:
                    nursery.cancel_scope.cancel()
                    return finished
                # A finished run frees a slot: look again at once rather than after idle_poll.
                with trio.move_on_after(idle_poll):
                    await changed.wait()
                changed = trio.Event()
    finally:
        # a clean exit: its units go at once, another worker may take them
        try:
            runtime.store.retire_worker()
        except StoreUnreachable as exc:
            log.warning("could not retire this worker (%s): its units go when its lease ends", exc.message)


def _heartbeat(runtime: Runtime, running: set[str], now: float) -> None:
    """Renew this worker's lease and its units'; mark workers whose lease passed as lost."""
    store = runtime.store
    store.heartbeat(now, lease=runtime.worker_lease, broadcasts=sorted(running))
    for lost in store.mark_lost_workers(now):
        log.warning(
            "worker %s (host %s, pid %d) stopped heartbeating %.0f s ago; its broadcasts %s are taken over",
            lost.id, lost.host, lost.pid, now - lost.heartbeat_at, ", ".join(lost.broadcasts) or "(none)",
        )  # fmt: skip


def _next_to_run(
    runtime: Runtime, running: set[str], room: int, reported: set[str]
) -> tuple[list[tuple[str, Unit | None]], bool]:
    """Broadcasts to start now, at most ``room``, each with the unit claimed for it: SENDING
    ones with a unit left to claim (a stopped or lost worker's, or shared with a live one),
    oldest first, then due SCHEDULED ones, fired as they are taken. Overdue ones are
    reported (once each) instead. Also whether the store answered every call (what was
    claimed before it stopped answering is returned, to be run)."""
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
        return [], True
    picked: list[tuple[str, Unit | None]] = []
    try:
        _pick(runtime, running, ready, room, now, picked)
    except StoreUnreachable as exc:
        runtime.outage.failed(exc)
        return picked, False
    return picked, True


def _pick(
    runtime: Runtime,
    running: set[str],
    ready: list[Broadcast],
    room: int,
    now: float,
    picked: list[tuple[str, Unit | None]],
) -> None:
    """Add to ``picked`` what to start now (see :func:`_next_to_run`), as it is claimed."""
    store = runtime.store
    for broadcast_id in store.joinable_broadcasts(now):
        if len(picked) >= room:
            break
        if broadcast_id in running:
            continue
        unit = store.claim_unit(broadcast_id, now, lease=runtime.worker_lease)
        if unit is None and any(done is None for *_, done in store.units(broadcast_id)):
            continue  # another worker claimed the last free unit since our listing
        # (None: every unit is done but nobody finished the broadcast — the run finishes it)
        picked.append((broadcast_id, unit))
    for broadcast in ready[: room - len(picked)]:
        try:
            fired = fire(runtime, broadcast)
        except ConcurrentUpdate:
            # another worker fired it first: join it now rather than an idle_poll later
            # (and a `run --once` that lost the race has its share instead of exiting)
            unit = store.claim_unit(broadcast.id, now, lease=runtime.worker_lease)
            if unit is not None and broadcast.id not in running:
                picked.append((broadcast.id, unit))
            continue
        # its first unit at once: this worker starts sending before any joiner arrives
        picked.append((fired.id, store.claim_unit(fired.id, now, lease=runtime.worker_lease)))
