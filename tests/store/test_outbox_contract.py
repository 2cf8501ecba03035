"""The lifecycle events outbox on both engines: an event is written with its change and only
with it; claims are atomic leases; a lost worker's claims are freed; delivered events age out."""

from __future__ import annotations

import attrs
import pytest

from broadcaster.core.errors import QuotaExceeded
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact
from broadcaster.store import ConcurrentUpdate, SQLStore, open_store

SCHEDULED, STARTED = LifecycleEventKind.SCHEDULED, LifecycleEventKind.STARTED


def scheduled(store: SQLStore, broadcast_id: str, at: float = 100.0) -> Broadcast:
    b = Broadcast(id=broadcast_id, state=State.SCHEDULED, run_at=at, audience=Audience(filter=""), created_at=at)
    return store.create_broadcast(b, event=SCHEDULED, event_at=at)


def kinds(store: SQLStore) -> list[tuple[str, str, float]]:
    return [(e.event.kind.value, e.event.broadcast.id, e.event.at) for e in store.events()]


def test_an_event_is_written_with_its_change_and_only_with_it(store: SQLStore) -> None:
    store.upsert_contacts([Contact(f"c{i}", f"N{i}", chats=(Chat("tg", str(i)),)) for i in range(3)])
    b = scheduled(store, "b1")
    with pytest.raises(QuotaExceeded):
        scheduled_quota = Broadcast(id="b2", state=State.SCHEDULED, audience=Audience(filter=""))
        store.create_broadcast(scheduled_quota, quota=1, event=SCHEDULED, event_at=101.0)
    with pytest.raises(ConcurrentUpdate):
        store.update_broadcast(b, expected_state=State.DRAFT, event=STARTED, event_at=102.0)
    assert kinds(store) == [("scheduled", "b1", 100.0)]
    # firing: SENDING, the audience snapshot and the event in one transaction
    sending = attrs.evolve(b, state=State.SENDING, counters=attrs.evolve(b.counters, started_at=103.0))
    fired = store.update_broadcast(
        sending, expected_state=State.SCHEDULED, snapshot=True, event=STARTED, event_at=103.0
    )
    assert fired.counters.audience_size_actual == 3
    (_, started) = store.events()
    assert (started.event.kind, started.event.broadcast, started.event.at) == (STARTED, fired, 103.0)
    assert (started.attempts, started.hooked, started.sent_to, started.done_at) == (0, False, (), None)
    assert store.events(broadcast_id="nope") == [] and store.events(after=started.seq) == []


def test_claims_are_leases_one_holder_at_a_time(shared_url: str) -> None:
    a, b = open_store(shared_url, worker_id="a"), open_store(shared_url, worker_id="b")
    try:
        for n in range(3):
            scheduled(a, f"b{n}", at=100.0 + n)
        assert a.next_event_at() == 100.0
        assert [e.event.broadcast.id for e in a.claim_events(101.0, lease=60, limit=2)] == ["b0", "b1"]
        assert [e.event.broadcast.id for e in b.claim_events(101.0, lease=60, limit=5)] == []  # b2 is not due yet
        assert a.claim_events(101.0, lease=60, limit=5) == []  # never what it already holds
        assert a.next_event_at() == 102.0  # only b2 is unheld
        (b2,) = b.claim_events(110.0, lease=60, limit=5)
        assert b2.event.broadcast.id == "b2"
        first = a.events()[0]
        assert a.mark_hooked(first.seq, 111.0) and not b.mark_hooked(first.seq, 111.0)
        # a round failed: due again at 115, given back
        assert a.settle_event(first.seq, attempts=1, sent_to=["ops"], now=112.0, next_at=115.0)
        assert b.claim_events(114.0, lease=60, limit=5) == []
        again = b.claim_events(115.0, lease=60, limit=5)
        assert [(e.seq, e.attempts, e.hooked, e.sent_to) for e in again] == [(first.seq, 1, True, ("ops",))]
        # a's lease on b1 ends at 161: then b may take it, and a's late settle is refused
        assert [e.event.broadcast.id for e in b.claim_events(162.0, lease=60, limit=5)] == ["b1"]
        b1 = a.events()[1]
        assert not a.settle_event(b1.seq, attempts=1, sent_to=[], now=163.0, next_at=None)
        assert b.settle_event(first.seq, attempts=2, sent_to=["ops", "crm"], now=164.0, next_at=None)
        done = b.events()[0]
        assert (done.done_at, done.sent_to, done.attempts) == (164.0, ("crm", "ops"), 2)
        assert b.claim_events(1e9, lease=60, limit=5) == []  # b1 and b2 are b's own claims: never taken again
    finally:
        a.close()
        b.close()


def test_a_lost_workers_claims_are_freed_at_once(shared_url: str) -> None:
    a, b = open_store(shared_url, worker_id="a"), open_store(shared_url, worker_id="b")
    try:
        scheduled(a, "b1")
        a.heartbeat(100.0, lease=30)
        assert len(a.claim_events(100.0, lease=600, limit=5)) == 1
        assert b.claim_events(200.0, lease=600, limit=5) == []  # a's outbox lease runs to 700
        assert [w.id for w in b.mark_lost_workers(200.0)] == ["a"]  # but a stopped heartbeating at 130
        assert len(b.claim_events(200.0, lease=600, limit=5)) == 1
    finally:
        a.close()
        b.close()


def test_delivered_events_age_out_with_the_rows(store: SQLStore) -> None:
    scheduled(store, "b1", at=100.0)
    scheduled(store, "b2", at=100.0)
    one, two = store.claim_events(100.0, lease=60, limit=5)
    store.settle_event(one.seq, attempts=1, sent_to=[], now=150.0, next_at=None)
    store.purge_rows(200.0)
    assert [e.seq for e in store.events()] == [two.seq]  # undelivered events stay, however old
