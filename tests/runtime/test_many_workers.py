"""Several workers on one PostgreSQL store: broadcasts shared, fired once, taken over after a lease."""

from __future__ import annotations

import trio

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Chat, Contact, Flow, Integration, TextCard
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.runtime.serve import run_worker
from broadcaster.store import open_store
from tests.conftest import pg_reset

from .fake_telegram import FakeTelegram
from .test_worker import EPOCH, TOKEN, make_runtime, schedule


def _pg_store(url: str, worker_id: str):
    store = open_store(url, worker_id=worker_id)
    return store


def _fill(store, n: int) -> None:
    store.put_integration(Integration("tg", "telegram", {"token": TOKEN}))
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hello")))
    store.upsert_contacts([Contact(f"c{i:06d}", f"Person {i}", chats=(Chat("tg", str(i)),)) for i in range(n)])


async def test_two_workers_share_the_broadcasts_and_fire_each_once(pg_url, autojump_clock):
    pg_reset(pg_url)
    a, b = _pg_store(pg_url, "worker-a"), _pg_store(pg_url, "worker-b")
    try:
        _fill(a, 30)
        for bid in ("b1", "b2", "b3", "b4"):
            schedule(a, bid)
        fake = FakeTelegram()
        runtime_a, events_a = make_runtime(a, fake)
        runtime_b, events_b = make_runtime(b, fake)
        finished: dict[str, list[str]] = {}

        async def work(name, runtime):
            done = await run_worker(runtime, once=True, max_concurrent=2)
            finished[name] = [x.id for x in done]

        with trio.fail_after(600):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(work, "a", runtime_a)
                nursery.start_soon(work, "b", runtime_b)
        # every broadcast finished by exactly one worker, each fired once
        assert sorted(finished["a"] + finished["b"]) == ["b1", "b2", "b3", "b4"]
        started = [e.broadcast.id for e in events_a + events_b if e.kind.value == "started"]
        assert sorted(started) == ["b1", "b2", "b3", "b4"]
        for bid in ("b1", "b2", "b3", "b4"):
            got = a.get_broadcast(bid)
            assert (got.state, got.counters.delivered) == (State.COMPLETED, 30)
            assert a.count_rows(bid)[Outcome.DELIVERED] == 30
        assert sum(fake.accepted.values()) == 120  # 4 broadcasts x 30, nobody messaged twice
        assert a.list_workers() == []  # both exited cleanly
    finally:
        a.close()
        b.close()


async def test_a_lost_workers_broadcast_is_taken_over_and_its_unrecorded_send_never_resent(pg_url, autojump_clock):
    pg_reset(pg_url)
    dead, alive = _pg_store(pg_url, "worker-dead"), _pg_store(pg_url, "worker-alive")
    try:
        _fill(dead, 10)
        schedule(dead, "b1")
        fake = FakeTelegram()
        runtime_dead, _ = make_runtime(dead, fake)
        from broadcaster.runtime.scheduler import fire

        fire(runtime_dead, dead.get_broadcast("b1"))
        # the dead worker: heartbeated, took b1, claimed one contact, then stopped (SIGKILL)
        dead.heartbeat(EPOCH - 100, lease=30.0, broadcasts=["b1"])
        assert dead.take_broadcast("b1", EPOCH - 100, lease=30.0)
        assert dead.claim("b1", [("c000003", "tg", "3")], EPOCH - 100) == ["c000003"]
        runtime_alive, _ = make_runtime(alive, fake)
        with trio.fail_after(600):
            (done,) = await run_worker(runtime_alive, once=True)
        assert (done.id, done.state, done.counters.delivered, done.counters.failed) == ("b1", State.COMPLETED, 9, 1)
        row = alive.get_row("b1", "c000003")
        assert row is not None and row.status is Status.OUTCOME_UNKNOWN
        assert "3" not in fake.accepted  # never resent
        (lost,) = [w for w in alive.list_workers() if w.id == "worker-dead"]
        assert lost.live is False and lost.taken_over == ("b1",)
    finally:
        dead.close()
        alive.close()


async def test_a_broadcast_finished_elsewhere_between_listing_and_lease_is_passed_over(pg_url, autojump_clock):
    # Worker b lists b1 as SENDING; before b leases it, worker a finishes it and lets its lease go.
    # b must pass it over — not stop with "b1 is COMPLETED, not SENDING" (seen with three real workers).
    pg_reset(pg_url)
    a, b = _pg_store(pg_url, "worker-a"), _pg_store(pg_url, "worker-b")
    try:
        _fill(a, 5)
        schedule(a, "b1")
        fake = FakeTelegram()
        runtime_a, _ = make_runtime(a, fake)
        from broadcaster.runtime.scheduler import fire

        fire(runtime_a, a.get_broadcast("b1"))
        stale = b.list_broadcasts(state=State.SENDING)
        assert [x.id for x in stale] == ["b1"]
        with trio.fail_after(600):
            (done,) = await run_worker(runtime_a, once=True)
        assert (done.id, done.state) == ("b1", State.COMPLETED)
        listing = b.list_broadcasts
        b.list_broadcasts = lambda *, state=None, limit=None: (
            stale if state is State.SENDING else listing(state=state, limit=limit)
        )
        runtime_b, _ = make_runtime(b, fake)
        with trio.fail_after(600):
            assert await run_worker(runtime_b, once=True) == []
        assert sum(fake.accepted.values()) == 5  # nothing sent twice
        assert a.count_rows("b1")[Outcome.DELIVERED] == 5
    finally:
        a.close()
        b.close()
