"""The PostgreSQL engine of the SQL store: one database shared by many workers.

psycopg 3 with a small psycopg-pool connection pool (the store is called from several
threads of one worker). Connections are in autocommit mode: a read is one statement, a write
one explicit transaction. The shared SQL in :mod:`broadcaster.store.sql` is written with
``?`` placeholders; :func:`to_pyformat` turns them into psycopg's ``%s`` (no ``?`` appears in
that SQL other than as a placeholder). Recorders are serialised by a transaction-level
advisory lock so that ``rec_seq`` grows in commit order across workers — the live history
(``rows_after``) would otherwise skip a row committed late with a smaller number.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any, Iterable, Iterator, Sequence

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from broadcaster.core.errors import ConfigError, StoreUnreachable

from .engine import Tx
from .filter_sql import POSTGRES
from .opening import is_postgres_url
from .pg_schema import PG_SCHEMA_VERSION, pg_migrate
from .sql import SQLStore

# is_postgres_url is re-exported for callers that already import this module
__all__ = ["PostgresEngine", "PostgresStore", "is_postgres_url", "to_pyformat"]

_RECORD_LOCK = 0x6272_6F61_6472  # advisory lock key serialising record()


@contextlib.contextmanager
def _nul_refused() -> Iterator[None]:
    """A NUL in a parameter is the caller's input, not a fault: psycopg refuses to send it
    (it checks text parameters before the query leaves), so say so in one line. Writes are
    checked earlier (:meth:`PostgresEngine.check_text`); this catches the reads — an id or a
    search text with a NUL in it, which no stored value can match."""
    try:
        yield
    except psycopg.DataError as exc:
        if "NUL" not in str(exc):
            raise
        raise ConfigError(
            "a value given holds a NUL character, which PostgreSQL cannot store or match",
            hint="remove the \\x00 from the input",
        ) from None


def _not_an_outage_line(record: logging.LogRecord) -> bool:
    """The pool's own warnings of a lost server (every broken connection, every failed
    reconnect, with the driver's multi-line text) are dropped: StoreUnreachable says it once,
    in one line, and a waiting worker says when it is back."""
    return not (record.levelno == logging.WARNING and record.getMessage().startswith(_POOL_OUTAGE_LINES))


_POOL_OUTAGE_LINES = ("error connecting in ", "discarding closed connection")
logging.getLogger("psycopg.pool").addFilter(_not_an_outage_line)

#: how long a call waits for a connection while the server is known lost (seconds)
_WAIT_WHILE_DOWN = 1.0


def _lost_connection(exc: psycopg.OperationalError) -> bool:
    """The server is gone or unreachable (not an error a statement met on a live server)."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _redacted(url: str) -> str:
    """The URL without a password, for messages."""
    head, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        rest = f"{credentials.split(':', 1)[0]}@{host}"
    return f"{head}{sep}{rest}"


class PostgresEngine:
    """A pool of connections to one database."""

    filters = POSTGRES
    exclusive = False
    waits_on_server = True  # every statement is a round trip to the server
    skip_locked = " FOR UPDATE SKIP LOCKED"
    like = "ILIKE"  # on the "C" collation: ASCII letters only, as SQLite's LIKE
    integrity_errors: tuple[type[BaseException], ...] = (psycopg.errors.UniqueViolation,)

    def __init__(self, url: str, *, max_connections: int = 4, wait: float = 30.0) -> None:
        self.where = _redacted(url)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                self.version_found = pg_migrate(conn, where=self.where)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"cannot open the PostgreSQL store {self.where}: {first}",
                hint="check that the server runs and the database exists (createdb NAME)",
            ) from None
        self.version = PG_SCHEMA_VERSION
        #: the last call found the server lost (see _reachable)
        self._down = False
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, kwargs={"autocommit": True}, open=True, name="broadcaster",
            timeout=wait,
        )  # fmt: skip

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """A lost server is one line (StoreUnreachable, code STORE_UNAVAILABLE), not a driver
        traceback; the pool replaces the broken connections, so the next call after the
        server is back succeeds. While the server is known lost, a call waits for a
        connection ``_WAIT_WHILE_DOWN`` at most rather than the pool's whole timeout: a
        worker's calls from its event loop would otherwise hold it that long each."""
        try:
            yield
        except PoolTimeout:
            self._down = True
            raise StoreUnreachable(
                f"the PostgreSQL store {self.where} did not answer (no connection within {self._wait():g} s)",
                hint="check that the server runs; broadcaster carries on once it is back",
            ) from None
        except psycopg.OperationalError as exc:
            if not _lost_connection(exc):
                raise
            self._down = True
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnreachable(
                f"lost the PostgreSQL store {self.where}: {first}",
                hint="check that the server runs; broadcaster carries on once it is back",
            ) from None
        self._down = False

    def _wait(self) -> float:
        return min(self._pool.timeout, _WAIT_WHILE_DOWN) if self._down else self._pool.timeout

    @contextlib.contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._reachable(), self._pool.connection(timeout=self._wait()) as conn, conn.transaction():
            yield _PostgresTx(conn)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._reachable(), self._pool.connection(timeout=self._wait()) as conn, _nul_refused():
            return conn.execute(to_pyformat(sql), params).fetchall()

    def order_records(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_RECORD_LOCK,))

    def lock(self, tx: Tx, key: int) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (key,))

    def rows_source(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """One array parameter per column, unnested: the statement's text is the same for any
        number of rows, so psycopg parses it once and the server prepares it (a VALUES list
        of thousands of placeholders cost more client CPU to build than the rows themselves)."""
        arrays = ", ".join(f"CAST(? AS {sql_type}[])" for sql_type in types)
        names = ", ".join(f"column{i + 1}" for i in range(len(types)))
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in types]
        return f"unnest({arrays}) AS v({names})", columns

    def check_text(self, what: str, text: str) -> None:
        if "\x00" in text:
            raise ConfigError(
                f"{what} holds a NUL character, which PostgreSQL cannot store", hint="remove the \\x00 from the data"
            )

    def close(self) -> None:
        self._pool.close()


class _PostgresTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        with _nul_refused():
            return self._conn.execute(to_pyformat(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor, _nul_refused():
            cursor.executemany(to_pyformat(sql), rows)


class PostgresStore(SQLStore):
    """The SQL store on a PostgreSQL database (``postgresql://user@host:port/db``)."""

    def __init__(self, url: str, *, worker_id: str | None = None, wait: float = 30.0) -> None:
        super().__init__(PostgresEngine(url, wait=wait), worker_id=worker_id)

    def __enter__(self) -> PostgresStore:
        return self
