"""Several workers deliver one outbox at the same time (threads, each with its own store
connection and trio run), on both engines: the hook sees each event exactly once and each
endpoint gets each event once."""

from __future__ import annotations

import collections
import threading
import time

import httpx
import trio

from broadcaster import hookimpl
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Broadcast, LifecycleEvent
from broadcaster.plugins import make_plugin_manager
from broadcaster.runtime.outbox_delivery import OutboxDelivery
from broadcaster.runtime.webhooks import WebhookEndpoint
from broadcaster.store import open_store

EVENTS = 60
WORKERS = 3


class Recorder:
    def __init__(self, seen: list[tuple[str, str, str]], worker: str) -> None:
        self.seen, self.worker = seen, worker

    @hookimpl
    def on_lifecycle_event(self, event: LifecycleEvent) -> None:
        self.seen.append((self.worker, event.kind.value, event.broadcast.id))


def test_each_event_is_hooked_and_posted_once_across_concurrent_workers(shared_url: str) -> None:
    store = open_store(shared_url)
    now = time.time()
    for n in range(EVENTS):
        b = Broadcast(id=f"b{n:02d}", state=State.SCHEDULED, run_at=now, created_at=now)
        store.create_broadcast(b, event=LifecycleEventKind.SCHEDULED, event_at=now)
    store.close()

    hooked: list[tuple[str, str, str]] = []
    posted: list[str] = []
    start = threading.Barrier(WORKERS)

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.headers["x-broadcaster-delivery"])
        return httpx.Response(200)

    def worker(name: str) -> None:
        own = open_store(shared_url, worker_id=name)
        outbox = OutboxDelivery(
            own, endpoints=[WebhookEndpoint(url="https://h.example/", secret="s", name="h")],
            plugin_manager=make_plugin_manager(autoload=False, plugins=[Recorder(hooked, name)]),
            transport=httpx.MockTransport(handler), poll=0.02, batch=4,
        )  # fmt: skip

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(outbox.run)
                outbox.close(drain=True)

        start.wait()
        try:
            trio.run(main)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)

    per_event = collections.Counter((kind, bid) for _, kind, bid in hooked)
    assert len(per_event) == EVENTS and set(per_event.values()) == {1}
    assert len(posted) == EVENTS == len(set(posted))
    with open_store(shared_url) as check:
        assert all(item.done_at is not None and item.sent_to == ("h",) for item in check.events())
