"""Shared provider limits in the store, on both engines: one renewal reads the share rows and
the limit row, writes what the core decided, atomically; rows of workers that left go."""

from __future__ import annotations

from typing import Callable

import pytest

from broadcaster.core.rateshare import CLOCK_SKEW, LimitRow, RateSync, SharePlan, ShareRow, plan_share
from broadcaster.store import SQLStore


def _renew(store: SQLStore, integration: str, now: float, *, wants: bool = True, publish: LimitRow | None = None):
    seen: list[tuple[list[ShareRow], LimitRow | None]] = []

    def decide(rows: list[ShareRow], limit: LimitRow | None) -> RateSync:
        seen.append((rows, limit))
        plan = plan_share(rows, me=store.worker_id, now=now, lease=2.0, wants=wants)
        return RateSync(plan=plan, publish=publish, adopt=None)

    sync = store.sync_rate_share(integration, decide)
    return sync, seen[0]


def test_a_renewal_reads_the_rows_and_writes_its_own(new_store: Callable[[], SQLStore]) -> None:
    a = new_store()
    b = SQLStore(a.engine, worker_id="worker-b")
    sync, (rows, limit) = _renew(a, "tg", 10.0)
    assert (rows, limit) == ([], None)
    assert sync.plan.row == ShareRow(a.worker_id, 10.0, 12.0)
    _, (rows, _) = _renew(b, "tg", 10.5)
    assert rows == [ShareRow(a.worker_id, 10.0, 12.0)]
    assert a.rate_shares("tg") == sorted(
        [ShareRow(a.worker_id, 10.0, 12.0), ShareRow("worker-b", 10.5 + 2.0 + CLOCK_SKEW, 12.5)],
        key=lambda r: r.worker_id,
    )
    assert a.rate_shares("wa") == []  # per integration
    # a renews: its start kept, its lease moved on
    _renew(a, "tg", 11.0)
    assert ShareRow(a.worker_id, 10.0, 13.0) in a.rate_shares("tg")
    # a has nothing to send any more: its row goes
    _renew(a, "tg", 12.0, wants=False)
    assert [r.worker_id for r in a.rate_shares("tg")] == ["worker-b"]


def test_a_published_limit_row_is_read_by_the_next_renewal(store: SQLStore) -> None:
    other = SQLStore(store.engine, worker_id="worker-b")
    row = LimitRow(0.29, 11.0, 10.1, store.worker_id)
    _renew(store, "tg", 10.1, publish=row)
    assert store.rate_limit("tg") == row and store.rate_limit("wa") is None
    _, (_, limit) = _renew(other, "tg", 10.2)
    assert limit == row
    newer = LimitRow(0.5, 12.0, 10.3, "worker-b")
    _renew(other, "tg", 10.3, publish=newer)
    assert store.rate_limit("tg") == newer


def test_rows_of_a_retired_or_lost_worker_go_with_it(new_store: Callable[[], SQLStore]) -> None:
    a = new_store()
    b = SQLStore(a.engine, worker_id="worker-b")
    a.heartbeat(100.0, lease=30.0)
    b.heartbeat(100.0, lease=30.0)
    _renew(a, "tg", 100.0)
    _renew(b, "tg", 100.0)
    _renew(b, "wa", 100.0)
    b.retire_worker()
    assert [r.worker_id for r in a.rate_shares("tg")] == [a.worker_id] and a.rate_shares("wa") == []
    c = SQLStore(a.engine, worker_id="worker-c")
    c.heartbeat(200.0, lease=30.0)
    assert [w.id for w in c.mark_lost_workers(200.0)] == [a.worker_id]
    assert c.rate_shares("tg") == []


def test_a_decision_for_another_worker_is_refused_and_writes_nothing(store: SQLStore) -> None:
    def decide(rows: list[ShareRow], limit: LimitRow | None) -> RateSync:
        return RateSync(
            plan=SharePlan(
                ShareRow("someone-else", 1.0, 3.0), plan_share([], me="x", now=1.0, lease=2.0, wants=True).grant
            ),
            publish=LimitRow(0.5, 0.0, 1.0, "x"),
            adopt=None,
        )

    with pytest.raises(ValueError, match="a share row of 'someone-else' cannot be written by"):
        store.sync_rate_share("tg", decide)
    assert store.rate_shares("tg") == [] and store.rate_limit("tg") is None


def test_renewals_from_two_threads_never_both_start_at_once(new_store: Callable[[], SQLStore]) -> None:
    """Two newcomers renewing at the same instant: the lock makes one see the other."""
    import threading

    a = new_store()
    b = SQLStore(a.engine, worker_id="worker-b")
    barrier = threading.Barrier(2)
    plans: dict[str, SharePlan] = {}

    def go(store: SQLStore) -> None:
        barrier.wait()
        sync, _ = _renew(store, "tg", 50.0)
        plans[store.worker_id] = sync.plan

    threads = [threading.Thread(target=go, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts = sorted(p.row.starts_at for p in plans.values() if p.row is not None)
    assert starts == [50.0, 50.0 + 2.0 + CLOCK_SKEW]
