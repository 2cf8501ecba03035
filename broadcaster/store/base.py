"""The store interface: one :class:`Store` protocol and the values it speaks in.

Written for SQLite today (``broadcaster.store.sqlite``) and for a PostgreSQL
implementation later, where several workers share one database. That is why the
dispatch operations are phrased as *claim work, then record outcomes and counters in one
transaction*: :meth:`Store.claim` inserts a pending row per contact before anything is
sent (the (broadcast, contact) uniqueness makes a second claim a no-op, so two workers —
or one restarted worker — never both send), and :meth:`Store.record` finalises rows and
bumps the broadcast's counters atomically and idempotently.

Every method is synchronous and short; the runtime calls it from a worker thread.
"""

from __future__ import annotations

from typing import IO, Callable, Iterable, Iterator, Protocol, Sequence

import attrs

from broadcaster.core.errors import BroadcasterError
from broadcaster.core.filters import Filter
from broadcaster.core.health import HealthStatus
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Broadcast, Contact, DispatchRow, Flow, Integration, Template
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.rateshare import LimitRow, RateSync, ShareRow
from broadcaster.core.results import DeliveryUpdate

from .outbox import OutboxEvent
from .tokens_sql import ApiToken, Scope
from .units_sql import Unit

__all__ = [
    "ApiToken",
    "CSV_COLUMNS",
    "Claim",
    "ConcurrentUpdate",
    "HealthStatus",
    "HistoryPage",
    "IntegrationHealth",
    "OutboxEvent",
    "Scope",
    "Store",
    "Unit",
    "WorkerInfo",
]

#: the history CSV export's header, in order
CSV_COLUMNS = (
    "contact",
    "contact_id",
    "channel",
    "status",
    "finer_status",
    "error_reason",
    "used_fallback",
    "sent_at",
    "delivered_at",
)


class ConcurrentUpdate(BroadcasterError):
    """A compare-and-set update lost a race: the stored state is not the expected one."""

    code = "CONFLICT"


@attrs.frozen
class IntegrationHealth:
    """What the runtime last concluded about an integration (the CLI shows it)."""

    integration: str
    status: HealthStatus
    detail: str = ""
    updated_at: float = 0.0
    #: the send rate to suggest: the provider seemed to allow more than the configured one
    allows_more: float | None = None


@attrs.frozen
class Claim:
    """A pending dispatch row: claimed before the send, no result recorded yet."""

    broadcast_id: str
    contact_id: str
    integration: str | None
    claimed_at: float


@attrs.frozen
class HistoryPage:
    """One page of a broadcast's history, newest first.

    ``next_cursor`` is None on the last page; pass it back to get the next one.
    """

    rows: tuple[DispatchRow, ...]
    next_cursor: int | None


@attrs.frozen
class WorkerInfo:
    """A ``broadcaster run`` process as the store knows it (``broadcaster workers``).

    A worker renews ``lease_until`` with each heartbeat; once that passes, any other worker
    marks it lost (``lost_at``) and may resolve the claims it left (``taken_over``: the
    broadcasts whose pending rows it held).
    """

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    lease_until: float
    broadcasts: tuple[str, ...] = ()
    lost_at: float | None = None
    taken_over: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return self.lost_at is None


