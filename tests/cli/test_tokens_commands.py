"""``broadcaster tokens``: the secret shown once and stored as a digest in the store; a name
once; one-line refusals that change nothing; no store, no tokens (and no file written); the
tokens of an older version's ``<store>.tokens.json`` imported once and the file set aside."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time

import pytest

from broadcaster.api import Tokens
from broadcaster.store import open_store


def _rows(cli) -> list[tuple]:
    conn = sqlite3.connect(cli.db)
    try:
        return conn.execute(
            "SELECT name, scope, digest, created_at, last_used_at FROM api_tokens ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def stored(cli):
    assert cli("integrations", "add", "tg", "--provider", "telegram", "--secret", "token=TG_TOKEN").exit_code == 0
    return cli


def test_create_shows_the_secret_once_and_stores_only_its_digest(stored):
    made = stored("tokens", "create", "ops", "--scope", "write")
    assert made.exit_code == 0
    secret = made.stdout.strip()
    assert secret.startswith("bct_") and len(secret) == 47
    assert made.stderr == "created write token 'ops'; keep the secret above, it is not stored\n"
    ((name, scope, digest, created_at, last_used),) = _rows(stored)
    assert (name, scope, digest, last_used) == ("ops", "write", hashlib.sha256(secret.encode()).hexdigest(), None)
    assert abs(created_at - time.time()) < 60
    assert secret.encode() not in stored.db.read_bytes()
    assert sorted(os.listdir(stored.root)) == ["broadcaster.db"]  # no tokens file, no temp file
    with open_store(stored.db) as store:
        assert Tokens(store).check(secret).name == "ops"
        assert Tokens(store).check(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None


def test_list_shows_name_scope_created_and_last_use(stored):
    secret = stored("tokens", "create", "ops", "--scope", "write").stdout.strip()
    stored("tokens", "create", "dash", "--scope", "read")
    listed = json.loads(stored("tokens", "list", "--json").stdout)
    assert [(t["name"], t["scope"], t["last_used_at"]) for t in listed] == [
        ("dash", "read", None),
        ("ops", "write", None),
    ]
    with open_store(stored.db) as store:
        used = Tokens(store, clock=lambda: 1_800_000_000.0).check(secret).last_used_at
    assert used == 1_800_000_000.0
    table = stored("tokens", "list").stdout
    assert "last used" in table and "never" in table and "2027-01-15" in table
    assert [t["last_used_at"] for t in json.loads(stored("tokens", "list", "--json").stdout)] == [None, used]


def test_duplicate_and_unknown_names_and_bad_names_are_one_line_and_change_nothing(stored):
    stored("tokens", "create", "ops", "--scope", "write")
    before = _rows(stored)
    for args, line in [
        (("create", "ops", "--scope", "read"),
         "error: a token named 'ops' already exists — revoke it first: broadcaster tokens revoke ops"),
        (("revoke", "nope"), "error: no API token named 'nope' — known tokens: ops"),
        (("create", "../x", "--scope", "read"),
         "error: invalid token name '../x' — use 1-64 letters, digits, '-', '_' or '.', starting with one"),
    ]:  # fmt: skip
        result = stored("tokens", *args)
        assert (result.exit_code, result.stderr.splitlines()) == (1, [line])
        assert _rows(stored) == before
    assert stored("tokens", "revoke", "ops").stdout == "revoked token 'ops'\n"
    assert _rows(stored) == []
    gone = stored("tokens", "revoke", "ops")
    assert gone.stderr == "error: no API token named 'ops' — known tokens: none\n"


def test_without_a_store_nothing_is_written(cli):
    for args in (("create", "ops", "--scope", "write"), ("list",), ("revoke", "ops")):
        result = cli("tokens", *args)
        assert result.exit_code == 1
        assert result.stderr == (
            "error: no such store broadcaster.db — point --store at an existing store,"
            " or create one (e.g. `broadcaster integrations add`)\n"
        )
        assert os.listdir(cli.root) == []
    missing = cli("--store", str(cli.root / "other.db"), "tokens", "create", "ops", "--scope", "read")
    assert missing.exit_code == 1 and os.listdir(cli.root) == []


def _old_file(cli, tokens: list[dict]) -> str:
    (cli.root / "broadcaster.db.tokens.json").write_text(json.dumps({"tokens": tokens}))
    return "broadcaster.db.tokens.json"  # as the store is named (the default, relative)


def test_an_older_versions_tokens_file_is_imported_once_and_set_aside(stored):
    old_secret = "bct_" + "x" * 43
    digest = hashlib.sha256(old_secret.encode()).hexdigest()
    path = _old_file(stored, [{"name": "legacy", "scope": "write", "digest": digest, "created_at": 1_700_000_000.0}])
    listed = stored("tokens", "list", "--json")
    assert listed.stderr == (f"imported 1 API token from {path} into the store; the file is now {path}.imported\n")
    assert [(t["name"], t["scope"], t["created_at"]) for t in json.loads(listed.stdout)] == [
        ("legacy", "write", 1_700_000_000.0)
    ]
    assert sorted(os.listdir(stored.root)) == ["broadcaster.db", "broadcaster.db.tokens.json.imported"]
    again = stored("tokens", "list", "--json")
    assert again.stderr == "" and len(json.loads(again.stdout)) == 1  # once
    with open_store(stored.db) as store:
        assert Tokens(store).check(old_secret).name == "legacy"  # the old secret still works


def test_the_import_keeps_a_token_the_store_already_has_and_db_upgrade_imports_too(stored):
    secret = stored("tokens", "create", "ops", "--scope", "read").stdout.strip()
    path = _old_file(stored, [
        {"name": "ops", "scope": "write", "digest": "0" * 64, "created_at": 1.0},
        {"name": "ci", "scope": "read", "digest": "1" * 64, "created_at": 2.0},
    ])  # fmt: skip
    upgraded = stored("db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stderr == (
        f"imported 1 API token from {path} into the store; the file is now {path}.imported"
        " (the store already had 'ops': kept the store's)\n"
    )
    assert [(r[0], r[1]) for r in _rows(stored)] == [("ci", "read"), ("ops", "read")]
    with open_store(stored.db) as store:
        assert Tokens(store).check(secret).name == "ops"
    # a second old file (restored from a backup, say) is set aside under a new name
    _old_file(stored, [])
    assert stored("tokens", "list").stderr.endswith(f"the file is now {path}.imported.2\n")


def test_a_broken_old_file_is_one_line_and_changes_nothing(stored):
    path = stored.root / "broadcaster.db.tokens.json"
    path.write_text("{not json")
    result = stored("tokens", "create", "ops", "--scope", "read")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: cannot import the API tokens file broadcaster.db.tokens.json: JSONDecodeError:")
    assert line.endswith("fix or remove it (then create the tokens again with `broadcaster tokens create`)")
    assert _rows(stored) == [] and path.read_text() == "{not json"
