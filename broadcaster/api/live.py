"""The ``broadcastUpdates`` subscription: one store poller per broadcast, shared by its subscribers.

:func:`broadcaster.runtime.live.follow` polls the store, so a row recorded by a worker in
another process reaches a subscriber within one poll (0.25 s) of its commit. Fifty operators
watching one launch must not mean fifty pollers each reading and converting every row: a
:class:`LiveFeeds` runs one ``follow`` per broadcast in this process, turns each update into its
views once, and hands the same views to every subscriber. A subscriber that falls behind gets
the updates it missed merged into one (rows newest first, the latest counters), so a slow
client costs memory only for the rows it has not taken yet, up to :data:`MAX_PENDING_ROWS`.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import attrs

from ..runtime.live import follow
from ..service import BroadcastService
from .errors import ApiError
from .resolvers import Info, service_of
from .views import broadcast_view, row_view

__all__ = ["MAX_PENDING_ROWS", "POLL_SECONDS", "LiveFeeds", "subscribe_broadcast_updates"]

POLL_SECONDS = 0.25
#: a subscriber this many rows behind is ended with an error rather than left to grow
MAX_PENDING_ROWS = 200_000


@attrs.define(eq=False)
class _Subscriber:
    # updates not taken yet, oldest first; the same objects every subscriber of the feed
    # holds, so that one execution of a document serves all of them (Executor.stream)
    pending: list[dict[str, Any]] = attrs.field(factory=list)
    rows: int = 0
    ended: bool = False
    failed: str | None = None
    ready: asyncio.Event = attrs.field(factory=asyncio.Event)

    def offer(self, update: dict[str, Any]) -> None:
        self.pending.append(update)
        self.rows += len(update["rows"])
        if self.rows > MAX_PENDING_ROWS:
            self.failed = (
                f"this subscriber fell more than {MAX_PENDING_ROWS} rows behind and was ended"
                " — subscribe again, and page the rows missed with `history`"
            )
        self.ready.set()

    def end(self) -> None:
        self.ended = True
        self.ready.set()

    def take(self) -> dict[str, Any] | None:
        pending, self.pending, self.rows = self.pending, [], 0
        if len(pending) <= 1:
            return pending[0] if pending else None
        # fell behind: what it missed as one update, rows newest first, the latest broadcast
        return {"rows": [row for update in reversed(pending) for row in update["rows"]],
                "broadcast": pending[-1]["broadcast"]}  # fmt: skip


@attrs.define(eq=False)
class _Feed:
    subscribers: set[_Subscriber] = attrs.field(factory=set)
    task: asyncio.Task[None] | None = None


class LiveFeeds:
    """The shared pollers of one API process, one per broadcast with a subscriber."""

    def __init__(self, service: BroadcastService, *, poll: float = POLL_SECONDS) -> None:
        self.service = service
        self.poll = poll
        self._feeds: dict[str, _Feed] = {}

    def polling(self) -> list[str]:
        """Broadcasts with a running poller (for tests and diagnostics)."""
        return sorted(self._feeds)

    async def updates(self, broadcast_id: str) -> AsyncIterator[dict[str, Any]]:
        """The subscription's stream: the broadcast now, then each batch of new rows and
        counter or state change; ends once the broadcast is terminal and drained."""
        me = _Subscriber()
        feed = self._feeds.get(broadcast_id)
        if feed is None:
            feed = self._feeds[broadcast_id] = _Feed()
            feed.task = asyncio.get_running_loop().create_task(self._run(broadcast_id, feed))
        else:
            # a joiner starts from the broadcast as it is; rows come with the next poll
            now = self.service.store.get_broadcast(broadcast_id)
            me.offer({"rows": [], "broadcast": broadcast_view(self.service, now)})
        feed.subscribers.add(me)
        try:
            while True:
                await me.ready.wait()
                me.ready.clear()
                if me.failed is not None:
                    raise ApiError(me.failed, code="CONFLICT")
                update = me.take()
                if update is not None:
                    yield update
                if me.ended:
                    return
        finally:
            feed.subscribers.discard(me)
            if not feed.subscribers and self._feeds.get(broadcast_id) is feed:
                del self._feeds[broadcast_id]
                if feed.task is not None:
                    feed.task.cancel()

    async def _run(self, broadcast_id: str, feed: _Feed) -> None:
        try:
            async for update in follow(self.service.store, broadcast_id, poll=self.poll, sleep=asyncio.sleep):
                shared = {
                    "rows": [row_view(row) for row in reversed(update.rows)],
                    "broadcast": broadcast_view(self.service, update.broadcast),
                }
                for subscriber in list(feed.subscribers):
                    subscriber.offer(shared)
        finally:
            if self._feeds.get(broadcast_id) is feed:
                del self._feeds[broadcast_id]
            for subscriber in list(feed.subscribers):
                subscriber.end()


def subscribe_broadcast_updates(_: None, info: Info, broadcastId: str) -> AsyncIterator[dict[str, Any]]:
    service = service_of(info)
    service.store.get_broadcast(broadcastId)  # NOT_FOUND now, before the stream starts
    feeds: LiveFeeds = info.context["feeds"]
    stream = feeds.updates(broadcastId)
    # Executor.stream reads the events from here and executes each shared one once
    info.context["source"] = stream
    return stream
