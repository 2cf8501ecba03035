"""Leased audience units: how many workers share the contacts of one broadcast.

When a broadcast fires, the transaction that snapshots its audience also cuts the snapshot
into units of :data:`UNIT_SIZE` contacts: contiguous ranges of contact id, in the order the
audience is read (its primary key is (broadcast, contact), so a unit's pages are one index
range scan, and whether a unit is done is one range count). A unit row holds only its
bounds, so 1 000 000 contacts are 2 000 small rows and nothing is written per contact.

A worker claims a free unit — or one whose lease passed — with one conditional UPDATE over a
``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL: concurrent claimers skip each other's row;
SQLite: its one write lock, one worker anyway), renews the leases of its units with its
heartbeat (:mod:`broadcaster.store.workers_sql`), and marks a unit done once every contact in
it has a final row. The broadcast is finished by whichever worker's transaction sees every
unit done: the conditional UPDATE on its state (and a transaction lock on the broadcast, so
two workers finishing their last units at once cannot both miss each other's) makes that
exactly once, with its ``completed``/``cancelled`` event in the same transaction.

When a worker is lost its units are freed in the transaction that marks it lost; the next
claimer resolves the pending claims it left in the unit (:meth:`UnitStore.orphaned_claims`,
outcome unknown, never resent) and sends the rest.
"""

from __future__ import annotations

import zlib
from typing import Any, ContextManager, Sequence

import attrs

from broadcaster.core.lifecycle import LifecycleEventKind
from broadcaster.core.models import Broadcast, Contact

from .engine import Engine, Tx

__all__ = ["UNIT_SIZE", "Unit", "UnitStore"]

#: contacts per unit: one page of the dispatcher (PacingPlan.page_size), so a claim costs a
#: transaction per 500 sends, and a takeover resolves at most one unit's sends in flight
UNIT_SIZE = 500
#: the (broadcast_id, unit_no) of this worker's claimable units
#: (a worker's own units stay its own: it renews them, or its sends in flight would be resolved)
_CLAIMABLE = "done_at IS NULL AND (claimed_by IS NULL OR (lease_until < ? AND claimed_by != ?))"
#: a unit whose contacts all have a final row (u is the unit; only the audience's contacts
#: get rows, so counting the final rows in its range is enough). A count over one range of
#: the unique key, not a lookup per audience contact: on a broadcast whose rows the
#: planner's statistics did not know yet, PostgreSQL joined every contact of the unit with
#: every row of the broadcast (190 ms a check at 6 000 contacts, growing with the square)
_COMPLETE = (
    "(SELECT COUNT(*) FROM dispatch_rows d WHERE d.broadcast_id = u.broadcast_id AND d.contact_id >= u.first_id"
    " AND d.contact_id <= u.last_id AND d.status IS NOT NULL) >= u.size"
)
_FINISH_LOCK = 0x756E_6974_0000_0000  # ORed with a hash of the broadcast id


@attrs.frozen
class Unit:
    """A contiguous range of a broadcast's audience snapshot (contact ids first..last)."""

    broadcast_id: str
    no: int
    first_id: str
    last_id: str
    size: int


