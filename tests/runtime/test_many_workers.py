"""Several workers on one PostgreSQL store: broadcasts shared, fired once, taken over after a lease."""

from __future__ import annotations

import attrs
import pytest
import trio

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Chat, Contact, Flow, Integration, TextCard
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.runtime.serve import run_worker
from broadcaster.store import open_store
from tests.conftest import pg_reset

from .fake_telegram import FakeTelegram
from .test_worker import EPOCH, TOKEN, schedule
from .test_worker import make_runtime as _make_runtime


def make_runtime(store, fake, **options):
    """A worker's runtime on trio's virtual clock: its store calls inline, not in a thread
    (the autojump clock would jump ahead while a thread works: a lease or a timeout would
    pass in no real time)."""
    return _make_runtime(store, fake, store_threads=False, **options)


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
        assert dead.claim_unit("b1", EPOCH - 100, lease=30.0) is not None
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


async def _until_finished(store, stops, broadcast_id: str = "b1") -> None:
    """Stop every worker once the broadcast has left SENDING; then keep the clock ticking in
    small steps while they exit (a worker waiting on its rate-share thread would otherwise let
    autojump_clock leap to the test's deadline)."""
    while store.get_broadcast(broadcast_id).state in (State.SCHEDULED, State.SENDING):
        await trio.sleep(0.5)
    for stop in stops:
        stop.set()
    while True:
        await trio.sleep(0.01)


async def _run_workers(store, runtimes, *also) -> dict[str, list[str]]:
    """Run the workers (and ``also``) until the broadcast is finished and they have exited;
    returns the broadcasts each worker finished, by worker id."""
    finished: dict[str, list[str]] = {}

    async def work(runtime):
        finished[runtime.store.worker_id] = [x.id for x in await run_worker(runtime)]

    with trio.fail_after(3600):
        async with trio.open_nursery() as outer:
            outer.start_soon(_until_finished, store, [runtime.stop for runtime in runtimes])
            async with trio.open_nursery() as nursery:
                for runtime in runtimes:
                    nursery.start_soon(work, runtime)
                for task in also:
                    nursery.start_soon(task)
            outer.cancel_scope.cancel()
    return finished


def _claimers(store, broadcast_id: str = "b1") -> dict[str, int]:
    rows = store.engine.query(
        "SELECT claimed_by, COUNT(*) FROM dispatch_rows WHERE broadcast_id = ? GROUP BY claimed_by", (broadcast_id,)
    )
    return {by: n for by, n in rows}


async def test_three_workers_share_the_contacts_of_one_broadcast(pg_url, autojump_clock):
    pg_reset(pg_url)
    names = ("worker-a", "worker-b", "worker-c")
    stores = [_pg_store(pg_url, name) for name in names]
    try:
        _fill(stores[0], 2_400)  # 5 units; Telegram's 30/s makes it last ~80 s, past several leases
        schedule(stores[0], "b1")
        fake = FakeTelegram()
        runtimes = [make_runtime(store, fake) for store in stores]
        finished = await _run_workers(stores[0], [runtime for runtime, _ in runtimes])
        store = stores[0]
        done = store.get_broadcast("b1")
        rows = store.count_rows("b1")
        assert (done.state, done.counters.delivered, rows[Outcome.DELIVERED]) == (State.COMPLETED, 2_400, 2_400)
        assert store.engine.query("SELECT COUNT(*) FROM dispatch_rows WHERE broadcast_id = 'b1'") == [(2_400,)]
        assert sorted(fake.accepted.values()) == [1] * 2_400  # each contact messaged exactly once
        assert sum(len(ids) for ids in finished.values()) == 1  # finished once, by one of them
        started = [e for _, events in runtimes for e in events if e.kind.value == "started"]
        completed = [e for _, events in runtimes for e in events if e.kind.value == "finished"]
        assert (len(started), len(completed)) == (1, 1)
        shares = _claimers(store)
        assert set(shares) == set(names) and sum(shares.values()) == 2_400  # every worker sent some
        assert all(done_at is not None for *_, done_at in store.units("b1"))
    finally:
        for store in stores:
            store.close()


