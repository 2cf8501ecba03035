"""The worker end to end: SQLite store, the real Telegram plugin, a fake Telegram over MockTransport."""

from __future__ import annotations

import random
from collections import Counter

import attrs
import broadcaster_telegram
import pytest
import trio

from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, DispatchRow, Flow, Integration, Mode, TextCard
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.context import Runtime, WallClock
from broadcaster.runtime.http import HttpExecutor
from broadcaster.runtime.scheduler import fire_due
from broadcaster.runtime.worker import run_broadcast
from broadcaster.store.sqlite import open_store

from .fake_telegram import FakeTelegram

EPOCH = 1_800_000_000.0
TOKEN = "123:SECRET"


def setup_store(n: int, *, blocked_every: int = 0):
    store = open_store(":memory:")
    store.put_integration(Integration("tg", "telegram", {"token": TOKEN}))
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hello")))
    store.upsert_contacts(
        [Contact(f"c{i:06d}", f"Person {i}", fields={"vip": i % 2 == 0}, chats=(Chat("tg", str(i)),)) for i in range(n)]
    )
    return store


def make_runtime(store, fake: FakeTelegram, **options) -> tuple[Runtime, list]:
    events: list = []
    pm = make_plugin_manager(autoload=False, plugins=[broadcaster_telegram])
    runtime = Runtime(
        store=store,
        registry=ProviderRegistry.from_plugin_manager(pm),
        executor=HttpExecutor(transport=fake.transport()),
        clock=WallClock(epoch=EPOCH),
        rng=random.Random(1),
        on_event=events.append,
        **options,
    )
    return runtime, events


def schedule(store, broadcast_id="b1", audience=Audience(filter=""), **fields):
    broadcast = Broadcast(
        id=broadcast_id, mode=Mode.FLOW, flow_id="f1", audience=audience, state=State.SCHEDULED, run_at=EPOCH, **fields
    )
    store.create_broadcast(broadcast)
    return broadcast


async def fire_and_run(runtime: Runtime) -> list[Broadcast]:
    done = []
    for fired in fire_due(runtime):
        done.append(await run_broadcast(runtime, fired.id))
    return done


async def test_a_broadcast_runs_to_completion_with_one_row_each(autojump_clock):
    store = setup_store(300)
    fake = FakeTelegram(blocked={"7", "8"})
    runtime, events = make_runtime(store, fake)
    schedule(store, audience=Audience(filter="vip = true"))
    with trio.fail_after(600):
        (done,) = await fire_and_run(runtime)
    assert done.state is State.COMPLETED
    counters = done.counters
    assert (counters.audience_size_actual, counters.delivered, counters.failed, counters.skipped) == (150, 149, 1, 0)
    assert counters.started_at == EPOCH and counters.finished_at > counters.started_at
    assert store.count_rows("b1") == {Outcome.DELIVERED: 149, Outcome.FAILED: 1, Outcome.SKIPPED: 0}
    assert sum(fake.accepted.values()) == 149 and max(fake.accepted.values()) == 1
    failed = store.history("b1", outcome=Outcome.FAILED).rows
    assert [(r.contact_id, str(r.error_reason), r.status) for r in failed] == [
        ("c000008", "telegram:403:blocked_by_user", Status.PROVIDER_ERROR)
    ]
    assert [e.kind for e in events] == [LifecycleEventKind.STARTED, LifecycleEventKind.FINISHED]


