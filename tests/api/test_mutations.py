"""Mutations over real HTTP: the product flow, and every refusal's code and CLI line."""

from __future__ import annotations

import concurrent.futures

import pytest
from gql.transport.exceptions import TransportQueryError

from broadcaster.core.outcomes import Status

from .conftest import finish

CREATE = """
mutation C($input: CreateBroadcastInput!) {
  createBroadcast(input: $input) { id state runAt audienceSizeEstimate audience { filter contactIds } }
}"""
RETRY = """
mutation R($id: ID!, $runAt: String, $ids: [ID!]) {
  retryFailedContacts(broadcastId: $id, runAt: $runAt, contactIds: $ids) {
    id state runAt retryOfBroadcastId audience { contactIds } lineage { id }
  }
}"""


def refused(server, query, **variables):
    with pytest.raises(TransportQueryError) as caught:
        server.run(query, **variables)
    (error,) = caught.value.errors
    return error["extensions"]["code"], error["message"]


def test_draft_schedule_edit_clone_cancel(server):
    draft = server.run(CREATE, input={"name": "D", "flowId": "f1", "filter": 'city = "Rome"', "draft": True})[
        "createBroadcast"
    ]
    assert (draft["state"], draft["runAt"], draft["audienceSizeEstimate"]) == ("DRAFT", None, 5)
    edited = server.run(
        'mutation E($id: ID!) { editBroadcast(id: $id, input: {name: "D2", contactIds: ["c1", "c2"]}) { name audienceSizeEstimate } }',
        id=draft["id"],
    )["editBroadcast"]
    assert edited == {"name": "D2", "audienceSizeEstimate": 2}
    scheduled = server.run(
        'mutation S($id: ID!) { scheduleBroadcast(id: $id, runAt: "2030-01-01T00:00:00Z") { state runAt } }',
        id=draft["id"],
    )
    assert scheduled == {"scheduleBroadcast": {"state": "SCHEDULED", "runAt": "2030-01-01T00:00:00Z"}}
    assert refused(server, "mutation S($id: ID!) { scheduleBroadcast(id: $id) { id } }", id=draft["id"]) == (
        "CONFLICT",
        "cannot schedule a broadcast that is SCHEDULED — wait until it fires, or cancel it",
    )
    clone = server.run('mutation K($id: ID!) { cloneBroadcast(id: $id) { id name state audience { contactIds } } }',
                       id=draft["id"])["cloneBroadcast"]  # fmt: skip
    assert (clone["name"], clone["state"], clone["audience"]) == ("D2 (copy)", "DRAFT", {"contactIds": ["c1", "c2"]})
    for bid in (draft["id"], clone["id"]):
        got = server.run("mutation X($id: ID!) { cancelBroadcast(id: $id) { state } }", id=bid)
        assert got == {"cancelBroadcast": {"state": "CANCELLED"}}


def test_bad_input_is_refused_with_the_cli_line(server):
    assert refused(server, CREATE, input={"flowId": "nope", "filter": ""}) == (
        "BAD_USER_INPUT",
        "flow 'nope' does not exist — define it first with `broadcaster flows add`",
    )
    assert refused(server, CREATE, input={"flowId": "f1", "filter": "", "runAt": "tomorrow"}) == (
        "BAD_USER_INPUT",
        "runAt: 'tomorrow' is not an ISO-8601 time — write e.g. 2026-12-02T09:00:00Z",
    )
    code, message = refused(server, CREATE, input={"flowId": "f1", "filter": "city = "})
    assert code == "BAD_USER_INPUT" and "column" in message


