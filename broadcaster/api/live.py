"""The ``broadcastUpdates`` subscription: :func:`broadcaster.runtime.live.follow` on asyncio.

It polls the store, so a row recorded by a worker in another process reaches the
subscriber within one poll (0.25 s) of its commit.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from ..runtime.live import follow
from .resolvers import Info, service_of
from .views import broadcast_view, row_view

__all__ = ["POLL_SECONDS", "subscribe_broadcast_updates"]

POLL_SECONDS = 0.25


def subscribe_broadcast_updates(_: None, info: Info, broadcastId: str) -> AsyncIterator[dict[str, Any]]:
    service = service_of(info)
    service.store.get_broadcast(broadcastId)  # NOT_FOUND now, before the stream starts
    poll = info.context.get("poll", POLL_SECONDS)

    async def updates() -> AsyncIterator[dict[str, Any]]:
        async for update in follow(service.store, broadcastId, poll=poll, sleep=asyncio.sleep):
            yield {
                "rows": [row_view(row) for row in reversed(update.rows)],
                "broadcast": broadcast_view(service, update.broadcast),
            }

    return updates()
