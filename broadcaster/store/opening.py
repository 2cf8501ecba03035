"""Open a store from its URL: the one place that picks the engine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .faults import check_sqlite_file, describe_sqlite_error
from .sql import SQLStore

__all__ = ["is_postgres_url", "open_store"]


def is_postgres_url(url: str) -> bool:
    """Names the store a PostgreSQL database? (Checked without importing the driver.)"""
    return url.startswith(("postgresql://", "postgres://"))


def open_store(
    url_or_path: str | Path,
    *,
    create: bool = True,
    must_exist: bool = False,
    worker_id: str | None = None,
    wait: float = 30.0,
) -> SQLStore:
    """Open a store: ``postgresql://user@host:port/db``, ``sqlite:///path``, a plain path, or ``:memory:``.

    With ``create=False`` a missing SQLite file opens as an empty, in-memory store: a command
    that only reads sees "nothing here" and never leaves an empty database behind —
    unless ``must_exist`` (the path was named on purpose): then it is "no such store".
    Faults are one-line :class:`~broadcaster.core.errors.StoreError` (:mod:`.faults`). A
    PostgreSQL database must exist (``createdb``); its tables are created or upgraded on open.
    ``wait`` bounds how long a PostgreSQL call waits for a connection (the API answers sooner
    than a worker need) before it fails with StoreError.
    """
    from .postgres import PostgresStore
    from .sqlite import SQLiteStore, sqlite_target

    if isinstance(url_or_path, str) and is_postgres_url(url_or_path):
        return PostgresStore(url_or_path, worker_id=worker_id, wait=wait)
    target = check_sqlite_file(sqlite_target(url_or_path), create=create, must_exist=must_exist)
    try:
        return SQLiteStore(target, worker_id=worker_id)
    except sqlite3.Error as exc:
        raise describe_sqlite_error(exc, target) from None
