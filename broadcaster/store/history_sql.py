"""The history of the SQL store's dispatch rows: pages newest first, one row, live follow, CSV.

Mixed into :class:`broadcaster.store.sql.SQLStore`; read-only. Rows are ordered by
``rec_seq``, the order in which they were recorded (``Engine.order_records`` makes it grow in
commit order, which the live follow of :meth:`HistoryStore.rows_after` relies on).
"""

from __future__ import annotations

import csv
from typing import IO, Any, Sequence

from broadcaster.core.errors import ConfigError
from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import ErrorKind, Outcome, Status
from broadcaster.core.reasons import parse_reason

from .base import CSV_COLUMNS, HistoryPage
from .csv_export import csv_cells
from .engine import Engine

__all__ = ["HistoryStore"]

_PAGE = 500
_ROW_COLUMNS = (
    "rec_seq, broadcast_id, contact_id, status, contact_name, integration, error_reason, error_kind,"
    " used_fallback, sent_at, delivered_at, message_id, recorded_at"
)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class HistoryStore:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    engine: Engine

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @staticmethod
    def _row(row: Sequence[Any]) -> DispatchRow:
        return DispatchRow(
            broadcast_id=row[1],
            contact_id=row[2],
            status=Status(row[3]),
            contact_name=row[4],
            integration=row[5],
            error_reason=None if row[6] is None else parse_reason(row[6]),
            error_kind=None if row[7] is None else ErrorKind(row[7]),
            used_fallback=bool(row[8]),
            sent_at=row[9],
            delivered_at=row[10],
            message_id=row[11],
            recorded_at=row[12] or 0.0,
            seq=row[0],
        )

    def history(
        self,
        broadcast_id: str,
        *,
        outcome: Outcome | None = None,
        search: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> HistoryPage:
        if limit < 1:
            raise ConfigError(f"a history page needs a limit of at least 1, got {limit}")
        where = ["broadcast_id = ?", "status IS NOT NULL"]
        params: list[Any] = [broadcast_id]
        if outcome is not None:
            where.append("outcome = ?")
            params.append(outcome.value)
        if search:
            # LIKE is case-insensitive for ASCII letters only (SQLite without ICU).
            where.append(f"contact_name {self.engine.like} ? ESCAPE '\\'")
            params.append(f"%{_escape_like(search)}%")
        if cursor is not None:
            where.append("rec_seq < ?")
            params.append(cursor)
        rows = self._query(
            f"SELECT {_ROW_COLUMNS} FROM dispatch_rows WHERE {' AND '.join(where)} ORDER BY rec_seq DESC LIMIT ?",
            [*params, limit + 1],
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return HistoryPage(tuple(self._row(row) for row in rows), rows[-1][0] if more else None)

    def get_row(self, broadcast_id: str, contact_id: str) -> DispatchRow | None:
        """The contact's final row in the broadcast, or None (no row, still pending, or purged)."""
        rows = self._query(
            f"SELECT {_ROW_COLUMNS} FROM dispatch_rows WHERE broadcast_id = ? AND contact_id = ? AND status IS NOT NULL",
            (broadcast_id, contact_id),
        )
        return self._row(rows[0]) if rows else None

    def count_used_fallback(self, broadcast_id: str) -> int:
        """Rows of the broadcast whose contact got a fallback template instead of the flow."""
        found = self._query(
            "SELECT COUNT(*) FROM dispatch_rows WHERE broadcast_id = ? AND status IS NOT NULL AND used_fallback = 1",
            (broadcast_id,),
        )
        return int(found[0][0])

    def last_recorded_at(self, broadcast_id: str) -> float | None:
        """When the broadcast's latest final row was written (None before the first)."""
        found = self._query(
            "SELECT recorded_at FROM dispatch_rows WHERE broadcast_id = ? AND rec_seq IS NOT NULL"
            " ORDER BY rec_seq DESC LIMIT 1",
            (broadcast_id,),
        )
        return float(found[0][0]) if found and found[0][0] is not None else None

    def rows_after(self, broadcast_id: str, cursor: int | None, *, limit: int = 500) -> HistoryPage:
        """Rows recorded after ``cursor``, oldest first; ``next_cursor`` is where to continue."""
        rows = self._query(
            f"SELECT {_ROW_COLUMNS} FROM dispatch_rows WHERE broadcast_id = ? AND status IS NOT NULL AND rec_seq > ?"
            " ORDER BY rec_seq LIMIT ?",
            (broadcast_id, cursor or 0, limit),
        )
        return HistoryPage(tuple(self._row(row) for row in rows), rows[-1][0] if rows else cursor)

    def export_csv(
        self, broadcast_id: str, fileobj: IO[str], *, outcome: Outcome | None = None, search: str | None = None
    ) -> int:
        """Write the history (newest first) as CSV, page by page; returns the number of rows."""
        writer = csv.writer(fileobj)
        writer.writerow(CSV_COLUMNS)
        written, cursor = 0, None
        while True:
            page = self.history(broadcast_id, outcome=outcome, search=search, cursor=cursor, limit=_PAGE)
            writer.writerows(csv_cells(row) for row in page.rows)
            written += len(page.rows)
            if page.next_cursor is None:
                return written
            cursor = page.next_cursor
