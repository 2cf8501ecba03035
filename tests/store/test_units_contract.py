"""Leased audience units on both engines: cut at the snapshot, claimed once, renewed, taken over, settled once."""

from __future__ import annotations

import threading
from typing import Callable

import attrs

from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Broadcast, Chat, Contact, Counters, DispatchRow
from broadcaster.core.outcomes import Status
from broadcaster.store import SQLStore, open_store
from broadcaster.store.units_sql import UNIT_SIZE, Unit


def _sending(store: SQLStore, n: int, broadcast_id: str = "b1") -> Broadcast:
    store.upsert_contacts([Contact(f"c{i:05d}", f"P{i}", chats=(Chat("tg", str(i)),)) for i in range(n)])
    store.create_broadcast(Broadcast(broadcast_id))
    fired = attrs.evolve(store.get_broadcast(broadcast_id), state=State.SENDING, counters=Counters(started_at=1.0))
    return store.update_broadcast(fired, expected_state=State.DRAFT, snapshot=True)


def _finished(store: SQLStore, broadcast_id: str, at: float) -> Broadcast:
    current = store.get_broadcast(broadcast_id)
    return attrs.evolve(current, state=State.COMPLETED, counters=attrs.evolve(current.counters, finished_at=at))


def _rows(broadcast_id: str, contact_ids: list[str], at: float) -> list[DispatchRow]:
    return [DispatchRow(broadcast_id, c, Status.ACCEPTED, integration="tg", recorded_at=at) for c in contact_ids]


def test_the_snapshot_is_cut_into_contiguous_units_of_unit_size(store: SQLStore) -> None:
    _sending(store, 2 * UNIT_SIZE + 7)
    units = [u for u, _, _, _ in store.units("b1")]
    assert [(u.no, u.first_id, u.last_id, u.size) for u in units] == [
        (0, "c00000", f"c{UNIT_SIZE - 1:05d}", UNIT_SIZE),
        (1, f"c{UNIT_SIZE:05d}", f"c{2 * UNIT_SIZE - 1:05d}", UNIT_SIZE),
        (2, f"c{2 * UNIT_SIZE:05d}", f"c{2 * UNIT_SIZE + 6:05d}", 7),
    ]
    assert store.snapshot_audience("b1") == 2 * UNIT_SIZE + 7  # a new snapshot cuts them again
    assert len(store.units("b1")) == 3


def test_units_are_claimed_once_each_renewed_by_the_heartbeat_and_taken_over_after_the_lease(
    store: SQLStore,
) -> None:
    other = SQLStore(store.engine, worker_id="worker-b")
    _sending(store, UNIT_SIZE + 1)
    store.heartbeat(100.0, lease=30.0)
    other.heartbeat(100.0, lease=30.0)
    first = store.claim_unit("b1", 100.0, lease=30.0)
    second = other.claim_unit("b1", 100.0, lease=30.0)
    assert (first and first.no, second and second.no) == (0, 1)
    assert store.claim_unit("b1", 101.0, lease=30.0) is None  # both leased
    assert store.joinable_broadcasts(101.0) == []
    store.heartbeat(120.0, lease=30.0)  # a's unit now leased to 150, b's still to 130
    assert [(u.no, by, until) for u, by, until, _ in store.units("b1")] == [
        (0, store.worker_id, 150.0),
        (1, "worker-b", 130.0),
    ]
    assert store.joinable_broadcasts(131.0) == ["b1"]  # b's lease passed
    taken = store.claim_unit("b1", 131.0, lease=30.0)
    assert taken == Unit("b1", 1, f"c{UNIT_SIZE:05d}", f"c{UNIT_SIZE:05d}", 1)


def test_a_lost_workers_units_are_freed_and_its_claims_resolved_by_the_taker(store: SQLStore) -> None:
    dead = SQLStore(store.engine, worker_id="worker-dead")
    _sending(store, 3)
    dead.heartbeat(100.0, lease=30.0)
    unit = dead.claim_unit("b1", 100.0, lease=30.0)
    assert unit is not None
    assert dead.claim("b1", [("c00000", "tg", "0"), ("c00001", "tg", "1")], 100.0) == ["c00000", "c00001"]
    dead.record(_rows("b1", ["c00000"], 101.0))
    store.heartbeat(100.0, lease=30.0)
    assert store.orphaned_claims(unit) == []  # its claimer lives
    assert store.claim_unit("b1", 110.0, lease=30.0) is None
    (lost,) = store.mark_lost_workers(131.0)
    assert lost.taken_over == ("b1",)
    assert [(u.no, by) for u, by, _, _ in store.units("b1")] == [(0, None)]  # freed in that transaction
    mine = store.claim_unit("b1", 131.0, lease=30.0)
    assert mine == unit
    assert store.orphaned_claims(unit) == [("c00001", "tg", 100.0)]
    assert [c.id for c in store.unit_page(unit, after_id=None, limit=10)] == ["c00002"]


