"""Durable state behind one small interface (:class:`Store`): one SQL implementation
(:class:`SQLStore`) on SQLite, the embedded default, or PostgreSQL, for many workers."""

from __future__ import annotations

from .base import (
    CSV_COLUMNS,
    Claim,
    ConcurrentUpdate,
    HealthStatus,
    HistoryPage,
    IntegrationHealth,
    OutboxEvent,
    Store,
)
from .opening import open_store
from .sql import SQLStore
from .sqlite import SQLiteStore, sqlite_target

__all__ = [
    "CSV_COLUMNS",
    "Claim",
    "ConcurrentUpdate",
    "HealthStatus",
    "HistoryPage",
    "IntegrationHealth",
    "OutboxEvent",
    "SQLStore",
    "SQLiteStore",
    "Store",
    "open_store",
    "sqlite_target",
]
