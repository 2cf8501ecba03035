"""Schema versioning: an older file is upgraded in place, a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broadcaster.core.errors import ConfigError
from broadcaster.core.models import Broadcast, Contact, DispatchRow
from broadcaster.core.outcomes import Status
from broadcaster.core.results import DeliveryUpdate
from broadcaster.serde import dumps
from broadcaster.store import HealthStatus, IntegrationHealth, open_store
from broadcaster.store.schema import SCHEMA_VERSION, migrate, schema_version


def make_v1_file(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    conn.execute("INSERT INTO contacts (id, name, fields) VALUES ('c1', 'Ada', ?)", ('{"city": "Paris"}',))
    conn.execute(
        "INSERT INTO broadcasts (id, state, created_at, body, delivered) VALUES ('b1', 'COMPLETED', 1.0, ?, 1)",
        (dumps(Broadcast("b1")),),
    )
    conn.execute(
        "INSERT INTO dispatch_rows (broadcast_id, contact_id, status, outcome, integration, message_id,"
        " recorded_at, rec_seq) VALUES ('b1', 'c1', 'accepted', 'DELIVERED', 'wa', 'm1', 5.0, 1)"
    )
    conn.close()


def test_v1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    make_v1_file(path)
    check = sqlite3.connect(path)
    assert 1 == schema_version(check)
    assert [] == check.execute("SELECT name FROM sqlite_master WHERE name = 'integration_health'").fetchall()
    check.close()

    with open_store(path) as store:
        assert SCHEMA_VERSION == schema_version(store.engine.connection)
        assert Contact("c1", "Ada", {"city": "Paris"}) == store.get_contact("c1")
        assert 1 == store.get_broadcast("b1").counters.delivered
        # what v2 added works on the old data
        health = IntegrationHealth("wa", HealthStatus.DEGRADED, "429 share 12%", 9.0, allows_more=60.0)
        store.put_integration_health(health)  # (v6 added allows_more)
        assert health == store.get_integration_health("wa")
        assert store.apply_delivery_update("wa", DeliveryUpdate("m1", "delivered", 6.0))
        assert Status.DELIVERED == store.history("b1").rows[0].status
        assert 1 == store.record([DispatchRow("b1", "c2", Status.OPTED_OUT, recorded_at=7.0)])
        assert ["c2", "c1"] == [row.contact_id for row in store.history("b1").rows]
    # opening again is a no-op
    with open_store(path) as store:
        assert SCHEMA_VERSION == schema_version(store.engine.connection)


def test_fresh_file_gets_latest_version(tmp_path: Path) -> None:
    with open_store(tmp_path / "new.db") as store:
        assert 10 == SCHEMA_VERSION == schema_version(store.engine.connection)


def test_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError) as caught:
        open_store(path)
    assert f"{path} has schema version {SCHEMA_VERSION + 1}, newer than this broadcaster understands" in str(
        caught.value
    )


def test_a_version_2_file_gains_the_chat_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=2)
    conn.execute(
        "INSERT INTO dispatch_rows (broadcast_id, contact_id, status, outcome, integration) VALUES"
        " ('b', 'c1', 'delivered', 'DELIVERED', 'tg')"
    )
    conn.close()
    with open_store(path) as store:
        assert schema_version(store.engine.connection) == SCHEMA_VERSION
        assert store.get_row("b", "c1").status.value == "delivered"
        assert store.used_chats("b", [("tg", "1")]) == frozenset()  # old rows carry no chat id


def test_postgresql_gets_its_versioned_schema_and_refuses_a_newer_one(pg_url: str) -> None:
    import psycopg

    from broadcaster.store.pg_schema import PG_SCHEMA_VERSION
    from tests.conftest import pg_reset

    pg_reset(pg_url)
    with open_store(pg_url) as store:
        assert store.engine.version == PG_SCHEMA_VERSION
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO broadcaster_schema (version) VALUES (%s)", (PG_SCHEMA_VERSION + 1,))
    try:
        with pytest.raises(ConfigError) as caught:
            open_store(pg_url)
        assert f"has schema version {PG_SCHEMA_VERSION + 1}, newer than this broadcaster understands" in str(
            caught.value
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DELETE FROM broadcaster_schema WHERE version > %s", (PG_SCHEMA_VERSION,))


def test_v9_cuts_the_units_of_sending_broadcasts_and_makes_chats_unique(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=8)
    for bid, state in (("b1", "SENDING"), ("b2", "COMPLETED")):
        conn.execute(
            "INSERT INTO broadcasts (id, state, created_at, body) VALUES (?, ?, 1.0, ?)",
            (bid, state, dumps(Broadcast(bid))),
        )
        conn.executemany(
            "INSERT INTO audience (broadcast_id, contact_id) VALUES (?, ?)", [(bid, f"c{i:04d}") for i in range(501)]
        )
    # two claims on one chat (possible before v9): the first keeps it
    conn.executemany(
        "INSERT INTO dispatch_rows (broadcast_id, contact_id, integration, chat_id) VALUES ('b1', ?, 'tg', '7')",
        [("c0001",), ("c0002",)],
    )
    conn.close()
    with open_store(path) as store:
        assert [(u.no, u.first_id, u.last_id, u.size, by) for u, by, _, _ in store.units("b1")] == [
            (0, "c0000", "c0499", 500, None),
            (1, "c0500", "c0500", 1, None),
        ]
        assert store.units("b2") == []
        chats = store.engine.query("SELECT contact_id, chat_id FROM dispatch_rows ORDER BY contact_id")
        assert chats == [("c0001", "7"), ("c0002", None)]
        assert store.claim("b1", [("c0003", "tg", "7")], 2.0) == []  # the chat is taken
