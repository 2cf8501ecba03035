"""A stopping worker's outbox claims, on both engines, with a second worker already running.

* A graceful stop lets the rounds in flight finish — even after the worker retired, as
  ``run_worker`` does before the delivery ends — and the other worker delivers none of
  those events again (freeing the claims in ``retire_worker`` did: the rounds' settle found
  the claim gone, and the other worker posted the same events a second time).
* A forced stop cancels the rounds; the claims are freed as the delivery ends, so the other
  worker delivers those events at once, not after the stopped worker's 60-s lease.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import trio

from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Broadcast
from broadcaster.runtime.outbox_delivery import OutboxDelivery
from broadcaster.runtime.webhooks import WebhookEndpoint, WebhookSettings
from broadcaster.store import SQLStore, open_store
from tests.conftest import pg_reset

AT = 1_800_000_000.0
HOOK = WebhookEndpoint(url="https://hooks.example/in", secret="whsec-test", name="ops")
LEASE = 60.0


def clock() -> float:
    return AT + trio.current_time()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SQLStore, SQLStore]]:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        pg_reset(url)
    else:
        url = str(tmp_path / "shared.db")
    a, b = open_store(url, worker_id="a"), open_store(url, worker_id="b")
    yield a, b
    a.close()
    b.close()


def schedule(store: SQLStore, n: int) -> None:
    for i in range(n):
        b = Broadcast(id=f"b{i}", state=State.SCHEDULED, run_at=AT)
        store.create_broadcast(b, event=LifecycleEventKind.SCHEDULED, event_at=AT)


def outbox(store: SQLStore, handler, **kw) -> OutboxDelivery:
    return OutboxDelivery(
        store, endpoints=[HOOK], transport=httpx.MockTransport(handler), clock=clock, lease=LEASE, poll=0.5,
        settings=WebhookSettings(attempts=3, timeout=10), **kw,
    )  # fmt: skip


async def test_a_graceful_stop_finishes_its_rounds_and_nothing_is_delivered_twice(two_workers, autojump_clock):
    a, b = two_workers
    schedule(a, 5)
    posted: collections.Counter[str] = collections.Counter()

    async def slow(request: httpx.Request) -> httpx.Response:
        await trio.sleep(3)  # still posting when the worker stops
        posted[request.headers["x-broadcaster-delivery"]] += 1
        return httpx.Response(200)

    def fast(request: httpx.Request) -> httpx.Response:
        posted[request.headers["x-broadcaster-delivery"]] += 1
        return httpx.Response(200)

    first = outbox(a, slow)
    a.start_worker(AT, lease=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        await trio.sleep(1)  # a claimed all five; their rounds are in flight
        assert len(first._in_flight) == 5
        a.retire_worker()  # what run_worker does before the delivery is closed
        other = outbox(b, fast)
        await nursery.start(other.run)  # another worker looks meanwhile: nothing is free to take
        await trio.sleep(1)
        first.close()  # graceful: the rounds in flight finish
        await trio.sleep(5)
        other.close(drain=True)
    assert sorted(posted.values()) == [1] * 5  # every event once
    assert all(e.done_at is not None and e.sent_to == ("ops",) for e in b.events())


async def test_a_forced_stop_hands_its_undelivered_events_to_the_next_worker_at_once(two_workers, autojump_clock):
    a, b = two_workers
    schedule(a, 5)
    posted: collections.Counter[str] = collections.Counter()

    async def hangs(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    def fine(request: httpx.Request) -> httpx.Response:
        posted[request.headers["x-broadcaster-delivery"]] += 1
        return httpx.Response(200)

    first, other = outbox(a, hangs), outbox(b, fine)
    async with trio.open_nursery() as nursery:
        forced = trio.CancelScope()

        async def run_first() -> None:
            with forced:
                await first.run()

        nursery.start_soon(run_first)
        await trio.sleep(1)
        assert len(first._in_flight) == 5  # all five claimed by a, none answered
        await nursery.start(other.run)
        await trio.sleep(1)
        assert not posted  # held by a's claims
        stopped_at = trio.current_time()
        forced.cancel()  # a second Ctrl-C: the rounds are cancelled
        with trio.fail_after(5):  # well inside a's 60-s lease
            while sum(posted.values()) < 5:
                await trio.sleep(0.1)
        handed_over_in = trio.current_time() - stopped_at
        other.close(drain=True)
    assert handed_over_in < 2
    assert sorted(posted.values()) == [1] * 5
    assert all(e.done_at is not None for e in b.events())
