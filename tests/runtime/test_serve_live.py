"""The long-running worker loop and the live-update stream."""

from __future__ import annotations

import attrs
import pytest
import trio

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, DispatchRow, Integration
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.runtime.live import follow
from broadcaster.runtime.serve import run_worker

from .fake_telegram import FakeTelegram
from .test_worker import EPOCH, TOKEN, make_runtime, schedule, setup_store


async def test_run_worker_once_fires_due_broadcasts_and_leaves_future_ones(autojump_clock):
    store = setup_store(40)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    schedule(store, "b1")
    schedule(store, "b2", audience=Audience(contact_ids=("c000001", "c000002")))
    store.create_broadcast(
        Broadcast(id="later", flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH + 3600)
    )
    with trio.fail_after(600):
        done = await run_worker(runtime, once=True)
    assert sorted(b.id for b in done) == ["b1", "b2"]
    assert all(b.state is State.COMPLETED for b in done)
    assert store.get_broadcast("later").state is State.SCHEDULED
    assert sum(fake.accepted.values()) == 42


async def test_run_worker_waits_for_a_scheduled_broadcast(autojump_clock):
    store = setup_store(5)
    runtime, _ = make_runtime(store, FakeTelegram())
    store.create_broadcast(
        Broadcast(id="soon", flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH + 120)
    )
    with trio.move_on_after(300):
        await run_worker(runtime, idle_poll=1.0)
    b = store.get_broadcast("soon")
    assert b.state is State.COMPLETED
    assert EPOCH + 120 <= b.counters.started_at <= EPOCH + 122


async def test_run_worker_resumes_a_broadcast_left_sending(autojump_clock):
    store = setup_store(30)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    schedule(store, "b1")
    from broadcaster.runtime.scheduler import fire_due

    fire_due(runtime)
    # a previous worker recorded ten rows, then died
    store.record([DispatchRow("b1", f"c{i:06d}", Status.DELIVERED, recorded_at=EPOCH) for i in range(10)])
    with trio.fail_after(600):
        (done,) = await run_worker(runtime, once=True)
    assert (done.state, done.counters.delivered) == (State.COMPLETED, 30)
    assert len(fake.accepted) == 20  # only the ten already recorded were not sent again


async def test_run_worker_purges_rows_older_than_30_days(autojump_clock):
    store = setup_store(3)
    runtime, _ = make_runtime(store, FakeTelegram())
    old = Broadcast(id="old", flow_id="f1", audience=Audience(filter=""), state=State.SENDING)
    store.create_broadcast(old)
    store.record([DispatchRow("old", "c000001", Status.DELIVERED, recorded_at=EPOCH - 31 * 86_400)])
    b = store.get_broadcast("old")
    store.update_broadcast(attrs.evolve(b, state=State.COMPLETED), expected_state=State.SENDING)
    with trio.fail_after(60):
        await run_worker(runtime, once=True)
    assert store.count_rows("old")[Outcome.DELIVERED] == 0
    assert store.get_broadcast("old").counters.delivered == 1  # counters never expire


async def test_follow_streams_new_rows_and_counters_until_the_end(autojump_clock):
    store = setup_store(300)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake, rates={"tg": 100.0})
    schedule(store, "b1")
    updates = []

    async def watch():
        async for update in follow(store, "b1", poll=0.5):
            updates.append(update)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await run_worker(runtime, once=True)
    seen = [row.contact_id for update in updates for row in update.rows]
    assert sorted(seen) == [f"c{i:06d}" for i in range(300)]  # every row exactly once
    assert len(updates) >= 5  # it came in as the run went, not at the end
    delivered = [u.broadcast.counters.delivered for u in updates]
    assert delivered == sorted(delivered) and delivered[-1] == 300
    assert updates[-1].broadcast.state is State.COMPLETED


async def test_follow_of_a_finished_broadcast_ends_at_once(autojump_clock):
    store = setup_store(3)
    b = Broadcast(id="done", flow_id="f1", audience=Audience(filter=""), state=State.COMPLETED)
    store.create_broadcast(b)
    updates = [u async for u in follow(store, "done")]
    assert len(updates) == 1 and updates[0].rows == ()


async def test_broadcasts_due_together_run_together_within_one_shared_rate(autojump_clock):
    store = setup_store(200)
    # the provider takes 20 messages/s with a burst of 30; so does our bucket for "tg"
    fake = FakeTelegram(rate=20.0, burst=30)
    runtime, _ = make_runtime(store, fake, rates={"tg": 20.0})
    schedule(store, "b1", audience=Audience(filter="vip = true"))
    schedule(store, "b2", audience=Audience(filter="vip = false"))
    with trio.fail_after(600):
        done = {b.id: b for b in await run_worker(runtime, once=True)}
    b1, b2 = done["b1"], done["b2"]
    assert (b1.state, b2.state) == (State.COMPLETED, State.COMPLETED)
    assert b1.counters.delivered == b2.counters.delivered == 100
    # both started at once and were sending at the same time ...
    assert b1.counters.started_at == b2.counters.started_at == EPOCH
    assert abs(b1.counters.finished_at - b2.counters.finished_at) < 2.0
    # ... through one bucket: together at the provider's rate. (A bucket per broadcast was
    # refused 29 times here; at exactly the provider's rate a stray refusal from clock
    # rounding can still happen.)
    assert fake.throttled <= 2
    assert max(b1.counters.finished_at, b2.counters.finished_at) - EPOCH >= (200 - 30) / 20.0
    assert sum(fake.accepted.values()) == 200


