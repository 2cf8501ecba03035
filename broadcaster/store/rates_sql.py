"""Shared provider limits in the SQL store: the share rows and the limit row per integration.

The store only reads and writes the rows; what they mean — who may send how much, what a
refusal elsewhere does to this worker's bucket — is decided by the pure core
(:mod:`broadcaster.core.rateshare`), called here between the read and the write so that
the whole renewal is one transaction under one lock (``Engine.lock``): two workers joining at
once see each other's row, never both an empty table.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Sequence

from broadcaster.core.rateshare import LimitRow, RateSync, ShareRow

from .engine import Engine, Tx

__all__ = ["RateShares"]

#: the lock key serialising renewals (any constant unique to broadcaster)
_RATES_LOCK = 0x6272_6F61_6473


def _limit(row: Sequence[Any]) -> LimitRow:
    return LimitRow(float(row[0]), float(row[1]), float(row[2]), str(row[3]))


class RateShares:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    worker_id: str
    engine: Engine

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def sync_rate_share(
        self, integration: str, decide: Callable[[list[ShareRow], LimitRow | None], RateSync]
    ) -> RateSync:
        """Read ``integration``'s share rows and limit row, let ``decide`` say what to
        write, write it — one transaction under the lock — and return the decision."""
        with self._tx() as conn:
            self.engine.lock(conn, _RATES_LOCK)
            rows = [
                ShareRow(str(r[0]), float(r[1]), float(r[2]))
                for r in conn.execute(
                    "SELECT worker_id, starts_at, lease_until FROM rate_shares WHERE integration = ?"
                    " ORDER BY worker_id",
                    (integration,),
                ).fetchall()
            ]
            found = conn.execute(
                "SELECT factor, paused_until, updated_at, updated_by FROM rate_limits WHERE integration = ?",
                (integration,),
            ).fetchone()
            limit = None if found is None else _limit(found)
            sync = decide(rows, limit)
            mine = sync.plan.row
            if mine is None:
                conn.execute(
                    "DELETE FROM rate_shares WHERE integration = ? AND worker_id = ?", (integration, self.worker_id)
                )
            else:
                if mine.worker_id != self.worker_id:
                    raise ValueError(f"a share row of {mine.worker_id!r} cannot be written by {self.worker_id!r}")
                conn.execute(
                    "INSERT INTO rate_shares (integration, worker_id, starts_at, lease_until) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (integration, worker_id) DO UPDATE SET starts_at = excluded.starts_at,"
                    " lease_until = excluded.lease_until",
                    (integration, mine.worker_id, mine.starts_at, mine.lease_until),
                )
            if sync.publish is not None:
                row = sync.publish
                conn.execute(
                    "INSERT INTO rate_limits (integration, factor, paused_until, updated_at, updated_by)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (integration) DO UPDATE SET factor = excluded.factor,"
                    " paused_until = excluded.paused_until, updated_at = excluded.updated_at,"
                    " updated_by = excluded.updated_by",
                    (integration, row.factor, row.paused_until, row.updated_at, row.updated_by),
                )
        return sync

    def rate_shares(self, integration: str) -> list[ShareRow]:
        """The share rows of ``integration`` as stored (live or not), by worker id."""
        rows = self._query(
            "SELECT worker_id, starts_at, lease_until FROM rate_shares WHERE integration = ? ORDER BY worker_id",
            (integration,),
        )
        return [ShareRow(str(r[0]), float(r[1]), float(r[2])) for r in rows]

    def rate_limit(self, integration: str) -> LimitRow | None:
        found = self._query(
            "SELECT factor, paused_until, updated_at, updated_by FROM rate_limits WHERE integration = ?",
            (integration,),
        )
        return None if not found else _limit(found[0])