async def test_ten_thousand_contacts_through_a_rate_capped_provider(autojump_clock):
    store = setup_store(10_000)
    fake = FakeTelegram(rate=500, burst=30)
    runtime, _ = make_runtime(store, fake, rates={"tg": 480.0})
    schedule(store)
    with trio.fail_after(3600):
        (done,) = await fire_and_run(runtime)
    counts = store.count_rows("b1")
    assert counts == {Outcome.DELIVERED: 10_000, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert (done.counters.delivered, done.counters.failed, done.counters.skipped) == (10_000, 0, 0)
    assert len(fake.accepted) == 10_000 and set(fake.accepted.values()) == {1}
    # paced at the provider's rate: about 20 s of virtual time, with few refusals
    duration = done.counters.finished_at - done.counters.started_at
    assert 19 <= duration <= 25
    assert fake.throttled <= 100


async def test_rate_limit_storm_is_absorbed_without_failed_rows(autojump_clock):
    store = setup_store(400)
    fake = FakeTelegram(rate=50, burst=5)
    runtime, _ = make_runtime(store, fake)  # the runtime believes 30/s... the spec's default
    runtime.rates = {"tg": 200.0}  # ...and here is told far too much: 429s will come
    schedule(store)
    with trio.fail_after(3600):
        (done,) = await fire_and_run(runtime)
    assert fake.throttled > 0
    assert store.count_rows("b1")[Outcome.DELIVERED] == 400
    assert set(fake.accepted.values()) == {1}


async def test_cancel_from_outside_stops_new_sends_and_skips_the_rest(autojump_clock):
    store = setup_store(2000)
    fake = FakeTelegram()
    runtime, events = make_runtime(store, fake, rates={"tg": 100.0}, poll_interval=0.5)
    schedule(store)
    (fired,) = fire_due(runtime)

    async def cancel_later():
        await trio.sleep(3)
        current = store.get_broadcast("b1")
        store.update_broadcast(attrs.evolve(current, cancel_requested=True), expected_state=State.SENDING)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_later)
            done = await run_broadcast(runtime, fired.id)
    assert done.state is State.CANCELLED
    counts = store.count_rows("b1")
    assert counts[Outcome.DELIVERED] == sum(fake.accepted.values())
    assert 200 <= counts[Outcome.DELIVERED] <= 450  # ~3.5 s at 100/s (plus the bucket's burst)
    assert counts[Outcome.SKIPPED] == 2000 - counts[Outcome.DELIVERED]
    assert done.counters.skipped == counts[Outcome.SKIPPED]
    assert events[-1].kind is LifecycleEventKind.CANCELLED


async def test_flow_unpublished_mid_run(autojump_clock):
    store = setup_store(1000)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake, rates={"tg": 100.0}, poll_interval=0.5)
    schedule(store)
    (fired,) = fire_due(runtime)

    async def unpublish_later():
        await trio.sleep(2)
        store.set_flow_published("f1", False)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(unpublish_later)
            done = await run_broadcast(runtime, fired.id)
    assert done.state is State.COMPLETED
    rows = Counter(r.status for r in store.history("b1", limit=1000).rows)
    assert rows[Status.FLOW_UNPUBLISHED] == 1000 - rows[Status.DELIVERED]
    assert rows[Status.DELIVERED] > 100


async def test_revoked_token_fails_as_auth_failed(autojump_clock):
    store = setup_store(50)
    fake = FakeTelegram()
    fake.revoked = True
    runtime, _ = make_runtime(store, fake)
    schedule(store)
    with trio.fail_after(600):
        (done,) = await fire_and_run(runtime)
    assert done.counters.failed == 50
    reasons = {str(r.error_reason) for r in store.history("b1", limit=100).rows}
    assert reasons == {"tg:auth_failed"}
    assert fake.requests < 50  # the integration is known broken after the first refusals


async def test_a_restarted_worker_resolves_orphaned_claims_and_resumes(autojump_clock):
    store = setup_store(120)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    schedule(store)
    (fired,) = fire_due(runtime)
    # A previous worker claimed three contacts and died before recording their replies.
    store.claim("b1", [("c000001", "tg"), ("c000002", "tg"), ("c000003", "tg")], EPOCH)
    with trio.fail_after(600):
        done = await run_broadcast(runtime, fired.id)
    assert done.counters.delivered == 117 and done.counters.failed == 3
    orphan = store.history("b1", outcome=Outcome.FAILED).rows
    assert {(r.contact_id, r.status, str(r.error_reason)) for r in orphan} == {
        (f"c00000{i}", Status.OUTCOME_UNKNOWN, "telegram:restart:outcome_unknown") for i in (1, 2, 3)
    }
    assert all(chat not in fake.accepted for chat in ("1", "2", "3"))


async def test_running_a_broadcast_that_is_not_sending_is_refused(autojump_clock):
    store = setup_store(1)
    runtime, _ = make_runtime(store, FakeTelegram())
    schedule(store)
    with pytest.raises(Exception, match="is SCHEDULED, not SENDING"):
        await run_broadcast(runtime, "b1")


