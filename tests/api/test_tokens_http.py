"""Tokens over real HTTP on both engines: a token made by another process works at once, its
revocation by another process is refused on the very next request, on SQLite and on a
``serve --store postgresql://…``; a missing store or database is one line at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from .conftest import free_port


def cli(store: object, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broadcaster.cli", "--store", str(store), *args], capture_output=True, text=True
    )


def ask(url: str, secret: str, query: str = "{ flows { id } }") -> httpx.Response:
    return httpx.post(url, json={"query": query}, headers={"Authorization": f"Bearer {secret}"}, timeout=10)


def test_a_token_made_and_revoked_by_another_process_counts_from_the_next_request(engine_server):
    made = cli(engine_server.db, "tokens", "create", "temp", "--scope", "write")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert ask(engine_server.url, secret).json() == {"data": {"flows": [{"id": "f1"}, {"id": "welcome"}]}}
    created = ask(engine_server.url, secret, 'mutation { cloneBroadcast(id: "nope") { id } }').json()
    assert created["errors"][0]["extensions"]["code"] == "NOT_FOUND"  # a write token: past the scope check
    listed = {t["name"]: t for t in json.loads(cli(engine_server.db, "tokens", "list", "--json").stdout)}
    assert listed["temp"]["last_used_at"] is not None and listed["temp"]["scope"] == "write"
    assert cli(engine_server.db, "tokens", "revoke", "temp").stdout == "revoked token 'temp'\n"
    refused = ask(engine_server.url, secret)
    assert refused.status_code == 401
    assert refused.json()["errors"][0] == {
        "message": "the token is not valid (unknown or revoked) — see `broadcaster tokens list`",
        "extensions": {"code": "UNAUTHENTICATED"},
    }
    # the other tokens are untouched
    assert ask(engine_server.url, engine_server.tokens["read"]).status_code == 200


def test_serve_refuses_a_store_that_is_not_there_in_one_line(tmp_path):
    port = str(free_port())
    missing = cli(tmp_path / "none.db", "serve", "--port", port)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"error: no such store {tmp_path / 'none.db'} — point --store at an existing store,"
        " or create one (e.g. `broadcaster integrations add`)\n",
    )
    assert os.listdir(tmp_path) == []
    no_db = cli("postgresql://postgres@127.0.0.1:5432/broadcaster_no_such_db", "serve", "--port", port)
    assert no_db.returncode == 1
    (line,) = no_db.stderr.splitlines()
    assert line.startswith("error: cannot open the PostgreSQL store postgresql://postgres@127.0.0.1:5432/")
    assert line.endswith("check that the server runs and the database exists (createdb NAME)")
    unknown = cli("mysql://db/x", "serve", "--port", port)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unsupported store URL scheme 'mysql'")
