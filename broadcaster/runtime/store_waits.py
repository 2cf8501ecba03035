"""A worker waits out a store that stops answering (PostgreSQL restarted, failed over, cut
off): it neither crashes nor sends blind.

While the store is unreachable nothing new is sent — every send needs its claim written
first — and replies that arrive are held until they can be recorded; the worker retries
(0.5 s, doubling to 2 s) and carries on where it stopped once the server is back. An outage
longer than the worker's lease lets another worker take its units over; the claims protect
every contact from a second send whichever worker gets there first, and a reply recorded
late never overwrites the row the taker wrote.

Every call retried here must be safe to repeat, since a write that met a lost connection
may or may not have been made: reads; ``record`` (a final row stays); ``release``; unit
completion. A claim is released before it is tried again (nothing was sent for it).

The log says when the outage began (once), reminds every minute, and says when it ended.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Callable, TypeVar

import attrs
import trio

from ..core.errors import StoreUnreachable

__all__ = ["FIRST_RETRY", "LONGEST_RETRY", "REMIND_EVERY", "StoreOutage", "in_store", "patiently"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the first wait before a call is tried again, doubling up to the longest (seconds)
FIRST_RETRY = 0.5
LONGEST_RETRY = 2.0
#: how often a continuing outage is logged again (seconds)
REMIND_EVERY = 60.0


@attrs.define
class StoreOutage:
    """Whether the worker's store is reachable, for the log: one worker, one outage at a
    time, whichever of its tasks met it first."""

    #: trio time the outage was first met, None while the store answers
    since: float | None = None
    reminded_at: float = 0.0
    #: outages met since the worker started
    count: int = 0

    def failed(self, exc: StoreUnreachable) -> None:
        now = trio.current_time()
        if self.since is None:
            self.since = self.reminded_at = now
            self.count += 1
            log.warning("%s; waiting for it: nothing is sent meanwhile (a second Ctrl-C stops at once)", exc.message)
        elif now - self.reminded_at >= REMIND_EVERY:
            self.reminded_at = now
            log.warning("the store is still unreachable after %.0f s: %s", now - self.since, exc.message)

    def answered(self) -> None:
        if self.since is not None:
            log.warning("the store answers again after %.1f s; carrying on", trio.current_time() - self.since)
            self.since = None


async def in_store(call: Callable[..., T], *args: Any, thread: bool) -> T:
    """Make one store call, in a thread when ``thread`` (a store that waits on a server:
    while a statement waits, the event loop goes on)."""
    if thread:
        return await trio.to_thread.run_sync(partial(call, *args))
    return call(*args)


async def patiently(
    outage: StoreOutage,
    call: Callable[..., T],
    *args: Any,
    thread: bool,
    before_retry: Callable[[], object] | None = None,
    args_on_retry: Callable[[], tuple[Any, ...]] | None = None,
) -> T:
    """``call(*args)``, tried again while the store is unreachable until it answers.

    ``before_retry`` runs (in the same thread, just before) each later attempt: what
    undoes a first attempt that may have been made, so that the call can be repeated.
    ``args_on_retry`` gives a later attempt its arguments afresh (the time now, for a
    lease that must start when the claim is made, not when the outage began)."""
    wait = FIRST_RETRY
    attempt: Callable[..., T] = call
    while True:
        try:
            result = await in_store(attempt, *args, thread=thread)
        except StoreUnreachable as exc:
            outage.failed(exc)
            await trio.sleep(wait)
            wait = min(wait * 2, LONGEST_RETRY)
            if before_retry is not None:
                attempt = partial(_after, before_retry, call)
            if args_on_retry is not None:
                args = args_on_retry()
            continue
        outage.answered()
        return result


def _after(first: Callable[[], object], call: Callable[..., T], *args: Any) -> T:
    first()
    return call(*args)
