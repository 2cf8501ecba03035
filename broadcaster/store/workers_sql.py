"""The worker registry of the SQL store: heartbeats, leases, lost workers.

A heartbeat also renews the leases of the worker's audience units (store/units_sql.py);
marking a worker lost frees its units, rate shares and outbox claims in that transaction.

A worker's row says it lives until ``lease_until``; it renews the lease with every
heartbeat. Another worker that finds the lease passed marks it lost, in one statement
(``lost_at IS NULL`` makes two finders mark it once), and records which broadcasts held its
pending claims — from then on :meth:`SQLStore.record` lets those claims be resolved
(``outcome_unknown``, never resent). Times are the workers' clocks: hosts sharing a store
must keep them in step (NTP), and the lease is many heartbeats long to absorb skew.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, ContextManager, Sequence

import attrs

from .base import WorkerInfo
from .engine import Engine, Tx

__all__ = ["WorkerRegistry"]

_COLUMNS = "id, host, pid, started_at, heartbeat_at, lease_until, broadcasts, lost_at, taken_over"


def _worker(row: Sequence[Any]) -> WorkerInfo:
    return WorkerInfo(
        id=row[0], host=row[1], pid=int(row[2]), started_at=float(row[3]), heartbeat_at=float(row[4]),
        lease_until=float(row[5]), broadcasts=tuple(json.loads(row[6])),
        lost_at=None if row[7] is None else float(row[7]), taken_over=tuple(json.loads(row[8])),
    )  # fmt: skip


class WorkerRegistry:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    worker_id: str
    engine: Engine

    def start_worker(self, now: float, *, lease: float) -> None:
        """Register this worker. On a one-worker engine any other registered worker is gone
        (the run lock says so): it is marked lost and its broadcasts freed at once."""
        if self.engine.exclusive:
            with self._tx() as conn:
                conn.execute("UPDATE workers SET lost_at = ? WHERE id != ? AND lost_at IS NULL", (now, self.worker_id))
                conn.execute(
                    "UPDATE broadcast_units SET claimed_by = NULL, lease_until = NULL"
                    " WHERE claimed_by != ? AND done_at IS NULL",
                    (self.worker_id,),
                )
                conn.execute(
                    "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by != ?", (self.worker_id,)
                )
        self.heartbeat(now, lease=lease)
        self.mark_lost_workers(now)  # a lost worker's broadcasts can be taken at once

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def heartbeat(self, now: float, *, lease: float, broadcasts: Sequence[str] = ()) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO workers (id, host, pid, started_at, heartbeat_at, lease_until, broadcasts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
                " lease_until = excluded.lease_until, broadcasts = excluded.broadcasts, lost_at = NULL",
                (
                    self.worker_id,
                    socket.gethostname(),
                    os.getpid(),
                    now,
                    now,
                    now + lease,
                    json.dumps(list(broadcasts)),
                ),
            )
            # the units it works on live as long as it does
            conn.execute(
                "UPDATE broadcast_units SET lease_until = ? WHERE claimed_by = ? AND done_at IS NULL",
                (now + lease, self.worker_id),
            )

    def mark_lost_workers(self, now: float) -> list[WorkerInfo]:
        lost = []
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM workers WHERE lost_at IS NULL AND lease_until < ? AND id != ?",
                (now, self.worker_id),
            ).fetchall()
            for row in rows:
                held = [r[0] for r in conn.execute(
                    "SELECT broadcast_id FROM dispatch_rows WHERE claimed_by = ? AND status IS NULL UNION"
                    " SELECT broadcast_id FROM broadcast_units WHERE claimed_by = ? AND done_at IS NULL"
                    " ORDER BY broadcast_id",
                    (row[0], row[0]),
                ).fetchall()]  # fmt: skip
                marked = conn.execute(
                    "UPDATE workers SET lost_at = ?, taken_over = ? WHERE id = ? AND lost_at IS NULL",
                    (now, json.dumps(held), row[0]),
                )
                if marked.rowcount:
                    conn.execute(
                        "UPDATE broadcast_units SET claimed_by = NULL, lease_until = NULL"
                        " WHERE claimed_by = ? AND done_at IS NULL",
                        (row[0],),
                    )
                    conn.execute("DELETE FROM rate_shares WHERE worker_id = ?", (row[0],))
                    conn.execute(
                        "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?", (row[0],)
                    )
                    lost.append(attrs.evolve(_worker(row), lost_at=now, taken_over=tuple(held)))
        return lost

    def list_workers(self) -> list[WorkerInfo]:
        rows = self._query(f"SELECT {_COLUMNS} FROM workers ORDER BY lost_at IS NOT NULL, started_at, id")
        return [_worker(row) for row in rows]

    def retire_worker(self) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE broadcast_units SET claimed_by = NULL, lease_until = NULL"
                " WHERE claimed_by = ? AND done_at IS NULL",
                (self.worker_id,),
            )
            conn.execute("DELETE FROM rate_shares WHERE worker_id = ?", (self.worker_id,))
            conn.execute("DELETE FROM workers WHERE id = ?", (self.worker_id,))
