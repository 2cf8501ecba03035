"""Queries through a real GraphQL client (gql over httpx) against ``broadcaster serve``."""

from __future__ import annotations

import pytest
from gql.transport.exceptions import TransportQueryError

from broadcaster.core.outcomes import Status

from .conftest import finish

BROADCAST = """
query One($id: ID!) {
  broadcast(id: $id) {
    id state audienceSizeEstimate audienceSizeActual delivered failed skipped
    deliveryRate dropRate usedFallback usedFallbackShare retryOfBroadcastId
    lineage { id } retries { id }
    retryEligibility { retryable refusal message contactsToRetry outcomeUnknown pendingRetryId }
  }
}
"""


def error_of(excinfo: pytest.ExceptionInfo[TransportQueryError]) -> dict:
    assert excinfo.value.errors
    return excinfo.value.errors[0]


@pytest.fixture(scope="module")
def finished(server):
    service = server.service()
    b = service.create(name="Promo", flow_id="f1", audience_filter='city = "Oslo"')
    service.store.close()
    finish(server.db, b.id, {"c1": Status.DELIVERED, "c3": Status.PROVIDER_ERROR, "c5": Status.OUTCOME_UNKNOWN,
                             "c7": Status.OPTED_OUT, "c9": Status.DELIVERED})  # fmt: skip
    return b.id


def test_broadcast_with_counters_rates_and_retry_eligibility(server, finished):
    got = server.run(BROADCAST, "read", id=finished)["broadcast"]
    assert got == {
        "id": finished,
        "state": "COMPLETED",
        "audienceSizeEstimate": 5,
        "audienceSizeActual": 5,
        "delivered": 2,
        "failed": 2,
        "skipped": 1,
        "deliveryRate": 0.4,
        "dropRate": 0.6,
        "usedFallback": 0,
        "usedFallbackShare": 0.0,
        "retryOfBroadcastId": None,
        "lineage": [{"id": finished}],
        "retries": [],
        "retryEligibility": {
            "retryable": True,
            "refusal": None,
            "message": None,
            "contactsToRetry": 2,
            "outcomeUnknown": 1,
            "pendingRetryId": None,
        },
    }


def test_history_rows_filtered_searched_and_paged(server, finished):
    query = """
    query H($id: ID!, $status: Outcome, $search: String, $first: Int, $after: String) {
      history(broadcastId: $id, status: $status, search: $search, first: $first, after: $after) {
        rows { contact { id name } channel outcome status errorReason usedFallback sentAt deliveredAt }
        endCursor
      }
    }"""
    failed = server.run(query, "read", id=finished, status="FAILED")["history"]
    assert [(r["contact"]["id"], r["status"], r["errorReason"]) for r in failed["rows"]] == [
        ("c5", "outcome_unknown", "telegram:restart:outcome_unknown"),
        ("c3", "provider_error", "telegram:5xx:server_error"),
    ]
    assert failed["endCursor"] is None
    first = server.run(query, "read", id=finished, first=2)["history"]
    assert [r["contact"]["id"] for r in first["rows"]] == ["c9", "c7"]
    rest = server.run(query, "read", id=finished, first=2, after=first["endCursor"])["history"]
    assert [r["contact"]["id"] for r in rest["rows"]] == ["c5", "c3"]
    assert [r["contact"] for r in server.run(query, "read", id=finished, search="N7")["history"]["rows"]] == [
        {"id": "c7", "name": "N7"}
    ]
    row = first["rows"][1]
    assert (row["channel"], row["outcome"], row["usedFallback"], row["deliveredAt"]) == ("tg", "SKIPPED", False, None)
    assert row["sentAt"].endswith("Z")


def test_lists_integrations_contacts_flows_templates(server):
    got = server.run(
        """{ integrations { name provider health { status } }
             contacts(filter: "city = \\"Rome\\"", first: 3) { nodes { id name chats { integration chatId } } endCursor totalCount }
             flows { id name published }
             templates { integration name language paramCount } }""",
        "read",
    )
    assert got["integrations"] == [
        {"name": "tg", "provider": "telegram", "health": None},
        {"name": "wa", "provider": "whatsapp", "health": None},
    ]
    assert got["contacts"] == {
        "nodes": [
            {"id": "c0", "name": "N0", "chats": [{"integration": "tg", "chatId": "0"}]},
            {"id": "c2", "name": "N2", "chats": [{"integration": "tg", "chatId": "2"}]},
            {"id": "c4", "name": "N4", "chats": [{"integration": "tg", "chatId": "4"}]},
        ],
        "endCursor": "c4",
        "totalCount": 5,
    }
    assert got["flows"] == [
        {"id": "f1", "name": "promo", "published": True},
        {"id": "welcome", "name": "Welcome", "published": True},
    ]
    assert got["templates"] == [{"integration": "wa", "name": "promo", "language": "en", "paramCount": 1}]


def test_broadcasts_by_state_paged(server, finished):
    query = "query L($state: BroadcastState, $after: String) { broadcasts(state: $state, first: 1, after: $after) { nodes { id state } endCursor } }"
    got = server.run(query, "read", state="COMPLETED")["broadcasts"]
    assert got["nodes"][0]["state"] == "COMPLETED"
    ids = [got["nodes"][0]["id"]]
    while got["endCursor"]:
        got = server.run(query, "read", state="COMPLETED", after=got["endCursor"])["broadcasts"]
        ids += [n["id"] for n in got["nodes"]]
    assert finished in ids and len(ids) == len(set(ids))


def test_unknown_broadcast_is_not_found_with_the_cli_message(server):
    with pytest.raises(TransportQueryError) as caught:
        server.run(BROADCAST, "read", id="nope")
    error = error_of(caught)
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["message"] == "no broadcast with id 'nope' — check the id; list broadcasts to see them"
    assert error["path"] == ["broadcast"]
