"""What ``broadcaster serve`` adds for the console: its files at ``/``, ``viewer``, row
cursors, and the history CSV over HTTP behind the token."""

from __future__ import annotations

import attrs
import httpx
import pytest

from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.store import open_store

from .conftest import finish


def base(server) -> str:
    return server.url.removesuffix("/graphql")


@pytest.fixture(scope="module")
def exported(server):
    service = server.service()
    b = service.create(name="Export", flow_id="f1", contact_ids=["c1", "c2", "c3", "c4"])
    service.store.close()
    finish(server.db, b.id, {"c1": Status.DELIVERED, "c2": Status.PROVIDER_ERROR, "c3": Status.DELIVERED,
                             "c4": Status.PROVIDER_ERROR})  # fmt: skip
    return b.id


def test_the_console_page_and_its_modules_are_served_self_contained(server):
    page = httpx.get(base(server) + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert '<script type="module" src="/console/app.js">' in page.text
    assert "https://" not in page.text and "http://" not in page.text
    module = httpx.get(base(server) + "/console/history.js", timeout=10)
    assert module.status_code == 200 and module.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "import" in module.text and "https://" not in module.text


@pytest.mark.parametrize("path", ["/console/nope.js", "/console/../api/tokens.py", "/console/", "/console/%2e%2e/x"])
def test_a_console_path_that_is_no_file_of_it_is_404(server, path):
    answer = httpx.get(base(server) + path, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_viewer_is_the_token_of_the_request(server):
    assert server.run("query { viewer { name scope } }", "read") == {"viewer": {"name": "reader", "scope": "READ"}}
    assert server.run("query { viewer { name scope } }", "write") == {"viewer": {"name": "writer", "scope": "WRITE"}}


def test_each_history_row_carries_the_cursor_of_the_rows_after_it(server, exported):
    query = "query H($id: ID!, $after: String) { history(broadcastId: $id, after: $after) { rows { contact { id } cursor } } }"
    rows = server.run(query, "read", id=exported)["history"]["rows"]
    assert [r["contact"]["id"] for r in rows] == ["c4", "c3", "c2", "c1"]  # newest first
    older = server.run(query, "read", id=exported, after=rows[1]["cursor"])["history"]["rows"]
    assert [r["contact"]["id"] for r in older] == ["c2", "c1"]


def test_rows_read_back_carry_their_sequence_but_it_is_no_part_of_their_value(server, exported):
    store = open_store(server.db)
    try:
        page = store.history(exported)
    finally:
        store.close()
    seqs = [row.seq for row in page.rows]
    assert seqs == sorted(seqs, reverse=True) and all(isinstance(s, int) for s in seqs)
    row = page.rows[0]
    assert row == attrs.evolve(row, seq=None)  # equal to the same row without it
    assert DispatchRow(row.broadcast_id, row.contact_id, row.status).seq is None


def test_the_csv_export_is_the_clis_and_needs_the_token(server, exported, tmp_path):
    url = f"{base(server)}/broadcasts/{exported}/history.csv"
    refused = httpx.get(url, timeout=10)
    assert refused.status_code == 401 and refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = httpx.get(url, headers={"Authorization": "Bearer bct_wrong"}, timeout=10)
    assert bad.status_code == 401
    answer = httpx.get(url, params={"status": "FAILED"}, headers={"Authorization": f"Bearer {server.tokens['read']}"},
                       timeout=10)  # fmt: skip
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="history-{exported}.csv"'
    store = open_store(server.db)
    try:
        with open(tmp_path / "cli.csv", "w", newline="") as handle:
            store.export_csv(exported, handle, outcome=Outcome.FAILED)
    finally:
        store.close()
    assert answer.content == (tmp_path / "cli.csv").read_bytes()
    assert len(answer.content.splitlines()) == 3  # the header and the two FAILED rows


@pytest.mark.parametrize(
    ("suffix", "status", "code", "message"),
    [
        (
            "?status=LOST",
            400,
            "BAD_USER_INPUT",
            "?status='LOST' is not an outcome; use one of DELIVERED, FAILED, SKIPPED",
        ),
        ("?limit=3", 400, "BAD_USER_INPUT", "unknown parameter ?limit=; the export takes status and search"),
        ("?status=FAILED&status=SKIPPED", 400, "BAD_USER_INPUT", "give ?status= once, not 2 times"),
    ],
)
def test_a_bad_export_request_is_refused_in_one_line(server, exported, suffix, status, code, message):
    answer = httpx.get(f"{base(server)}/broadcasts/{exported}/history.csv{suffix}",
                       headers={"Authorization": f"Bearer {server.tokens['read']}"}, timeout=10)  # fmt: skip
    assert answer.status_code == status
    assert answer.json() == {"errors": [{"message": message, "extensions": {"code": code}}]}


def test_the_export_of_an_unknown_broadcast_is_404(server):
    answer = httpx.get(f"{base(server)}/broadcasts/nope/history.csv",
                       headers={"Authorization": f"Bearer {server.tokens['read']}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 404
    assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
