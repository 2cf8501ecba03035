"""Tokens, scopes, limits and error shapes over real HTTP: refused requests change nothing."""

from __future__ import annotations

import json

import httpx


def test_requests_without_a_valid_token_are_refused(server):
    for token in (None, "bct_not-a-token"):
        response = server.post({"query": "{ flows { id } }"}, token)
        assert response.status_code == 401
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "Authorization: Bearer" in server.post({"query": "{ flows { id } }"}, None).json()["errors"][0]["message"]


def test_a_read_token_cannot_mutate_and_nothing_changes(server):
    before = server.run("{ flows { id published } }", "read")
    response = server.post({"query": 'mutation { unpublishFlow(id: "f1") { published } }'}, "read")
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "token 'reader' may only read; mutations need a write token"
                " — create one with `broadcaster tokens create NAME --scope write`",
                "extensions": {"code": "FORBIDDEN"},
            }
        ]
    }
    assert server.run("{ flows { id published } }", "read") == before


def test_depth_cost_and_body_limits(server):
    deep = "{ broadcasts { nodes { lineage { lineage { lineage { lineage { lineage { lineage { lineage { lineage { lineage { lineage { id } } } } } } } } } } } } }"
    (error,) = server.post({"query": deep}).json()["errors"]
    assert error["message"].startswith("the query is 13 levels deep; at most 12 are allowed")
    costly = "{ broadcasts(first: 500) { nodes { history: retries { id name state delivered failed } lineage { id name state } } } contacts(first: 500) { nodes { id name chats { chatId } } } }"
    costly = "{" + " ".join(f"a{i}: contacts(first: 500) {{ nodes {{ id name optedOut }} }}" for i in range(40)) + "}"
    (error,) = server.post({"query": costly}).json()["errors"]
    assert "at most 50000 are allowed" in error["message"]
    big = server.post({"query": "{ flows { id } }", "variables": {"x": "y" * 300_000}})
    assert big.status_code == 413
    assert big.json()["errors"][0]["message"] == "the request body is larger than 262144 bytes"


def test_malformed_requests_get_one_line_errors_never_a_traceback(server):
    cases = [
        (b"not json", 400, "the request body is not valid JSON"),
        (b"[]", 400, "the request body must be a JSON object with a 'query'"),
        (b'{"query": 5}', 400, "the request has no 'query' string"),
        (b'{"query": "{ flows { id }"}', 200, "Syntax Error: Expected Name, found <EOF>."),
        (b'{"query": "{ nope }"}', 200, "Cannot query field 'nope' on type 'Query'."),
        (b'{"query": "{ history(broadcastId: \\"x\\", first: 0) { endCursor } }"}', 200, None),
    ]
    for body, status, message in cases:
        response = httpx.post(server.url, content=body, timeout=10,
                              headers={"Authorization": f"Bearer {server.tokens['read']}", "Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == status, body
        text = response.text
        assert "Traceback" not in text and 'File "' not in text
        (error,) = response.json()["errors"]
        if message is not None:
            assert error["message"] == message
    first0 = json.loads(response.text)["errors"][0]
    assert first0["extensions"]["code"] == "NOT_FOUND"  # the id is checked before the page size