async def test_two_records_sharing_a_chat_pages_apart_get_one_message(autojump_clock):
    store = setup_store(30)
    # c000029 is a duplicate record of c000001's person: same Telegram chat, far apart in id order
    store.upsert_contacts([Contact("c000029", "Person 1 (dup)", chats=(Chat("tg", "1"),))])
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake, pacing=PacingPlan(page_size=10, batch_size=5))
    schedule(store)
    with trio.fail_after(600):
        (done,) = await fire_and_run(runtime)
    assert fake.accepted["1"] == 1
    assert store.get_row("b1", "c000029").status is Status.DEDUP_HIT
    assert (done.counters.delivered, done.counters.skipped) == (29, 1)


async def test_dedup_survives_a_restart(autojump_clock):
    store = setup_store(12)
    store.upsert_contacts([Contact("c000011", "dup of 3", chats=(Chat("tg", "3"),))])
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    schedule(store)
    (fired,) = fire_due(runtime)
    # the previous worker sent to c000003 (chat 3) and recorded it, then died
    store.claim("b1", [("c000003", "tg", "3")], EPOCH)
    store.record([DispatchRow("b1", "c000003", Status.DELIVERED, integration="tg", recorded_at=EPOCH)])
    with trio.fail_after(600):
        await run_broadcast(runtime, fired.id)
    assert store.get_row("b1", "c000011").status is Status.DEDUP_HIT
    assert "3" not in fake.accepted


async def _run_while_another_worker_claims(store, other, held, caplog):
    """Run b1; at the first request, ``other`` claims ``held`` (contacts paced to go later).
    Returns the fake provider."""

    class Interloper(FakeTelegram):
        def handler(self, request):
            if not self.accepted:
                assert other.claim("b1", [(c, "tg", str(int(c[1:]))) for c in held], EPOCH) == held
            return super().handler(request)

    fake = Interloper()
    runtime, _ = make_runtime(store, fake)
    schedule(store)
    (fired,) = fire_due(runtime)
    with caplog.at_level("WARNING", logger="broadcaster.runtime.worker"), trio.fail_after(600):
        await run_broadcast(runtime, fired.id)
    return fake


async def test_a_claim_refused_by_a_row_let_go_meanwhile_is_made_again_not_called_a_dedup(autojump_clock, caplog):
    # another worker's pending rows refuse five claims, and it lets them go (its own retry
    # undoing a claim) before this worker asks whose they are: no row and an unused chat
    # are no dedup hit; the contacts are claimed again and sent, once each
    from broadcaster.store import SQLStore

    store = setup_store(100)
    other = SQLStore(store.engine, worker_id="worker-b")
    other.heartbeat(EPOCH, lease=3600.0)
    held = [f"c{i:06d}" for i in range(90, 95)]
    asked: list[list[str]] = []
    rows_exist = store.rows_exist

    def rows_exist_after_the_release(broadcast_id, contact_ids):
        asked.append(list(contact_ids))
        other.release(broadcast_id, held)
        return rows_exist(broadcast_id, contact_ids)

    store.rows_exist = rows_exist_after_the_release
    fake = await _run_while_another_worker_claims(store, other, held, caplog)
    assert asked == [held[:1]]  # one claim at a time here: the first refused, then all free
    assert sorted(fake.accepted) == sorted(str(i) for i in range(100))  # each once
    rows = store.history("b1", limit=101).rows
    assert Counter(row.outcome for row in rows) == {Outcome.DELIVERED: 100}
    assert store.get_broadcast("b1").counters.skipped == 0
    assert not [r for r in caplog.records if "already claimed" in r.getMessage()]


async def test_contacts_another_live_worker_claimed_meanwhile_are_not_sent_and_said_in_one_line(autojump_clock, caplog):
    # after a takeover a worker back from a pause still holds a page another worker now
    # sends: the claims it makes fail, and it sends none of them (nor logs each)
    from broadcaster.store import SQLStore

    store = setup_store(100)
    other = SQLStore(store.engine, worker_id="worker-b")
    other.heartbeat(EPOCH, lease=3600.0)
    held = [f"c{i:06d}" for i in range(90, 95)]
    fake = await _run_while_another_worker_claims(store, other, held, caplog)
    assert sorted(fake.accepted) == sorted(str(i) for i in range(100) if i not in range(90, 95))  # none twice
    assert [c.contact_id for c in store.pending("b1")] == held  # the other worker's claims stand
    lines = [r.getMessage() for r in caplog.records if "already claimed" in r.getMessage()]
    assert lines == [
        "contact c000090 of broadcast b1 is already claimed by another worker; not sending it"
        " (any more are counted and reported when this run ends)",
        "broadcast b1: 5 contacts in all were already claimed by another worker; none of them was sent",
    ]
