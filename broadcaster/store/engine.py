"""What differs between the SQL store's databases: the :class:`Engine` protocol.

:mod:`broadcaster.store.sqlite` and :mod:`broadcaster.store.postgres` implement it; the one
SQL implementation (:mod:`broadcaster.store.sql`) speaks only through it.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any, ContextManager, Iterable, Protocol, Sequence

from .filter_sql import FilterDialect

__all__ = ["Engine", "Tx", "new_worker_id"]


class Tx(Protocol):
    """One open transaction: ``?`` placeholders, results as tuples."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class Engine(Protocol):
    """What differs between databases; see :mod:`broadcaster.store.sqlite` and ``.postgres``."""

    where: str  # the database, as error messages name it
    filters: FilterDialect
    like: str  # the ASCII case-insensitive LIKE operator
    integrity_errors: tuple[type[BaseException], ...]
    version_found: int  # the schema version the database had when opened
    version: int  # the schema version it has now (the newest this code knows)
    exclusive: bool  # one worker per database (SQLite: the run lock proves any other is gone)
    waits_on_server: bool  # its statements are round trips to a server (the runtime calls it from threads)
    skip_locked: str  # appended to a claiming SELECT: skip rows another transaction locks

    def tx(self) -> ContextManager[Tx]: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def order_records(self, tx: Tx) -> None:
        """Serialise recorders so that rec_seq grows in commit order (live follow relies on it)."""
        ...

    def lock(self, tx: Tx, key: int) -> None:
        """Hold lock ``key`` until ``tx`` ends: a check-then-write under it is atomic across
        processes (SQLite: its BEGIN IMMEDIATE already admits one writer at a time)."""
        ...

    def rows_source(self, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """``rows`` as a table ``v`` with columns ``column1``, ``column2``, … of these SQL
        ``types``, for ``FROM <source>``: the SQL fragment and its parameters. One
        statement then writes a whole batch (a round trip per batch, not per row)."""
        ...

    def check_text(self, what: str, text: str) -> None: ...
    def close(self) -> None: ...


def new_worker_id() -> str:
    """host:pid:random — unique per store instance, readable in ``broadcaster workers``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
