"""The long-running worker: fire due broadcasts, run them, resume interrupted ones, purge.

Broadcasts run one at a time per worker: each has its own token buckets per integration,
so running two at once through one integration would together exceed the provider's
rate. (A shared, database-held bucket is what several workers on PostgreSQL will need;
see docs/store.md.)
"""

from __future__ import annotations

import logging

import trio

from ..core.lifecycle import State
from ..core.models import Broadcast
from ..core.retry import ROW_TTL_SECONDS
from .context import Runtime
from .scheduler import fire_due
from .worker import run_broadcast

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


async def run_worker(
    runtime: Runtime, *, once: bool = False, idle_poll: float = 1.0, purge_every: float = 3600.0
) -> list[Broadcast]:
    """Work until cancelled (or, with ``once``, until nothing is due or sending).

    Returns the broadcasts it finished, in order. A broadcast left SENDING by a crashed
    worker is resumed first.
    """
    finished: list[Broadcast] = []
    next_purge = runtime.clock.now()
    while True:
        now = runtime.clock.now()
        if now >= next_purge:
            purged = runtime.store.purge_rows(now - ROW_TTL_SECONDS)
            if purged:
                log.info("purged %d dispatch rows older than 30 days", purged)
            next_purge = now + purge_every
        sending = runtime.store.list_broadcasts(state=State.SENDING)
        if not sending:
            fire_due(runtime)
            sending = runtime.store.list_broadcasts(state=State.SENDING)
        if sending:
            # Oldest first: a resumed run goes before newer ones.
            for broadcast in sorted(sending, key=lambda b: (b.counters.started_at or 0.0, b.id)):
                finished.append(await run_broadcast(runtime, broadcast.id))
            continue
        if once:
            return finished
        await trio.sleep(idle_poll)
