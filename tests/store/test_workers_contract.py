"""Many workers on one store: the registry, leases, and claims no other live worker overwrites."""

from __future__ import annotations

from typing import Callable

from broadcaster.core.models import Broadcast, Contact, DispatchRow
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.store import SQLStore

ALREADY = ErrorReason("telegram", "claim", "already_claimed")


def test_record_never_overwrites_another_live_workers_claim(new_store: Callable[[], SQLStore]) -> None:
    a = new_store()
    b = SQLStore(a.engine, worker_id="worker-b")
    a.upsert_contacts([Contact("c1", "Ann"), Contact("c2", "Bo")])
    a.create_broadcast(Broadcast("b1"))
    a.heartbeat(100.0, lease=30.0)
    b.heartbeat(100.0, lease=30.0)
    assert a.claim("b1", [("c1", "tg"), ("c2", "tg")], 100.0) == ["c1", "c2"]
    assert b.claim("b1", [("c1", "tg")], 100.5) == []  # a holds it
    # b saw "claimed elsewhere" and records FAILED: a's live claim stays a's
    lost_claim = DispatchRow("b1", "c1", Status.PROVIDER_ERROR, error_reason=ALREADY, recorded_at=101.0)
    assert b.record([lost_claim]) == 0
    assert a.get_row("b1", "c1") is None and [c.contact_id for c in a.pending("b1")] == ["c1", "c2"]
    # a records its own reply
    assert a.record([DispatchRow("b1", "c1", Status.ACCEPTED, integration="tg", recorded_at=102.0)]) == 1
    assert a.get_row("b1", "c1").status is Status.ACCEPTED  # type: ignore[union-attr]
    # a dies: its lease ends, b marks it lost, and only then resolves a's claim (outcome unknown)
    assert b.mark_lost_workers(120.0) == []  # lease runs to 130
    lost = b.mark_lost_workers(131.0)
    assert [(w.id, w.taken_over, w.lost_at) for w in lost] == [(a.worker_id, ("b1",), 131.0)]
    assert b.mark_lost_workers(132.0) == []  # once
    unknown = DispatchRow("b1", "c2", Status.OUTCOME_UNKNOWN, recorded_at=131.0)
    assert b.record([unknown]) == 1
    assert a.count_rows("b1")[Outcome.FAILED] == 1 and a.get_broadcast("b1").counters.failed == 1
    workers = {w.id: w for w in a.list_workers()}
    assert workers[a.worker_id].live is False and workers["worker-b"].live is True
    # a heartbeat from a worker thought lost brings it back (a paused, not dead, process)
    a.heartbeat(133.0, lease=30.0)
    assert all(w.live for w in a.list_workers())
    b.retire_worker()
    assert [w.id for w in a.list_workers()] == [a.worker_id]


def test_unregistered_claims_are_resolvable_as_before(store: SQLStore) -> None:
    """A claim by a store that never registered as a worker (scripts, tests) is not protected."""
    other = SQLStore(store.engine, worker_id="script")
    store.create_broadcast(Broadcast("b1"))
    store.claim("b1", [("c1", "tg")], 1.0)
    assert other.record([DispatchRow("b1", "c1", Status.OUTCOME_UNKNOWN, recorded_at=2.0)]) == 1
