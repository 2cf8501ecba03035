"""The quota and the one-pending-retry rule hold under concurrent requests: each request has
its own store (its own connection, as a separate process would), on both engines."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable

import attrs

from broadcaster.core.errors import BroadcasterError
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Chat, Contact, DispatchRow, Flow, TextCard
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.service import BroadcastService
from broadcaster.store import SQLStore, open_store

FAIL = {"error_reason": ErrorReason("telegram", "5xx", "server_error"), "error_kind": ErrorKind.TRANSIENT}


def seeded(url: str) -> SQLStore:
    store = open_store(url)
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
    store.upsert_contacts([Contact(f"c{i}", f"N{i}", chats=(Chat("tg", str(i)),)) for i in range(4)])
    return store


def race(url: str, n: int, call: Callable[[BroadcastService], str]) -> list[str]:
    """Run ``call`` in ``n`` threads at once, each with its own store; the error codes (or "OK")."""
    stores = [open_store(url) for _ in range(n)]
    start = threading.Barrier(n)

    def one(store: SQLStore) -> str:
        service = BroadcastService(store=store, quota=25)
        start.wait()
        try:
            return call(service)
        except BroadcasterError as exc:
            return exc.code

    try:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return sorted(pool.map(one, stores))
    finally:
        for store in stores:
            store.close()


def test_six_parallel_creates_at_23_of_25_make_exactly_two(shared_url: str) -> None:
    url = shared_url
    store = seeded(url)
    service = BroadcastService(store=store, quota=25)
    for _ in range(23):
        service.create(flow_id="f1", audience_filter="", draft=True)
    results = race(url, 6, lambda s: s.create(flow_id="f1", audience_filter="").id and "OK")
    assert results == ["OK"] * 2 + ["QUOTA_EXCEEDED"] * 4
    assert store.count_quota() == 25
    assert len(store.list_broadcasts(state=State.SCHEDULED)) == 2
    store.close()


def test_parallel_retries_of_one_source_make_exactly_one(shared_url: str) -> None:
    url = shared_url
    store = seeded(url)
    service = BroadcastService(store=store, quota=25)
    source = service.create(flow_id="f1", audience_filter="")
    sending = store.update_broadcast(attrs.evolve(source, state=State.SENDING), expected_state=State.SCHEDULED)
    store.record([DispatchRow(source.id, f"c{i}", Status.PROVIDER_ERROR, integration="tg", **FAIL) for i in range(3)])
    done = attrs.evolve(store.get_broadcast(source.id), state=State.COMPLETED)
    store.update_broadcast(done, expected_state=sending.state)

    results = race(url, 6, lambda s: s.retry(source.id).id and "OK")
    assert results == ["CONFLICT"] * 5 + ["OK"]
    (made,) = store.retries_of(source.id)
    assert made.audience.contact_ids == ("c0", "c1", "c2")
    # an explicit contact list overrides the rule: every one of those is made
    results = race(url, 3, lambda s: s.retry(source.id, contact_ids=["c3"]).id and "OK")
    assert results == ["OK"] * 3
    assert len(store.retries_of(source.id)) == 4
    store.close()
