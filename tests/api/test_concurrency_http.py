"""The store's guards under parallel API requests, on both engines, over real HTTP.

Two ``serve`` processes share one store and the requests alternate between them, so the
guards are the store's (one serve alone also runs its mutations one at a time): 6 parallel
``createBroadcast`` at 23 of 25 scheduled → exactly 2 made and 4 ``QUOTA_EXCEEDED``; 2
parallel ``retryFailedContacts`` of one source → exactly one, the other ``CONFLICT`` naming it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from broadcaster.core.outcomes import Status

from .conftest import Server, finish, open_server, pg_database, start_server, stop

CREATE = """
mutation C($input: CreateBroadcastInput!) { createBroadcast(input: $input) { id state } }"""
RETRY = """
mutation R($id: ID!) { retryFailedContacts(broadcastId: $id) { id retryOfBroadcastId } }"""
QUOTA = {"BROADCASTER_QUOTA": "25"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    def both(db: Path | str) -> Iterator[list[Server]]:
        for first in open_server(db, QUOTA):
            process, url = start_server(db, QUOTA)
            try:
                yield [first, Server(url, db, first.tokens, process)]
            finally:
                stop(process)

    if request.param == "sqlite":
        yield from both(tmp_path_factory.mktemp("race") / "broadcaster.db")
        return
    with pg_database() as url:
        yield from both(url)


def race(servers: list[Server], bodies: list[dict]) -> list[dict]:
    """POST each body at once (a barrier lines the threads up), alternating between servers."""
    barrier = threading.Barrier(len(bodies))

    def send(i: int) -> dict:
        server = servers[i % len(servers)]
        with httpx.Client(timeout=30) as client:
            headers = {"Authorization": f"Bearer {server.tokens['write']}"}
            client.post(server.url, json={"query": "{ viewer { name } }"}, headers=headers)  # connected, warm
            barrier.wait()
            return client.post(server.url, json=bodies[i], headers=headers).json()

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, range(len(bodies))))


def test_six_parallel_creates_at_23_of_25_make_exactly_two(servers):
    service = servers[0].service()
    try:
        made = [
            service.create(name=f"s{i}", flow_id="f1", contact_ids=["c1"], run_at=2_000_000_000.0) for i in range(23)
        ]
    finally:
        service.store.close()
    body = {
        "query": CREATE,
        "variables": {"input": {"flowId": "f1", "contactIds": ["c1"], "runAt": "2033-05-18T03:33:20Z"}},
    }
    answers = race(servers, [body] * 6)
    ok = [a["data"]["createBroadcast"] for a in answers if "errors" not in a]
    refused = [a["errors"][0] for a in answers if "errors" in a]
    assert len(ok) == 2 and all(b["state"] == "SCHEDULED" for b in ok)
    assert [e["extensions"]["code"] for e in refused] == ["QUOTA_EXCEEDED"] * 4
    assert {e["message"] for e in refused} == {
        "the combined scheduled quota is full (25 of 25 DRAFT or SCHEDULED broadcasts)"
        " — cancel a draft to free a slot first"
    }
    service = servers[0].service()
    try:
        assert service.store.count_quota() == 25
        for b in [*made, *ok]:  # free the quota for the next test
            service.cancel(b.id if hasattr(b, "id") else b["id"])
    finally:
        service.store.close()


def test_two_parallel_retries_of_one_source_make_exactly_one(servers):
    service = servers[0].service()
    try:
        source = service.create(name="Race", flow_id="f1", audience_filter='city = "Rome"')
    finally:
        service.store.close()
    finish(servers[0].db, source.id, {"c0": Status.PROVIDER_ERROR, "c2": Status.DELIVERED})
    answers = race(servers, [{"query": RETRY, "variables": {"id": source.id}}] * 2)
    (ok,) = [a["data"]["retryFailedContacts"] for a in answers if "errors" not in a]
    (error,) = [a["errors"][0] for a in answers if "errors" in a]
    assert ok["retryOfBroadcastId"] == source.id
    assert error["extensions"] == {"code": "CONFLICT", "retryId": ok["id"]}
    assert error["message"].startswith(f"broadcast {source.id} already has retry {ok['id']}, which has not finished")
    service = servers[0].service()
    try:
        assert [b.id for b in service.store.retries_of(source.id)] == [ok["id"]]
    finally:
        service.store.close()