def test_settling_marks_complete_units_done_frees_the_rest_and_finishes_exactly_once(
    new_store: Callable[[], SQLStore],
) -> None:
    a = new_store()
    b = SQLStore(a.engine, worker_id="worker-b")
    _sending(a, UNIT_SIZE + 2)
    ua, ub = a.claim_unit("b1", 1.0, lease=30.0), b.claim_unit("b1", 1.0, lease=30.0)
    assert ua is not None and ub is not None
    a_ids = [c.id for c in a.unit_page(ua, after_id=None, limit=UNIT_SIZE)]
    a.claim("b1", [(c, "tg", c) for c in a_ids], 2.0)
    a.record(_rows("b1", a_ids, 3.0))
    assert a.complete_units("b1", 3.0) == 1
    # b stopped after one of its two contacts: its unit is freed, the broadcast stays SENDING
    b.claim("b1", [(ub.first_id, "tg", ub.first_id)], 2.0)
    b.record(_rows("b1", [ub.first_id], 3.0))
    done, now = b.settle_units(_finished(b, "b1", 4.0), event=LifecycleEventKind.FINISHED, event_at=4.0)
    assert (done, now.state) == (False, State.SENDING)
    assert [(u.no, by, at) for u, by, _, at in a.units("b1")] == [(0, a.worker_id, 3.0), (1, None, None)]
    assert a.joinable_broadcasts(5.0) == ["b1"]
    again = a.claim_unit("b1", 5.0, lease=30.0)
    assert again == ub
    assert [c.id for c in a.unit_page(ub, after_id=None, limit=10)] == [ub.last_id]
    a.claim("b1", [(ub.last_id, "tg", ub.last_id)], 6.0)
    a.record(_rows("b1", [ub.last_id], 6.0))
    done, now = a.settle_units(_finished(a, "b1", 7.0), event=LifecycleEventKind.FINISHED, event_at=7.0)
    assert (done, now.state, now.counters.finished_at) == (True, State.COMPLETED, 7.0)
    done, _ = b.settle_units(_finished(b, "b1", 8.0), event=LifecycleEventKind.FINISHED, event_at=8.0)
    assert done is False  # once
    assert [e.event.kind for e in a.events(broadcast_id="b1")] == [LifecycleEventKind.FINISHED]
    assert a.claim_unit("b1", 9.0, lease=30.0) is None and a.joinable_broadcasts(9.0) == []


def test_an_empty_audience_has_no_units_and_is_joinable_until_finished(store: SQLStore) -> None:
    store.create_broadcast(Broadcast("b1"))
    fired = attrs.evolve(store.get_broadcast("b1"), state=State.SENDING)
    store.update_broadcast(fired, expected_state=State.DRAFT, snapshot=True)
    assert store.units("b1") == [] and store.joinable_broadcasts(1.0) == ["b1"]
    done, now = store.settle_units(_finished(store, "b1", 2.0), event=LifecycleEventKind.FINISHED, event_at=2.0)
    assert (done, now.state) == (True, State.COMPLETED)
    assert store.joinable_broadcasts(3.0) == []


def test_two_contacts_sharing_a_chat_are_claimed_once_whoever_claims_them(store: SQLStore) -> None:
    other = SQLStore(store.engine, worker_id="worker-b")
    store.create_broadcast(Broadcast("b1"))
    assert store.claim("b1", [("c1", "tg", "42")], 1.0) == ["c1"]
    assert other.claim("b1", [("c2", "tg", "42"), ("c3", "tg", "43")], 1.0) == ["c3"]
    assert other.rows_exist("b1", ["c1", "c2", "c3"]) == {"c1", "c3"}  # c2 lost on its chat, not its row


def test_concurrent_claimers_never_get_the_same_unit(shared_url: str) -> None:
    """Four connections claim at once until none is left: every unit exactly once (SKIP LOCKED
    on PostgreSQL, the write lock on SQLite)."""
    setup = open_store(shared_url)
    try:
        _sending(setup, 24 * UNIT_SIZE)
        total = len(setup.units("b1"))
    finally:
        setup.close()
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        store = open_store(shared_url, worker_id=name)
        try:
            barrier.wait()
            mine = got.setdefault(name, [])
            while (unit := store.claim_unit("b1", 10.0, lease=30.0)) is not None:
                mine.append(unit.no)
        finally:
            store.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = sorted(no for nos in got.values() for no in nos)
    assert claimed == list(range(total))
