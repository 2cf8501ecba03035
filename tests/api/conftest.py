"""A real ``broadcaster serve`` process on a loopback port, a seeded store, real clients."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import attrs
import httpx
import pytest
from gql import Client, gql
from gql.transport.httpx import HTTPXTransport

from broadcaster.api import Scope, Tokens
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Chat, Contact, DispatchRow, Flow, Integration, Template, TextCard
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.service import BroadcastService
from broadcaster.store import open_store

NOW = time.time()
FAIL = {"error_reason": ErrorReason("telegram", "5xx", "server_error"), "error_kind": ErrorKind.TRANSIENT}
UNKNOWN = {"error_reason": ErrorReason("telegram", "restart", "outcome_unknown"), "error_kind": ErrorKind.TRANSIENT}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(db: Path | str) -> None:
    store = open_store(db)
    try:
        store.put_integration(Integration("tg", "telegram", {"token": "t"}))
        store.put_integration(Integration("wa", "whatsapp", {"token": "w"}))
        store.put_template("wa", Template("promo", "en", param_count=1))
        store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
        store.put_flow(Flow("welcome", "Welcome", first_card=TextCard("Hello")))
        store.upsert_contacts(
            [
                Contact(f"c{i}", f"N{i}", fields={"city": "Oslo" if i % 2 else "Rome"}, chats=(Chat("tg", str(i)),))
                for i in range(10)
            ]
        )
    finally:
        store.close()


def finish(db: Path | str, broadcast_id: str, statuses: dict[str, Status], *, state: State = State.COMPLETED) -> None:
    """Play a run through the store: SENDING, a row per contact, then ``state`` (SENDING: left running)."""
    store = open_store(db)
    try:
        b = store.get_broadcast(broadcast_id)
        b = store.update_broadcast(
            attrs.evolve(b, state=State.SENDING, counters=attrs.evolve(b.counters, started_at=NOW)),
            expected_state=b.state,
        )
        store.snapshot_audience(broadcast_id)
        record(store, broadcast_id, statuses)
        if state is not State.SENDING:
            b = store.get_broadcast(broadcast_id)
            store.update_broadcast(
                attrs.evolve(b, state=state, counters=attrs.evolve(b.counters, finished_at=time.time())),
                expected_state=State.SENDING,
            )
    finally:
        store.close()


def record(store: Any, broadcast_id: str, statuses: dict[str, Status]) -> None:
    rows = []
    for cid, status in statuses.items():
        extra = {}
        if status is Status.PROVIDER_ERROR:
            extra = FAIL
        elif status is Status.OUTCOME_UNKNOWN:
            extra = UNKNOWN
        rows.append(
            DispatchRow(
                broadcast_id,
                cid,
                status,
                contact_name=f"N{cid[1:]}",
                integration="tg",
                sent_at=time.time(),
                recorded_at=time.time(),
                **extra,
            )  # fmt: skip
        )
    store.record(rows)


@attrs.define
class Server:
    url: str
    #: the store: an SQLite file, or a PostgreSQL URL
    db: Path | str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]

    def client(self, token: str | None = "write") -> Client:
        headers = {} if token is None else {"Authorization": f"Bearer {self.tokens.get(token, token)}"}
        return Client(
            transport=HTTPXTransport(url=self.url, headers=headers, timeout=10), fetch_schema_from_transport=False
        )

    def run(self, query: str, token: str | None = "write", **variables: Any) -> Any:
        request = gql(query)
        request.variable_values = variables or None
        with self.client(token) as session:
            return session.execute(request)

    def post(self, body: Any, token: str | None = "write", **kw: Any) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {self.tokens.get(token, token)}"}
        return httpx.post(self.url, json=body, headers=headers, timeout=10, **kw)

    def service(self) -> BroadcastService:
        return BroadcastService(store=open_store(self.db))


def start_server(db: Path | str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "broadcaster.cli", "--store", str(db), "serve", "--port", str(port)]
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("serve did not start in 20 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def open_server(db: Path | str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Seed the store at ``db``, make a write and a read token, serve it until the caller is done."""
    seed(db)
    with open_store(db) as store:
        tokens = Tokens(store)
        secrets = {"write": tokens.create("writer", Scope.WRITE), "read": tokens.create("reader", Scope.READ)}
    process, url = start_server(db, env)
    try:
        yield Server(url, db, secrets, process)
    finally:
        stop(process)


def pg_database() -> contextlib.AbstractContextManager[str]:
    """A PostgreSQL database of its own (a module's server must not share the contract suite's)."""
    from tests.conftest import pg_database as fresh

    return fresh("broadcaster_api")


def snapshot(db: Path | str) -> dict[str, list[str]]:
    """Every row of every table (the stores here are small), to show a refusal changed nothing.

    A token's ``last_used_at`` is left out: using a token to be refused is still a use."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as con:
            tables = [
                t for (t,) in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            ]
            rows = {table: list(con.execute(f'SELECT * FROM "{table}"')) for table in tables}
            columns = {
                table: [c.name for c in con.execute(f'SELECT * FROM "{table}" LIMIT 0').description] for table in tables
            }
    else:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            rows = {table: list(con.execute(f'SELECT * FROM "{table}"')) for table in tables}
            columns = {table: [c[1] for c in con.execute(f'PRAGMA table_info("{table}")')] for table in tables}
    out = {}
    for table in tables:
        keep = [i for i, name in enumerate(columns[table]) if (table, name) != ("api_tokens", "last_used_at")]
        out[table] = sorted(repr(tuple(row[i] for i in keep)) for row in rows[table])
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from open_server(tmp_path_factory.mktemp("api") / "broadcaster.db")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A served store on each engine (a database of its own on PostgreSQL)."""
    if request.param == "sqlite":
        yield from open_server(tmp_path_factory.mktemp("api") / "broadcaster.db")
        return
    with pg_database() as url:
        yield from open_server(url)