class Store(Protocol):
    """Durable state of broadcaster. Unknown ids raise :class:`~broadcaster.core.errors.NotFound`."""

    # -- lifecycle
    def close(self) -> None: ...

    # -- contacts
    def upsert_contacts(self, contacts: Sequence[Contact]) -> int:
        """Insert or replace ``contacts`` in one transaction; returns how many."""
        ...

    def get_contact(self, contact_id: str) -> Contact: ...

    def count_contacts(self, audience_filter: Filter | str = "") -> int: ...

    def contacts_page(self, audience_filter: Filter | str = "", *, after_id: str | None, limit: int) -> list[Contact]:
        """Matching contacts with ``id > after_id`` in id order (keyset pagination)."""
        ...

    # -- configuration
    def put_integration(self, integration: Integration) -> None: ...
    def get_integration(self, name: str) -> Integration: ...
    def list_integrations(self) -> list[Integration]: ...
    def put_integration_health(self, health: IntegrationHealth) -> None: ...
    def get_integration_health(self, name: str) -> IntegrationHealth | None: ...
    def put_flow(self, flow: Flow) -> None: ...
    def get_flow(self, flow_id: str) -> Flow: ...
    def list_flows(self) -> list[Flow]: ...
    def set_flow_published(self, flow_id: str, published: bool) -> Flow: ...
    def put_template(self, integration: str, template: Template) -> None: ...
    def get_template(self, integration: str, name: str, language: str = "en") -> Template: ...
    def list_templates(self, integration: str | None = None) -> list[tuple[str, Template]]: ...

    # -- broadcasts
    def create_broadcast(
        self,
        broadcast: Broadcast,
        *,
        quota: int | None = None,
        sole_retry: bool = False,
        event: LifecycleEventKind | None = None,
        event_at: float = 0.0,
    ) -> Broadcast:
        """Insert ``broadcast`` (and, with ``event``, its lifecycle event in the same
        transaction: the outbox, :mod:`broadcaster.store.outbox`). With ``quota``, refuse it (QuotaExceeded) when that many
        DRAFT or SCHEDULED broadcasts exist already; with ``sole_retry``, refuse a retry
        whose source has a retry not yet terminal (RetryPending, naming it). The checks and
        the insert are one transaction, serialised against every other guarded creation, so
        they hold under concurrent requests from separate processes."""
        ...

    def get_broadcast(self, broadcast_id: str) -> Broadcast: ...
    def list_broadcasts(self, *, state: State | None = None, limit: int | None = None) -> list[Broadcast]: ...

    def update_broadcast(
        self,
        new: Broadcast,
        *,
        expected_state: State,
        snapshot: bool = False,
        event: LifecycleEventKind | None = None,
        event_at: float = 0.0,
    ) -> Broadcast:
        """Write ``new`` if the stored state is still ``expected_state``, else raise ConcurrentUpdate.

        In the same transaction: with ``snapshot`` the audience is materialised (as
        :meth:`snapshot_audience`), with ``event`` the lifecycle event is written to the outbox.

        The outcome counters (delivered/failed/skipped) are not written: only
        :meth:`record` and :meth:`apply_delivery_update` change them.
        """
        ...

    def due_broadcasts(self, now: float) -> list[Broadcast]: ...
    def retries_of(self, broadcast_id: str) -> list[Broadcast]: ...
    def count_quota(self) -> int: ...

    # -- audience
    def snapshot_audience(self, broadcast_id: str) -> int:
        """Materialise the member ids at fire time; sets and returns audienceSizeActual."""
        ...

    def audience_page(self, broadcast_id: str, *, after_id: str | None, limit: int) -> list[Contact]:
        """Members with ``id > after_id`` that have no row (pending or final) yet."""
        ...

    # -- dispatch rows
    def claim(self, broadcast_id: str, targets: Sequence[tuple[str, ...]], now: float) -> list[str]:
        """Insert pending rows for (contact_id, integration[, chat_id]); returns the contact ids newly claimed."""
        ...

    def release(self, broadcast_id: str, contact_ids: Sequence[str]) -> None:
        """Delete these contacts' pending rows (never a final one): their send was refused,
        so a later claim (this run's retry, or the next run) sends them."""
        ...

    def used_chats(self, broadcast_id: str, chats: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        """Which of these (integration, chat_id) pairs a claimed send of the broadcast already went to."""
        ...

    def rows_exist(self, broadcast_id: str, contact_ids: Sequence[str]) -> set[str]:
        """Which of these contacts have a row (claimed or final) in the broadcast."""
        ...

    def record(self, rows: Sequence[DispatchRow]) -> int:
        """Finalise rows and bump counters in one transaction; returns how many were new."""
        ...

    def pending(self, broadcast_id: str) -> list[Claim]: ...
    def failed_contact_ids(self, broadcast_id: str) -> Iterator[str]: ...
    def failed_with_reasons(self, broadcast_id: str, reasons: Iterable[str]) -> list[tuple[str, str | None, float]]: ...
    def count_rows(self, broadcast_id: str) -> dict[Outcome, int]: ...
    def count_status(self, broadcast_id: str, status: Status) -> int:
        """Final rows of the broadcast with this finer status (one SQL count)."""
        ...

    def apply_delivery_update(self, integration: str, update: DeliveryUpdate) -> bool: ...

    # -- history
    def history(
        self,
        broadcast_id: str,
        *,
        outcome: Outcome | None = None,
        search: str | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> HistoryPage: ...

    def get_row(self, broadcast_id: str, contact_id: str) -> DispatchRow | None: ...
    def count_used_fallback(self, broadcast_id: str) -> int: ...
    def last_recorded_at(self, broadcast_id: str) -> float | None: ...
    def count_existing_contacts(self, contact_ids: Sequence[str]) -> int: ...
    def rows_after(self, broadcast_id: str, cursor: int | None, *, limit: int = 500) -> HistoryPage: ...

    def export_csv(
        self, broadcast_id: str, fileobj: IO[str], *, outcome: Outcome | None = None, search: str | None = None
    ) -> int: ...

    # -- lifecycle events outbox (store/outbox.py)
    def add_event(self, kind: LifecycleEventKind, broadcast_id: str, at: float) -> None: ...
    def events(self, *, broadcast_id: str | None = None, after: int = 0, limit: int = 1000) -> list[OutboxEvent]: ...
    def claim_events(self, now: float, *, lease: float, limit: int) -> list[OutboxEvent]: ...
    def mark_hooked(self, seq: int, now: float) -> bool: ...
    def settle_event(
        self, seq: int, *, attempts: int, sent_to: Iterable[str], now: float, next_at: float | None
    ) -> bool: ...
    def release_events(self) -> int:
        """Free this worker's claims of undelivered events (its delivery has stopped, no
        round in flight): another worker claims them at once. Returns how many."""
        ...

    def next_event_at(self) -> float | None: ...

    # -- retention
    def purge_rows(self, older_than: float) -> int:
        """Delete rows (and delivered events) older than ``older_than``; counters stay."""
        ...

    # -- workers (many on PostgreSQL; one on SQLite)
    worker_id: str

    def start_worker(self, now: float, *, lease: float) -> None:
        """Register this store's worker (on SQLite: any other is gone, and marked lost)."""
        ...

    def heartbeat(self, now: float, *, lease: float, broadcasts: Sequence[str] = ()) -> None:
        """Register or renew this store's worker: live until ``now + lease``."""
        ...

    def mark_lost_workers(self, now: float) -> list[WorkerInfo]:
        """Mark workers whose lease ended before ``now`` as lost; returns them (newly lost only)."""
        ...

    def list_workers(self) -> list[WorkerInfo]: ...
    # -- audience units: many workers share one broadcast's contacts (store/units_sql.py)
    def claim_unit(self, broadcast_id: str, now: float, *, lease: float) -> Unit | None:
        """Lease the broadcast's next free (or expired) unit to this worker; None when none is left."""
        ...

    def units(self, broadcast_id: str) -> list[tuple[Unit, str | None, float | None, float | None]]: ...
    def unit_page(self, unit: Unit, *, after_id: str | None, limit: int) -> list[Contact]: ...
    def orphaned_claims(self, unit: Unit) -> list[tuple[str, str | None, float]]: ...
    def complete_units(self, broadcast_id: str, now: float) -> int: ...
    def release_units(self, broadcast_id: str, now: float) -> None: ...
    def joinable_broadcasts(self, now: float) -> list[str]: ...
    def settle_units(
        self, finished: Broadcast, *, event: LifecycleEventKind, event_at: float
    ) -> tuple[bool, Broadcast]:
        """Mark done, free the rest, finish the broadcast if every unit is done (exactly once)."""
        ...

    def retire_worker(self) -> None:
        """This worker stops cleanly: its row goes, its claims are no longer protected.

        Its outbox claims are not freed here: its deliveries may still be in flight (the
        worker retires before its outbox delivery ends); the delivery frees them when it has
        stopped (:meth:`release_events`)."""
        ...

    # -- shared provider limits (many workers on PostgreSQL; core.rateshare decides)
    def sync_rate_share(
        self, integration: str, decide: Callable[[list[ShareRow], LimitRow | None], RateSync]
    ) -> RateSync:
        """One renewal: read the integration's share rows and limit row, write what
        ``decide`` returns (this worker's row, a limit row to publish), atomically."""
        ...

    def rate_shares(self, integration: str) -> list[ShareRow]: ...
    def rate_limit(self, integration: str) -> LimitRow | None: ...

    # -- API tokens (store/tokens_sql.py; secrets and digests: broadcaster.api.tokens)
    def add_api_token(self, token: ApiToken) -> None:
        """Store a new token; a name already there is refused (ConfigError), nothing changed."""
        ...

    def import_api_tokens(self, tokens: Iterable[ApiToken]) -> list[str]:
        """Store the tokens not there yet (one transaction); returns the names already there."""
        ...

    def list_api_tokens(self) -> list[ApiToken]: ...
    def revoke_api_token(self, name: str) -> None:
        """Delete token ``name`` (NotFound naming the known ones if there is none)."""
        ...

    def api_token_by_digest(self, digest: str, now: float) -> ApiToken | None:
        """The live token with this digest, its last use recorded; read anew on every call."""
        ...