async def test_max_concurrent_one_runs_broadcasts_one_after_the_other(autojump_clock):
    store = setup_store(40)
    runtime, _ = make_runtime(store, FakeTelegram(), rates={"tg": 10.0})
    schedule(store, "b1", audience=Audience(filter="vip = true"))
    schedule(store, "b2", audience=Audience(filter="vip = false"))
    with trio.fail_after(600):
        done = await run_worker(runtime, once=True, max_concurrent=1)
    assert [b.id for b in done] == ["b1", "b2"]
    # b2 was fired (startedAt) only when b1 had finished: it never waited in SENDING
    assert done[1].counters.started_at >= done[0].counters.finished_at


async def test_a_broadcast_on_another_channel_is_not_held_up(autojump_clock):
    store = setup_store(60)
    store.put_integration(Integration("tg2", "telegram", {"token": TOKEN}))
    store.upsert_contacts([Contact(f"x{i}", chats=(Chat("tg2", f"x{i}"),)) for i in range(5)])
    runtime, _ = make_runtime(store, FakeTelegram(), rates={"tg": 2.0, "tg2": 1000.0})
    schedule(store, "slow", audience=Audience(filter="id < 'x'"))
    schedule(store, "quick", audience=Audience(contact_ids=tuple(f"x{i}" for i in range(5))))
    with trio.fail_after(600):
        done = await run_worker(runtime, once=True)
    assert [b.id for b in done] == ["quick", "slow"]
    quick, slow = done
    assert quick.counters.delivered == 5 and quick.counters.finished_at - EPOCH < 1.0
    assert slow.counters.delivered == 60 and slow.counters.finished_at - EPOCH > 10.0


async def test_max_concurrent_below_one_is_refused():
    store = setup_store(1)
    runtime, _ = make_runtime(store, FakeTelegram())
    with pytest.raises(ValueError, match="max_concurrent must be at least 1, not 0"):
        await run_worker(runtime, once=True, max_concurrent=0)


async def test_an_overdue_broadcast_is_reported_once_and_not_fired_until_moved(autojump_clock):
    store = setup_store(10)
    fake = FakeTelegram()
    runtime, events = make_runtime(store, fake)
    # the worker was down: one broadcast is 2 days late, one only an hour late
    schedule(store, "stale", audience=Audience(contact_ids=("c000001",)))
    store.update_broadcast(
        attrs.evolve(store.get_broadcast("stale"), run_at=EPOCH - 2 * 86_400), expected_state=State.SCHEDULED
    )
    schedule(store, "late", audience=Audience(contact_ids=("c000002",)))
    store.update_broadcast(
        attrs.evolve(store.get_broadcast("late"), run_at=EPOCH - 3600), expected_state=State.SCHEDULED
    )
    with trio.fail_after(600):
        # each worker reports it once, however many times it looks (the first loops until
        # "late" is done); a worker started later reports it again
        done = await run_worker(runtime, once=True)
        done += await run_worker(runtime, once=True)
    assert [b.id for b in done] == ["late"]
    assert store.get_broadcast("stale").state is State.SCHEDULED
    overdue = [e for e in events if e.kind.value == "overdue"]
    assert [e.broadcast.id for e in overdue] == ["stale", "stale"]
    assert overdue[0].at - overdue[0].broadcast.run_at == pytest.approx(2 * 86_400, abs=1)
    assert fake.accepted == {"2": 1}

    # the operator sends it anyway: its run-at moves to now, and it fires
    store.update_broadcast(
        attrs.evolve(store.get_broadcast("stale"), run_at=runtime.clock.now()), expected_state=State.SCHEDULED
    )
    with trio.fail_after(600):
        (sent,) = await run_worker(runtime, once=True)
    assert sent.id == "stale" and sent.state is State.COMPLETED and fake.accepted["1"] == 1


async def test_max_lateness_is_the_runtimes(autojump_clock):
    store = setup_store(3)
    runtime, _ = make_runtime(store, FakeTelegram(), max_lateness=60.0)
    schedule(store, "b1")
    store.update_broadcast(attrs.evolve(store.get_broadcast("b1"), run_at=EPOCH - 61), expected_state=State.SCHEDULED)
    with trio.fail_after(60):
        assert await run_worker(runtime, once=True) == []