def test_retry_returns_the_new_broadcast_and_a_second_is_a_conflict(server):
    service = server.service()
    source = service.create(name="Src", flow_id="f1", audience_filter='city = "Oslo"')
    service.store.close()
    finish(server.db, source.id, {"c1": Status.DELIVERED, "c3": Status.PROVIDER_ERROR, "c5": Status.OUTCOME_UNKNOWN,
                                  "c7": Status.OPTED_OUT, "c9": Status.DELIVERED})  # fmt: skip
    retry = server.run(RETRY, id=source.id, runAt="2030-01-01T00:00:00Z")["retryFailedContacts"]
    assert retry["state"] == "SCHEDULED" and retry["runAt"] == "2030-01-01T00:00:00Z"
    assert retry["retryOfBroadcastId"] == source.id
    assert sorted(retry["audience"]["contactIds"]) == ["c3", "c5"]
    assert retry["lineage"] == [{"id": source.id}, {"id": retry["id"]}]
    code, message = refused(server, RETRY, id=source.id)
    assert code == "CONFLICT"
    assert message == (
        f"broadcast {source.id} already has retry {retry['id']}, which has not finished; a second retry would send"
        f" to the same FAILED contacts — retry {retry['id']} instead once it finishes, or give an explicit contact-ID list"
    )
    eligibility = server.run(
        "query Q($id: ID!) { broadcast(id: $id) { retryEligibility { retryable refusal pendingRetryId } retries { id } } }",
        "read",
        id=source.id,
    )["broadcast"]
    assert eligibility == {
        "retryEligibility": {"retryable": False, "refusal": "RETRY_PENDING", "pendingRetryId": retry["id"]},
        "retries": [{"id": retry["id"]}],
    }
    override = server.run(RETRY, id=source.id, ids=["c7"])["retryFailedContacts"]
    assert override["audience"] == {"contactIds": ["c7"]}
    attempts = server.run(
        "query A($b: ID!, $c: ID!) { contactAttempts(broadcastId: $b, contactId: $c) { attempts { attempt broadcast { id } row { status } } reachedOnAttempt } }",
        "read",
        b=source.id,
        c="c3",
    )["contactAttempts"]
    assert attempts["attempts"][0] == {
        "attempt": 1,
        "broadcast": {"id": source.id},
        "row": {"status": "provider_error"},
    }
    assert attempts["attempts"][1] == {"attempt": 2, "broadcast": {"id": retry["id"]}, "row": None}
    assert attempts["reachedOnAttempt"] is None
    for bid in (retry["id"], override["id"]):
        server.run("mutation X($id: ID!) { cancelBroadcast(id: $id) { state } }", id=bid)


def test_retry_of_unfinished_or_clean_broadcast_is_refused(server):
    service = server.service()
    running = service.create(name="Run", flow_id="f1", audience_filter='city = "Oslo"', run_at=None)
    service.store.close()
    assert refused(server, RETRY, id=running.id) == (
        "CONFLICT",
        f"broadcast {running.id} is SCHEDULED; only COMPLETED or CANCELLED broadcasts can be retried"
        " — wait for the run to finish first",
    )
    finish(server.db, running.id, {"c1": Status.DELIVERED})
    code, message = refused(server, RETRY, id=running.id)
    assert code == "BAD_USER_INPUT" and message.startswith(f"broadcast {running.id} has no FAILED contacts")


def test_concurrent_retries_make_exactly_one(server):
    service = server.service()
    source = service.create(name="Race", flow_id="f1", audience_filter='city = "Rome"')
    service.store.close()
    finish(server.db, source.id, {"c0": Status.PROVIDER_ERROR, "c2": Status.DELIVERED})

    def attempt(_: int) -> str:
        response = server.post({"query": RETRY, "variables": {"id": source.id}})
        body = response.json()
        return body["errors"][0]["extensions"]["code"] if "errors" in body else "OK"

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = sorted(pool.map(attempt, range(6)))
    assert results == ["CONFLICT"] * 5 + ["OK"]
    check = server.service()
    (made,) = check.store.retries_of(source.id)
    check.cancel(made.id)
    check.store.close()


def test_publish_and_unpublish_flow(server):
    assert server.run('mutation { unpublishFlow(id: "f1") { id published } }') == {
        "unpublishFlow": {"id": "f1", "published": False}
    }
    assert server.run('mutation { publishFlow(id: "f1") { published } }') == {"publishFlow": {"published": True}}
    assert refused(server, 'mutation { publishFlow(id: "zz") { id } }')[0] == "NOT_FOUND"
