"""The embedded SQLite engine of the SQL store: one file, one machine.

One file, created on first use, in WAL mode; the schema is upgraded in place on open
(:mod:`broadcaster.store.schema`). Every write that must be atomic runs in one
``BEGIN IMMEDIATE`` transaction, which also serialises recorders. The connection is shared
by the threads of one process behind a lock; several processes may open the same file (WAL
plus a busy timeout), but only one ``broadcaster run`` works on it (``cli/worker.py``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from broadcaster.core.errors import ConfigError

from .engine import Tx
from .filter_sql import SQLITE, register_functions
from .opening import open_store
from .schema import SCHEMA_VERSION, migrate
from .sql import SQLStore

# open_store is re-exported: it was defined here before PostgreSQL came
__all__ = ["SQLiteEngine", "SQLiteStore", "open_store", "sqlite_target"]


def sqlite_target(url_or_path: str | Path) -> str:
    """The file (or ``:memory:``) a ``sqlite://`` URL or plain path names."""
    target = str(url_or_path)
    if target.startswith("sqlite://"):
        target = target[len("sqlite://") :]
        target = target[1:] if target.startswith("/:memory:") else target
        if not target:
            raise ConfigError("the store URL 'sqlite://' names no file", hint="write sqlite:///path/to/file.db")
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise ConfigError(
            f"unsupported store URL scheme {scheme!r} in {str(url_or_path)!r}",
            hint="use sqlite:///path/to/file.db, postgresql://user@host:port/db or a plain file path",
        )
    return target


class SQLiteEngine:
    """A connection to one file, shared by this process's threads behind a lock."""

    filters = SQLITE
    exclusive = True
    waits_on_server = False  # a statement is a call into the library, tens of microseconds
    skip_locked = ""  # BEGIN IMMEDIATE: one writer at a time, so nothing to skip
    like = "LIKE"  # case-insensitive for ASCII letters only (SQLite without ICU)
    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str) -> None:
        self.where = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 10000")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against a killed process in WAL mode (only an OS crash
            # can lose the last transactions), and much faster than FULL.
            self._conn.execute("PRAGMA synchronous = NORMAL")
        register_functions(self._conn)
        self.version_found = migrate(self._conn, where=path)
        self.version = SCHEMA_VERSION

    @contextlib.contextmanager
    def tx(self) -> Iterator[Tx]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection (tests and schema checks; the store goes through tx/query)."""
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def order_records(self, tx: Tx) -> None:
        """BEGIN IMMEDIATE already admits one writer at a time."""

    def lock(self, tx: Tx, key: int) -> None:
        """BEGIN IMMEDIATE already holds the database's one write lock."""

    def rows_source(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A multi-row VALUES list (its columns are named column1, column2, … by SQLite)."""
        row = "(" + ", ".join("?" * len(types)) + ")"
        return f"(VALUES {', '.join([row] * len(rows))}) AS v", [cell for cells in rows for cell in cells]

    def check_text(self, what: str, text: str) -> None:
        """SQLite keeps any text."""

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)


class SQLiteStore(SQLStore):
    """The SQL store on an SQLite file (or ``:memory:``)."""

    def __init__(self, path: str, *, worker_id: str | None = None) -> None:
        super().__init__(SQLiteEngine(path), worker_id=worker_id)

    def __enter__(self) -> SQLiteStore:
        return self