async def test_two_contacts_sharing_a_chat_on_two_workers_are_messaged_once(pg_url, autojump_clock):
    pg_reset(pg_url)
    a, b = _pg_store(pg_url, "worker-a"), _pg_store(pg_url, "worker-b")
    try:
        _fill(a, 1_000)
        # c000100 (unit 0) and c000900 (unit 1) share chat 100
        a.upsert_contacts([Contact("c000900", "Person 900", chats=(Chat("tg", "100"),))])
        schedule(a, "b1")
        fake = FakeTelegram()
        runtime_a, _ = make_runtime(a, fake)
        runtime_b, _ = make_runtime(b, fake)
        await _run_workers(a, [runtime_a, runtime_b])
        assert fake.accepted["100"] == 1 and "900" not in fake.accepted
        assert sum(fake.accepted.values()) == 999
        statuses = {a.get_row("b1", c).status for c in ("c000100", "c000900")}  # type: ignore[union-attr]
        assert Status.DEDUP_HIT in statuses and len(statuses) == 2
        done = a.get_broadcast("b1")
        assert (done.state, done.counters.delivered, done.counters.skipped) == (State.COMPLETED, 999, 1)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("change", ["cancel", "unpublish"])
async def test_cancel_and_unpublish_reach_every_worker_within_a_second(pg_url, autojump_clock, change):
    pg_reset(pg_url)
    names = ("worker-a", "worker-b", "worker-c")
    stores = [_pg_store(pg_url, name) for name in names]
    try:
        _fill(stores[0], 3_000)
        schedule(stores[0], "b1")
        fake = FakeTelegram()
        # store calls inline: the autojump clock jumps ahead while a thread works,
        # so the workers would send on through the second this measures
        runtimes = [make_runtime(store, fake) for store in stores]
        seen: dict[str, int] = {}

        async def change_midway():
            store = stores[1]
            while sum(fake.accepted.values()) < 600 or len(_claimers(store)) < 3:
                await trio.sleep(0.1)
            if change == "cancel":
                current = store.get_broadcast("b1")
                store.update_broadcast(attrs.evolve(current, cancel_requested=True), expected_state=State.SENDING)
            else:
                store.set_flow_published("f1", False)
            seen["at_change"] = sum(fake.accepted.values())
            await trio.sleep(1.1)  # every worker polls the store each second
            seen["a_second_later"] = sum(fake.accepted.values())

        await _run_workers(stores[0], [runtime for runtime, _ in runtimes], change_midway)
        store = stores[0]
        done = store.get_broadcast("b1")
        assert done.state is (State.CANCELLED if change == "cancel" else State.COMPLETED)
        total = sum(fake.accepted.values())
        # within a second every worker stopped sending: at most a second of the shared 30/s after the change
        assert seen["a_second_later"] == total and total - seen["at_change"] <= 35
        drained = Status.CANCELLED if change == "cancel" else Status.FLOW_UNPUBLISHED
        assert store.count_status("b1", drained) == 3_000 - total  # every other contact has its row
        assert store.engine.query("SELECT COUNT(*) FROM dispatch_rows WHERE broadcast_id = 'b1'") == [(3_000,)]
    finally:
        for store in stores:
            store.close()


async def test_a_worker_that_loses_the_fire_race_joins_the_broadcast_at_once(pg_url, autojump_clock):
    # both look at the due broadcast together; the loser of the fire race claims a unit of it
    # there and then (a `run --once` would otherwise find nothing joinable yet and exit)
    pg_reset(pg_url)
    a, b = _pg_store(pg_url, "worker-a"), _pg_store(pg_url, "worker-b")
    try:
        _fill(a, 2_000)
        schedule(a, "b1")
        fake = FakeTelegram()
        runtimes = [make_runtime(store, fake)[0] for store in (a, b)]
        done: dict[str, list[str]] = {}

        async def work(runtime):
            done[runtime.store.worker_id] = [x.id for x in await run_worker(runtime, once=True)]

        with trio.fail_after(3600):
            async with trio.open_nursery() as nursery:
                for runtime in runtimes:
                    nursery.start_soon(work, runtime)
        assert a.get_broadcast("b1").state is State.COMPLETED
        assert sorted(fake.accepted.values()) == [1] * 2_000
        assert set(_claimers(a)) == {"worker-a", "worker-b"}
        assert sorted(len(ids) for ids in done.values()) == [0, 1]
    finally:
        a.close()
        b.close()
