"""The lifecycle events outbox of the SQL store.

A state change and its event are one transaction: :meth:`SQLStore.create_broadcast` and
:meth:`SQLStore.update_broadcast` take ``event=`` and write the event row (with the
broadcast as stored after the change) before they commit, so an event of the CLI, the API
or a worker is never lost — nor written for a change that did not happen. Workers then
claim due rows atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's one write lock
does the same), deliver them (:mod:`broadcaster.runtime.outbox_delivery`) and settle them:
done, or due again after a backoff. A claim is a lease: a worker that dies holding one
loses it when the lease ends or when it is marked lost, and another worker delivers.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ContextManager, Iterable, Sequence

import attrs

from broadcaster.core.lifecycle import LifecycleEventKind
from broadcaster.core.models import Broadcast, LifecycleEvent
from broadcaster.serde import converter

from .engine import Engine, Tx

__all__ = ["OutboxEvent", "OutboxStore"]

_COLUMNS = "seq, event_id, kind, at, body, attempts, hooked_at, sent_to, done_at"


@attrs.frozen
class OutboxEvent:
    """One lifecycle event as the outbox holds it."""

    seq: int
    #: stable for the event's life: webhook delivery ids derive from it
    event_id: str
    event: LifecycleEvent
    #: webhook rounds made so far
    attempts: int = 0
    #: whether on_lifecycle_event has seen it
    hooked: bool = False
    #: the endpoints (by label) that answered 2xx
    sent_to: tuple[str, ...] = ()
    #: when every delivery ended (delivered or given up); None while some is owed
    done_at: float | None = None


def _event(row: Sequence[Any]) -> OutboxEvent:
    seq, event_id, kind, at, body, attempts, hooked_at, sent_to, done_at = row
    broadcast = converter().structure(json.loads(body), Broadcast)
    return OutboxEvent(
        seq=int(seq), event_id=event_id, event=LifecycleEvent(LifecycleEventKind(kind), broadcast, float(at)),
        attempts=int(attempts), hooked=hooked_at is not None, sent_to=tuple(json.loads(sent_to)),
        done_at=None if done_at is None else float(done_at),
    )  # fmt: skip


class OutboxStore:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    worker_id: str
    engine: Engine

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _read_broadcast(self, conn: Tx, broadcast_id: str) -> Broadcast:
        raise NotImplementedError

    def _add_event(self, conn: Tx, kind: LifecycleEventKind, broadcast_id: str, at: float) -> None:
        """Write the event of a change inside that change's transaction ``conn``."""
        broadcast = self._read_broadcast(conn, broadcast_id)
        body = json.dumps(converter().unstructure(broadcast), ensure_ascii=False)
        conn.execute(
            "INSERT INTO outbox (event_id, kind, broadcast_id, at, body, next_at) VALUES (?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, kind.value, broadcast_id, at, body, at),
        )

    def add_event(self, kind: LifecycleEventKind, broadcast_id: str, at: float) -> None:
        """An event that is no change of state (``overdue``)."""
        with self._tx() as conn:
            self._add_event(conn, kind, broadcast_id, at)

    def events(self, *, broadcast_id: str | None = None, after: int = 0, limit: int = 1000) -> list[OutboxEvent]:
        """Events oldest first (delivered or not), optionally of one broadcast."""
        where = "" if broadcast_id is None else " AND broadcast_id = ?"
        rows = self._query(
            f"SELECT {_COLUMNS} FROM outbox WHERE seq > ?{where} ORDER BY seq LIMIT ?",
            (after, *([] if broadcast_id is None else [broadcast_id]), limit),
        )
        return [_event(row) for row in rows]

    def claim_events(self, now: float, *, lease: float, limit: int) -> list[OutboxEvent]:
        """Lease up to ``limit`` due, undelivered events to this worker, oldest first.

        Claimable: nobody holds it, or its holder's lease ended (a lost worker's claims are
        freed when it is marked lost, :mod:`.workers_sql`). Never one this worker holds."""
        with self._tx() as conn:
            rows = conn.execute(
                f"UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE seq IN (SELECT seq FROM outbox"
                " WHERE done_at IS NULL AND next_at <= ? AND (claimed_by IS NULL OR (claimed_by != ? AND"
                " lease_until < ?))"
                f" ORDER BY seq LIMIT ?{self.engine.skip_locked}) RETURNING {_COLUMNS}",
                (self.worker_id, now + lease, now, self.worker_id, now, limit),
            ).fetchall()
        return sorted((_event(row) for row in rows), key=lambda e: e.seq)

    def mark_hooked(self, seq: int, now: float) -> bool:
        """Record that on_lifecycle_event saw event ``seq``; False if this worker lost its claim."""
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET hooked_at = ? WHERE seq = ? AND claimed_by = ? AND hooked_at IS NULL",
                (now, seq, self.worker_id),
            )
            return bool(cursor.rowcount)

    def settle_event(
        self, seq: int, *, attempts: int, sent_to: Iterable[str], now: float, next_at: float | None
    ) -> bool:
        """End this worker's claim of ``seq``: done (``next_at`` None) or due again at ``next_at``."""
        done = now if next_at is None else None
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET attempts = ?, sent_to = ?, done_at = ?, next_at = ?, claimed_by = NULL,"
                " lease_until = NULL WHERE seq = ? AND claimed_by = ?",
                (attempts, json.dumps(sorted(set(sent_to))), done, now if next_at is None else next_at, seq,
                 self.worker_id),
            )  # fmt: skip
            return bool(cursor.rowcount)

    def release_events(self) -> int:
        """Free this worker's claims of undelivered events: its delivery has stopped, so
        another worker may claim them at once rather than after the lease. Only to be called
        once no round of this worker is in flight — a claim freed under a round still posting
        lets a second worker deliver the event again (the first's settle then finds the claim
        gone). Returns how many were freed."""
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ? AND done_at IS NULL",
                (self.worker_id,),
            )
            return int(cursor.rowcount)

    def next_event_at(self) -> float | None:
        """When the earliest undelivered event nobody holds is due (None: none is owed)."""
        found = self._query("SELECT MIN(next_at) FROM outbox WHERE done_at IS NULL AND claimed_by IS NULL")
        return None if found[0][0] is None else float(found[0][0])

    def _purge_events(self, conn: Tx, older_than: float) -> None:
        conn.execute("DELETE FROM outbox WHERE done_at < ?", (older_than,))