class UnitStore:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    worker_id: str
    engine: Engine

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @staticmethod
    def _contact(row: Sequence[Any]) -> Contact:
        raise NotImplementedError

    def _add_event(self, conn: Tx, kind: LifecycleEventKind, broadcast_id: str, at: float) -> None:
        raise NotImplementedError

    def _read_broadcast(self, conn: Tx, broadcast_id: str) -> Broadcast:
        raise NotImplementedError

    @staticmethod
    def _broadcast_values(broadcast: Broadcast) -> tuple[Any, ...]:
        raise NotImplementedError

    def _cut_units(self, conn: Tx, broadcast_id: str) -> None:
        """Cut the broadcast's audience snapshot into units (part of the snapshot's transaction)."""
        conn.execute("DELETE FROM broadcast_units WHERE broadcast_id = ?", (broadcast_id,))
        conn.execute(
            "INSERT INTO broadcast_units (broadcast_id, unit_no, first_id, last_id, size)"
            " SELECT ?, n, MIN(contact_id), MAX(contact_id), COUNT(*) FROM (SELECT contact_id,"
            " (ROW_NUMBER() OVER (ORDER BY contact_id) - 1) / ? AS n FROM audience WHERE broadcast_id = ?) s"
            " GROUP BY n",
            (broadcast_id, UNIT_SIZE, broadcast_id),
        )

    def claim_unit(self, broadcast_id: str, now: float, *, lease: float) -> Unit | None:
        """Lease the broadcast's first free unit (or one whose lease passed) to this worker
        until ``now + lease``; None when none is left or the broadcast is not SENDING."""
        with self._tx() as conn:
            rows = conn.execute(
                "UPDATE broadcast_units SET claimed_by = ?, lease_until = ? WHERE broadcast_id = ? AND unit_no ="
                f" (SELECT unit_no FROM broadcast_units WHERE broadcast_id = ? AND {_CLAIMABLE}"
                f" ORDER BY unit_no LIMIT 1{self.engine.skip_locked})"
                f" AND {_CLAIMABLE}"
                " AND EXISTS (SELECT 1 FROM broadcasts b WHERE b.id = ? AND b.state = 'SENDING')"
                " RETURNING broadcast_id, unit_no, first_id, last_id, size",
                (
                    self.worker_id,
                    now + lease,
                    broadcast_id,
                    broadcast_id,
                    now,
                    self.worker_id,
                    now,
                    self.worker_id,
                    broadcast_id,
                ),
            ).fetchall()
        return Unit(*rows[0]) if rows else None

    def units(self, broadcast_id: str) -> list[tuple[Unit, str | None, float | None, float | None]]:
        """Every unit of the broadcast with (claimed by, lease until, done at), in order."""
        rows = self._query(
            "SELECT broadcast_id, unit_no, first_id, last_id, size, claimed_by, lease_until, done_at"
            " FROM broadcast_units WHERE broadcast_id = ? ORDER BY unit_no",
            (broadcast_id,),
        )
        return [(Unit(*row[:5]), row[5], row[6], row[7]) for row in rows]

    def unit_page(self, unit: Unit, *, after_id: str | None, limit: int) -> list[Contact]:
        """The unit's audience members after ``after_id`` that have no row yet, in id order."""
        lower, bound = ("a.contact_id > ?", after_id) if after_id is not None else ("a.contact_id >= ?", unit.first_id)
        rows = self._query(
            "SELECT c.id, c.name, c.opted_out, c.fields, c.chats FROM audience a JOIN contacts c ON c.id = a.contact_id"
            f" WHERE a.broadcast_id = ? AND {lower} AND a.contact_id <= ? AND NOT EXISTS"
            " (SELECT 1 FROM dispatch_rows d WHERE d.broadcast_id = a.broadcast_id AND d.contact_id = a.contact_id)"
            " ORDER BY a.contact_id LIMIT ?",
            (unit.broadcast_id, bound, unit.last_id, limit),
        )
        return [self._contact(row) for row in rows]

    def orphaned_claims(self, unit: Unit) -> list[tuple[str, str | None, float]]:
        """(contact, integration, claimed at) of the unit's pending claims that no other live
        worker holds — a lost worker's sends whose reply was never recorded, or this store's
        own from a run that died (a unit this worker claims afresh has none of its sends in flight)."""
        return [
            (row[0], row[1], float(row[2] or 0.0))
            for row in self._query(
                "SELECT contact_id, integration, claimed_at FROM dispatch_rows WHERE broadcast_id = ?"
                " AND contact_id >= ? AND contact_id <= ? AND status IS NULL AND (claimed_by IS NULL OR claimed_by = ?"
                " OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = claimed_by AND w.lost_at IS NULL))"
                " ORDER BY contact_id",
                (unit.broadcast_id, unit.first_id, unit.last_id, self.worker_id),
            )
        ]

    def complete_units(self, broadcast_id: str, now: float) -> int:
        """Mark done this worker's units of the broadcast whose contacts all have a final row."""
        with self._tx() as conn:
            return self._complete(conn, broadcast_id, now)

    def _complete(self, conn: Tx, broadcast_id: str, now: float) -> int:
        cursor = conn.execute(
            "UPDATE broadcast_units SET done_at = ? WHERE broadcast_id = ? AND claimed_by = ? AND done_at IS NULL"
            " AND unit_no IN (SELECT u.unit_no FROM broadcast_units u"
            f" WHERE u.broadcast_id = ? AND u.claimed_by = ? AND u.done_at IS NULL AND {_COMPLETE})",
            (now, broadcast_id, self.worker_id, broadcast_id, self.worker_id),
        )
        return int(cursor.rowcount)

    def joinable_broadcasts(self, now: float) -> list[str]:
        """SENDING broadcasts a worker can work on now, oldest first: with a claimable unit,
        or with every unit done but not finished (its finisher died before finishing it)."""
        rows = self._query(
            "SELECT b.id FROM broadcasts b WHERE b.state = 'SENDING' AND (EXISTS (SELECT 1 FROM broadcast_units u"
            " WHERE u.broadcast_id = b.id AND u.done_at IS NULL AND (u.claimed_by IS NULL OR (u.lease_until < ?"
            " AND u.claimed_by != ?))) OR NOT EXISTS"
            " (SELECT 1 FROM broadcast_units u WHERE u.broadcast_id = b.id AND u.done_at IS NULL))"
            " ORDER BY b.started_at, b.id",
            (now, self.worker_id),
        )
        return [row[0] for row in rows]

    def release_units(self, broadcast_id: str, now: float) -> None:
        """A stopped run's units: the complete ones done, the others free for any worker."""
        with self._tx() as conn:
            self._complete(conn, broadcast_id, now)
            self._free(conn, broadcast_id)

    def _free(self, conn: Tx, broadcast_id: str) -> None:
        conn.execute(
            "UPDATE broadcast_units SET claimed_by = NULL, lease_until = NULL"
            " WHERE broadcast_id = ? AND claimed_by = ? AND done_at IS NULL",
            (broadcast_id, self.worker_id),
        )

    def settle_units(
        self, finished: Broadcast, *, event: LifecycleEventKind, event_at: float
    ) -> tuple[bool, Broadcast]:
        """End this worker's share of a broadcast, in one transaction: mark its complete units
        done, free its incomplete ones (a graceful stop's) for any worker, and — if every unit
        of the broadcast is now done and it is still SENDING — store ``finished`` (its final
        state) with ``event``. Returns (whether this call finished it, the broadcast now)."""
        broadcast_id = finished.id
        with self._tx() as conn:
            self.engine.lock(conn, _FINISH_LOCK | zlib.crc32(broadcast_id.encode()))
            self._complete(conn, broadcast_id, event_at)
            self._free(conn, broadcast_id)
            cursor = conn.execute(
                "UPDATE broadcasts SET body = ?, state = ?, run_at = ?, retry_of = ?, audience_size_estimate = ?,"
                " audience_size_actual = ?, started_at = ?, finished_at = ? WHERE id = ? AND state = 'SENDING'"
                " AND NOT EXISTS (SELECT 1 FROM broadcast_units u WHERE u.broadcast_id = ? AND u.done_at IS NULL)",
                (*self._broadcast_values(finished), broadcast_id, broadcast_id),
            )
            done = bool(cursor.rowcount)
            if done:
                self._add_event(conn, event, broadcast_id, event_at)
            return done, self._read_broadcast(conn, broadcast_id)
