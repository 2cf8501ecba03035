"""Live updates of a running broadcast: new rows and counter changes, as an async stream.

It polls the store (rows carry a monotonic record sequence), so it works from any
process — the CLI's ``history --follow`` watches a worker running elsewhere.
"""

from __future__ import annotations

from typing import AsyncIterator, Awaitable, Callable

import attrs
import trio

from ..core.lifecycle import TERMINAL_STATES
from ..core.models import Broadcast, DispatchRow
from ..store.base import Store

__all__ = ["LiveUpdate", "follow"]


@attrs.frozen
class LiveUpdate:
    """Rows recorded since the previous update (oldest first) and the broadcast now."""

    rows: tuple[DispatchRow, ...]
    broadcast: Broadcast


async def follow(
    store: Store,
    broadcast_id: str,
    *,
    poll: float = 0.5,
    page: int = 500,
    from_start: bool = False,
    sleep: Callable[[float], Awaitable[None]] = trio.sleep,
) -> AsyncIterator[LiveUpdate]:
    """Yield updates while the broadcast runs; end once it is terminal and drained.

    Starts after the rows already recorded unless ``from_start``. An update is yielded
    when rows arrived or the counters or state changed. ``sleep`` lets an asyncio caller
    (the GraphQL server) use it too.
    """
    cursor = None if from_start else _seq_of_latest(store, broadcast_id)
    last: Broadcast | None = None
    while True:
        broadcast = store.get_broadcast(broadcast_id)
        rows: list[DispatchRow] = []
        while True:
            got = store.rows_after(broadcast_id, cursor, limit=page)
            rows += got.rows
            cursor = got.next_cursor
            if len(got.rows) < page:
                break
        if rows or last is None or broadcast != last:
            yield LiveUpdate(tuple(rows), broadcast)
            last = broadcast
        if broadcast.state in TERMINAL_STATES and not rows:
            return
        await sleep(poll)


def _seq_of_latest(store: Store, broadcast_id: str) -> int | None:
    """The record sequence of the newest row (rows_after's cursor), found by paging forward."""
    cursor: int | None = None
    while True:
        got = store.rows_after(broadcast_id, cursor, limit=5000)
        if not got.rows:
            return cursor
        cursor = got.next_cursor
