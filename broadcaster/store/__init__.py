"""Durable state behind one small interface (:class:`Store`); SQLite is the embedded default."""

from __future__ import annotations

from .base import CSV_COLUMNS, Claim, ConcurrentUpdate, HealthStatus, HistoryPage, IntegrationHealth, Store
from .sqlite import SQLiteStore, open_store, sqlite_target

__all__ = [
    "CSV_COLUMNS",
    "Claim",
    "ConcurrentUpdate",
    "HealthStatus",
    "HistoryPage",
    "IntegrationHealth",
    "SQLiteStore",
    "Store",
    "open_store",
    "sqlite_target",
]
