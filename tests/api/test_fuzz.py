"""schemathesis in GraphQL mode against a real ``broadcaster serve``: every query and mutation of
the schema with generated arguments and selections, a bounded number of examples each.

Every answer must be a clean GraphQL answer — no 500, no traceback, every error with an
``extensions.code`` that is not INTERNAL_SERVER_ERROR — and a refused request (a mutation
through a read token or an unknown one, or one the service refused) must leave the store exactly as
it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from broadcaster.core.outcomes import Status

from .conftest import finish, snapshot

#: a code here means "a fault of ours": the fuzzer must never see one
FAULT = "INTERNAL_SERVER_ERROR"
EXAMPLES = 25


ROOT = Path(__file__).resolve().parents[2]
#: the ids the store holds (filled by the ``known`` fixture), so generated requests reach past
#: NOT_FOUND into the service's own checks; random text still stands beside them
KNOWN_IDS: list[str] = ["c1", "c2", "f1", "welcome", "tg", "wa"]
schemathesis.graphql.scalar(
    "ID", st.one_of(st.deferred(lambda: st.sampled_from(KNOWN_IDS)), st.text(max_size=12)).map(nodes.String)
)
# the committed SDL is the served schema (test_schema_file.py): generate from it, send to the server
with (ROOT / "docs" / "schema.graphql").open() as sdl:
    OPERATIONS = {result.ok().label: result.ok() for result in schemathesis.graphql.from_file(sdl).get_all_operations()}


def clean(response: Any, query: str = "") -> dict[str, Any]:
    text = response.text
    assert response.status_code < 500, text
    assert "Traceback" not in text and 'File "' not in text, text
    body = response.json()
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code is not None and code != FAULT, (error, query)
        assert "\n" not in error["message"], error
    return body


@pytest.fixture(scope="module")
def known(engine_server) -> list[str]:
    """A broadcast in each state a mutation cares about; their ids join :data:`KNOWN_IDS`."""
    service = engine_server.service()
    try:
        draft = service.create(name="draft", flow_id="f1", contact_ids=["c1", "c2"], draft=True)
        scheduled = service.create(name="scheduled", flow_id="f1", audience_filter='city = "Oslo"')
        done = service.create(name="done", flow_id="f1", contact_ids=["c1", "c2", "c3"])
    finally:
        service.store.close()
    finish(
        engine_server.db, done.id, {"c1": Status.DELIVERED, "c2": Status.PROVIDER_ERROR, "c3": Status.OUTCOME_UNKNOWN}
    )
    KNOWN_IDS.extend([draft.id, scheduled.id, done.id])
    return KNOWN_IDS


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_fuzzed_requests_get_clean_answers_and_refusals_change_nothing(label, engine_server, known):
    operation = OPERATIONS[label]
    is_mutation = label.startswith("Mutation.")

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def exchange(case: Any) -> None:
        before = snapshot(engine_server.db) if is_mutation else None
        anonymous = case.call(base_url=engine_server.url, headers={"Authorization": "Bearer bct_not-a-token"})
        assert anonymous.status_code == 401
        assert clean(anonymous, case.body)["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
        read = clean(
            case.call(base_url=engine_server.url, headers={"Authorization": f"Bearer {engine_server.tokens['read']}"}),
            case.body,
        )
        if is_mutation:
            # refused: by its scope, or before that for a document over the limits
            assert read["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "GRAPHQL_VALIDATION_FAILED"}, read
            assert "data" not in read
            assert snapshot(engine_server.db) == before
        answer = clean(
            case.call(base_url=engine_server.url, headers={"Authorization": f"Bearer {engine_server.tokens['write']}"}),
            case.body,
        )
        if is_mutation and answer.get("errors"):
            assert snapshot(engine_server.db) == before, answer

    exchange()


def test_what_the_fuzzer_found_an_explicit_null_for_a_defaulted_argument_is_refused_cleanly(engine_server):
    # `first: null` used to reach the resolver as None: "internal error"; now the schema says Int! = 50
    for query, kind in (
        ("{ broadcasts(first: null) { endCursor } }", "Int!"),
        ("{ contacts(filter: null) { totalCount } }", "String!"),
    ):
        (error,) = engine_server.post({"query": query}, "read").json()["errors"]
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert error["message"] == f"Expected value of non-null type '{kind}' not to be null."
    variable = "query Q($n: Int) { broadcasts(first: $n) { endCursor } }"
    (error,) = engine_server.post({"query": variable, "variables": {"n": None}}, "read").json()["errors"]
    assert error == {
        "message": "Argument 'first' has invalid value:"
        " Expected variable '$n' provided to non-null type 'Int!' not to be null.",
        "extensions": {"code": "BAD_USER_INPUT"},
        "locations": [{"line": 1, "column": 38}],
        "path": ["broadcasts"],
    }
