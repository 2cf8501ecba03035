"""The dispatcher: a sans-io state machine that makes every decision of one run.

Fed inputs (a page loaded, a send's result, a timer, a cancel, an unpublish) with the
caller's ``now``, it answers with actions (load a page, send, record rows, finished) and
exposes ``next_deadline()``. It never performs I/O and never reads a clock.

How a run flows: pages of the audience are requested one at a time, each contact goes
through pre-flight (a skip row, or a send plan), sendable contacts are cut into batches;
up to ``concurrent_batches`` batches hold a slot, each with at most
``in_flight_per_batch`` sends outstanding, and every send first takes a token from its
integration's bucket. For a provider that takes many recipients per request
(``ChannelSpec.max_batch`` > 1) the sends of a batch that share a message go out as one
SendBatch: one token and one in-flight place for the request, one result per contact. A rate-limited reply puts the contact back at the head of its
batch, which leaves its slot and waits out an exponential backoff (never less than the
provider's hint); each batch has a budget of such rounds, after which its unfinished
tail is FAILED ``<provider>:rate_limit_exhausted``. A contact is sent at most once
(apart from those retries, which the provider refused), and every contact ends with
exactly one row.

A refused send (rate limited, not sent, rerouted) provably never went out, so its claim
is released (ReleaseClaims) while the contact waits: a crash then leaves it to be sent by
the next run, not outcome unknown. A stop (StopRequested: the worker is shutting down,
the broadcast is not over) sends nothing new, lets the sends in flight finish and write
their rows, and ends with Stopped; the contacts it did not reach have no row at all.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Iterable, Mapping, MutableMapping, cast

from .backoff import BackoffPolicy, RandomSource
from .channels import ChannelSpec
from .events import (
    Action,
    CancelRequested,
    Finished,
    FlowUnpublished,
    Input,
    LoadPage,
    PageLoaded,
    RecordRows,
    ReleaseClaims,
    Send,
    SendBatch,
    SendCompleted,
    Stopped,
    StopRequested,
    TimerFired,
)
from .models import Broadcast, DispatchRow, Flow, Mode
from .outcomes import ErrorKind, Outcome, Status, outcome_of
from .pacing import PacingPlan
from .preflight import Planner, Skip
from .ratelimit import TokenBucket, buckets_for
from .reasons import ErrorReason
from .results import ChatTaken, Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, Rerouted, SendResult

__all__ = ["Dispatcher", "DispatchStats"]

_MAX_REROUTES = 2

_S_DELIVERED, _S_ACCEPTED, _S_PROVIDER_ERROR = Status.DELIVERED, Status.ACCEPTED, Status.PROVIDER_ERROR


class DispatchStats:
    """What happened inside the run, beyond the rows (for reports and health)."""

    __slots__ = (
        "sent",
        "rate_limit_retries",
        "rerouted",
        "fallbacks",
        "delivered",
        "failed",
        "skipped",
        "exhausted_batches",
    )

    def __init__(self) -> None:
        self.sent = 0
        self.rate_limit_retries = 0
        self.rerouted = 0
        self.fallbacks = 0
        self.delivered = 0
        self.failed = 0
        self.skipped = 0
        self.exhausted_batches = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


_IDLE, _READY, _ACTIVE, _DELAYED = "idle", "ready", "active", "delayed"

_NONE_REFUSED: frozenset[str] = frozenset()


class _Batch:
    """A slice of a page. ``where`` says which structure holds it (one at a time)."""

    __slots__ = ("seq", "queue", "in_flight", "retries", "not_before", "where")

    def __init__(self, seq: int, sends: Iterable[Send]) -> None:
        self.seq = seq
        self.queue: deque[Send] = deque(sends)
        self.in_flight = 0
        self.retries = 0
        self.not_before = 0.0
        self.where = _READY


class _Request:
    """One SendBatch in flight: how many of its contacts still await their result."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


class Dispatcher:
    def __init__(
        self,
        *,
        broadcast: Broadcast,
        flow: Flow | None,
        channels: Mapping[str, ChannelSpec],
        now: float,
        rng: RandomSource,
        pacing: PacingPlan = PacingPlan(),
        backoff: BackoffPolicy = BackoffPolicy(),
        rates: Mapping[str, float] | None = None,
        rows_per_record: int = 1,
        shared_buckets: MutableMapping[str, TokenBucket] | None = None,
        warmup: float = 0.0,
        bucket_type: type[TokenBucket] | None = None,
        closed_windows: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        """``channels`` maps each integration name to its provider's ChannelSpec;
        ``rates`` optionally overrides an integration's send rate (messages/s).

        ``rows_per_record`` lets final rows pile up to that many before a RecordRows
        carries them (all that are left always precede Finished). A real run keeps 1: a
        row not yet written is a claim a crash turns into ``outcome_unknown``. A shell that
        only counts rows (the simulator) saves an action per contact with a larger one.

        ``shared_buckets`` are the token buckets of every run in the shell's process, by
        integration (see :func:`~broadcaster.core.ratelimit.buckets_for`): concurrent
        runs through one integration then share its rate. ``warmup`` is how long a new
        bucket takes to reach its rate (see :mod:`~broadcaster.core.ratelimit`; the runtime
        and the simulator use ``DEFAULT_WARMUP``); ``bucket_type`` makes new buckets (see
        ``buckets_for``). ``closed_windows`` are the windows a
        provider said were closed, for a retry (:func:`~broadcaster.core.retry.closed_windows`)."""
        if rows_per_record < 1:
            raise ValueError(f"rows_per_record must be at least 1, not {rows_per_record}")
        self.broadcast = broadcast
        self.pacing = pacing
        self.backoff = backoff
        self.rng = rng
        self.channels = channels
        self.stats = DispatchStats()
        self._planner = Planner(broadcast=broadcast, flow=flow, channels=channels, closed_windows=closed_windows)
        self._buckets = buckets_for(
            channels, rates=rates or {}, now=now, shared=shared_buckets, warmup=warmup, bucket_type=bucket_type
        )
        self._providers = {name: spec.provider for name, spec in channels.items()}
        self._per_batch = pacing.in_flight_per_batch
        self._broadcast_id = broadcast.id
        self._max_in_flight = pacing.max_in_flight
        self._concurrent = pacing.concurrent_batches
        self._actions: list[Action] = []
        self._rows: list[DispatchRow] = []
        self._rows_per_record = rows_per_record
        self._cursor: str | None = None
        self._loading = False
        self._exhausted = False
        self._finished = False
        self._ready: deque[_Batch] = deque()
        self._delayed: list[tuple[float, int, _Batch]] = []
        self._active: list[_Batch] = []
        # The active batches _issue can act on: every one below its in-flight cap that has
        # sends queued or nothing in flight (it can send, or give its slot back). A superset
        # is harmless (_issue drops a batch that turns out idle: queue empty, replies due;
        # the next reply puts it back); a missing one would stall it.
        self._open: set[_Batch] = set()
        self._in_flight: dict[str, tuple[_Batch, Send, float]] = {}
        # Integrations whose provider takes many recipients per request (SendBatch); a
        # request, not a contact, is what counts against buckets and in-flight caps.
        self._max_batch = {name: spec.max_batch for name, spec in channels.items() if spec.max_batch > 1}
        self._grouped: dict[str, _Request] = {}
        #: contacts in flight beyond one per request (in_flight - requests in flight)
        self._grouped_extra = 0
        self._batch_seq = 0
        # The chats of sends planned in this run, at least every one not yet issued. An
        # issued send's chat is claimed in the store before the next page is read, and the
        # page then lists it in used_chats; until it is issued only this set knows it,
        # however many pages later its duplicate comes (a slow, rate-limited run reads pages
        # ahead of its sends). Pruned to the queued sends' chats now and then (_prune_chats),
        # not on every send: this is the per-contact path.
        self._planned_chats: set[tuple[str, str]] = set()
        self._prune_at = 16 * pacing.page_size
        self._broken: set[str] = set()
        self._blocked_until: float | None = None
        # Set whenever an active batch may have finished (empty queue, nothing in flight)
        # since the last full pass of _issue, which gives such batches their slot back.
        self._may_free = False
        self._drain_status: Status | None = None
        self._cancelled = False
        self._stopping = False
        if flow is not None and broadcast.mode is Mode.FLOW and not flow.published:
            self._drain_status = Status.FLOW_UNPUBLISHED
        self._pump(now)

    # -- the public surface -----------------------------------------------------------

    def handle(self, event: Input, *, now: float) -> list[Action]:
        """Feed one input; return the actions to perform, in order."""
        if self._finished:
            raise RuntimeError(f"the dispatcher of broadcast {self.broadcast.id} has finished; got {event!r}")
        kind = type(event)
        if kind is SendCompleted:
            completed = cast(SendCompleted, event)
            self._on_result(completed.contact_id, completed.result, now, completed.left_at)
        elif kind is PageLoaded:
            self._on_page(event, now)  # type: ignore[arg-type]
        elif kind is TimerFired:
            pass
        elif self._stopping:
            pass  # a cancel or unpublish while stopping is the next run's to apply (it reads the store)
        elif kind is CancelRequested:
            self._cancelled = True
            self._drain(Status.CANCELLED, now)
        elif kind is FlowUnpublished:
            if self.broadcast.mode is Mode.FLOW:
                self._drain(Status.FLOW_UNPUBLISHED, now)
        elif kind is StopRequested:
            self._stop()
        else:
            raise TypeError(f"not a dispatcher input: {event!r}")
        self._pump(now)
        return self.actions()

    def complete(
        self, contact_id: str, result: SendResult, *, now: float, left_at: float | None = None
    ) -> list[Action]:
        """Exactly ``handle(SendCompleted(contact_id, result, left_at), now=now)``: the same decisions
        and the same actions, without building the event or dispatching on its type. For a
        shell that feeds one result per send in a hot loop (the simulator)."""
        if self._finished:
            event = SendCompleted(contact_id, result)
            raise RuntimeError(f"the dispatcher of broadcast {self.broadcast.id} has finished; got {event!r}")
        if type(result) is Delivered and not self._grouped:
            # _on_result's common case (no SendBatch in flight), written out: the same steps
            entry = self._in_flight.pop(contact_id, None)
            if entry is None:
                raise RuntimeError(f"a result for contact {contact_id!r}, which has no send in flight")
            batch, send, sent_at = entry
            batch.in_flight -= 1
            if batch.where is _ACTIVE:
                self._open.add(batch)
            self._delivered(send, result, sent_at if left_at is None else left_at, now)
            if not batch.queue and batch.in_flight == 0:
                self._may_free = True
        else:
            self._on_result(contact_id, result, now, left_at)
        self._pump(now)
        # actions(), inlined: this runs once per send
        out = self._actions
        rows = self._rows
        if rows and len(rows) >= self._rows_per_record:
            out.append(RecordRows(tuple(rows)))
            rows.clear()
        self._actions = []
        return out

    def actions(self) -> list[Action]:
        """Drain the actions produced so far (the constructor produces the first LoadPage)."""
        out = self._actions
        rows = self._rows
        if rows and len(rows) >= self._rows_per_record:
            out.append(RecordRows(tuple(rows)))
            rows.clear()
        self._actions = []
        return out

    def next_deadline(self) -> float | None:
        """When to feed TimerFired next, or None when only a reply or page can move things."""
        deadline = self._blocked_until
        if self._delayed:
            first = self._delayed[0][0]
            deadline = first if deadline is None else min(deadline, first)
        return deadline

    @property
    def finished(self) -> bool:
        """Finished or Stopped was emitted: no input is accepted any more."""
        return self._finished

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def in_flight(self) -> int:
        """Contacts whose send is out (a SendBatch counts each of its contacts)."""
        return len(self._in_flight)

    @property
    def requests_in_flight(self) -> int:
        """Requests out: what the pacing plan's in-flight caps bound."""
        return len(self._in_flight) - self._grouped_extra

    # -- inputs -------------------------------------------------------------------------

    def _on_page(self, page: PageLoaded, now: float) -> None:
        if not self._loading:
            raise RuntimeError("PageLoaded arrived without a LoadPage outstanding")
        self._loading = False
        if self._stopping:
            return  # nobody on it is claimed: the next run reads the page again
        self._exhausted = page.exhausted
        contacts = page.contacts
        if contacts:
            self._cursor = contacts[-1].id
        if self._drain_status is not None:
            unpublished = self._drain_status is Status.FLOW_UNPUBLISHED
            for contact in contacts:
                early = self._planner.before_flow(contact) if unpublished else None
                if early is not None:
                    self._skip_row(contact.id, contact.name, early.status, early.integration, now)
                else:
                    self._skip_row(contact.id, contact.name, self._drain_status, None, now)
            return
        used = page.used_chats
        if len(self._planned_chats) >= self._prune_at:
            self._prune_chats()
        window = self._planned_chats
        sends: list[Send] = []
        for contact, decision in zip(contacts, self._planner.decide_many(contacts, now), strict=True):
            if type(decision) is Skip:
                self._skip_row(contact.id, contact.name, decision.status, decision.integration, now)
                continue
            integration, chat_id, message, used_fallback = decision  # type: ignore[misc]
            key = (integration, chat_id)
            if key in window or key in used:
                self._skip_row(contact.id, contact.name, Status.DEDUP_HIT, integration, now)
                continue
            window.add(key)
            sends.append(Send(contact.id, contact.name, integration, chat_id, message, used_fallback))
        size = self.pacing.batch_size
        for start in range(0, len(sends), size):
            self._batch_seq += 1
            self._ready.append(_Batch(self._batch_seq, sends[start : start + size]))

    def _on_result(self, contact_id: str, result: SendResult, now: float, left_at: float | None = None) -> None:
        entry = self._in_flight.pop(contact_id, None)
        if entry is None:
            raise RuntimeError(f"a result for contact {contact_id!r}, which has no send in flight")
        batch, send, sent_at = entry
        if left_at is not None:
            sent_at = left_at  # when it really left (see SendCompleted)
        request = self._grouped.pop(contact_id, None) if self._grouped else None
        if request is not None and request.left > 1:
            # Part of a SendBatch whose other results are still to come: the request
            # holds its place in the batch until the last one.
            request.left -= 1
            self._grouped_extra -= 1
        else:
            batch.in_flight -= 1
            if batch.where is _ACTIVE:
                self._open.add(batch)
        kind = type(result)
        if kind is RateLimited or kind is NotSent or kind is Rerouted:
            if self._drain_status is not None:
                # Refused, so never sent; after a cancel it is not sent again.
                self._skip_row(send.contact_id, send.contact_name, self._drain_status, send.integration, now)
                return
            # Refused, so never sent: no claim while it waits (a crash must not make it
            # outcome unknown); its next send claims it again.
            self._actions.append(ReleaseClaims((send.contact_id,)))
            if self._stopping:
                return  # not sent again in this run; the next run sends it
        if kind is Delivered:
            self._delivered(send, cast(Delivered, result), sent_at, now)
        elif kind is Failed:
            failed = cast(Failed, result)
            reason, fkind = failed.reason, failed.kind
            if fkind is ErrorKind.INTEGRATION and reason.reason == "auth_failed":
                self._broken.add(send.integration)
                status = Status.AUTH_FAILED
            elif fkind is ErrorKind.UNKNOWN:
                # e.g. a garbled 2xx: the provider may well have taken it, so the row says
                # so (``history --status outcome_unknown`` finds it), never "refused"
                status = Status.OUTCOME_UNKNOWN
            else:
                status = Status.PROVIDER_ERROR
            self._row(send, status, now, sent_at=sent_at, reason=reason, kind=fkind)
        elif kind is RateLimited:
            self._on_rate_limited(batch, send, cast(RateLimited, result), now, sent_at)
        elif kind is ChatTaken:
            # a dedup hit found at claim time rather than at planning time: nothing left
            self._skip_row(send.contact_id, send.contact_name, Status.DEDUP_HIT, send.integration, now)
        elif kind is OutcomeUnknown:
            reason = cast(OutcomeUnknown, result).reason
            self._row(send, Status.OUTCOME_UNKNOWN, now, sent_at=sent_at, reason=reason, kind=ErrorKind.UNKNOWN)
        elif kind is NotSent:
            # Refused before it left: safe to send again, paid from the same budget.
            not_sent = cast(NotSent, result)
            self._retry_later(batch, send, None, not_sent.reason, ErrorKind.TRANSIENT, Status.PROVIDER_ERROR, now)
        elif kind is Rerouted:
            if send.attempt > _MAX_REROUTES:
                reason = cast(Rerouted, result).reason or ErrorReason(self._provider(send), None, "too_many_reroutes")
                self._row(
                    send, Status.PROVIDER_ERROR, now, sent_at=sent_at, reason=reason, kind=ErrorKind.PERMANENT_CONTACT
                )
            else:
                self.stats.rerouted += 1
                moved = Send(
                    send.contact_id,
                    send.contact_name,
                    send.integration,
                    cast(Rerouted, result).chat_id,
                    send.message,
                    send.used_fallback,
                    send.attempt + 1,
                )
                batch.queue.appendleft(moved)
                self._reschedule(batch)
        else:
            raise TypeError(f"not a send result: {result!r}")
        if not batch.queue and batch.in_flight == 0:
            self._may_free = True

    def _delivered(self, send: Send, result: Delivered, sent_at: float, now: float) -> None:
        # The common case, written out (no keyword plumbing through _row): it runs once per contact.
        self.stats.delivered += 1
        bucket = self._buckets[send.integration]
        bucket.accepted(now, sent_at=sent_at)  # it measures the provider's limit
        if result.rate is not None:
            bucket.reported(now, result.rate, sent_at=sent_at)  # keep within the budget it reports
        confirmed = result.confirmed
        self._rows.append(
            DispatchRow(
                self._broadcast_id,
                send.contact_id,
                _S_DELIVERED if confirmed else _S_ACCEPTED,
                send.contact_name,
                send.integration,
                None,
                None,
                send.used_fallback,
                sent_at,
                now if confirmed else None,
                result.message_id,
                now,
            )
        )

    def _on_rate_limited(self, batch: _Batch, send: Send, result: RateLimited, now: float, sent_at: float) -> None:
        if result.scope == "integration":
            self._buckets[send.integration].throttled(now, pause=result.retry_after, sent_at=sent_at)
        reason = ErrorReason.rate_limit_exhausted(self._provider(send))
        self._retry_later(
            batch, send, result.retry_after, reason, ErrorKind.RATE_LIMITED, Status.RATE_LIMIT_EXHAUSTED, now
        )

    def _retry_later(
        self,
        batch: _Batch,
        send: Send,
        hint: float | None,
        reason: ErrorReason,
        kind: ErrorKind,
        status: Status,
        now: float,
    ) -> None:
        """Put the contact back at the head of its batch and back the batch off — or,
        with the budget spent, fail the batch's unfinished tail."""
        retry = Send(
            send.contact_id,
            send.contact_name,
            send.integration,
            send.chat_id,
            send.message,
            send.used_fallback,
            send.attempt + 1,
        )
        batch.queue.appendleft(retry)
        if batch.not_before > now:
            # Already backing off (another in-flight send of this batch got here first):
            # one round, one unit of budget; only a longer hint extends the wait.
            if hint is not None and now + hint > batch.not_before:
                self._delay(batch, now + hint)
            return
        if batch.retries >= self.backoff.budget:
            if batch.retries == self.backoff.budget:
                # Counted once: sends still in flight may come back refused later.
                self.stats.exhausted_batches += 1
                batch.retries += 1
            while batch.queue:
                self._row(batch.queue.popleft(), status, now, reason=reason, kind=kind)
            return
        delay = self.backoff.delay(batch.retries, self.rng, hint=hint)
        batch.retries += 1
        self.stats.rate_limit_retries += 1
        self._delay(batch, now + delay)

    def _delay(self, batch: _Batch, until: float) -> None:
        self._unplace(batch)
        batch.not_before = until
        batch.where = _DELAYED
        heapq.heappush(self._delayed, (until, batch.seq, batch))

    def _unplace(self, batch: _Batch) -> None:
        if batch.where is _ACTIVE:
            self._active.remove(batch)
            self._open.discard(batch)
        elif batch.where is _READY:
            self._ready.remove(batch)
        # a stale heap entry is recognised (and dropped) when popped
        batch.where = _IDLE

    def _reschedule(self, batch: _Batch) -> None:
        """New work for a batch that holds no place (it gave its slot back)."""
        if batch.where is _IDLE:
            batch.where = _READY
            self._ready.appendleft(batch)

    def _drain(self, status: Status, now: float) -> None:
        """Cancel or unpublish: everything not yet sent is skipped; in-flight sends finish."""
        if self._drain_status is not None:
            return
        self._drain_status = status
        batches = list(self._active) + list(self._ready) + [entry[2] for entry in self._delayed]
        self._active.clear()
        self._open.clear()
        self._ready.clear()
        self._delayed.clear()
        for batch in batches:
            batch.where = _IDLE
            while batch.queue:
                send = batch.queue.popleft()
                self._skip_row(send.contact_id, send.contact_name, status, send.integration, now)

    def _stop(self) -> None:
        """Send nothing new: drop every queued send (none holds a claim: a refused one
        was released) and read no more pages. Sends in flight finish (_pump ends with
        Stopped when the last is back)."""
        self._stopping = True
        for batch in [*self._active, *self._ready, *(entry[2] for entry in self._delayed)]:
            batch.where = _IDLE
            batch.queue.clear()
        self._active.clear()
        self._open.clear()
        self._ready.clear()
        self._delayed.clear()

    def _prune_chats(self) -> None:
        """Keep only the chats of sends still queued (issued ones are the store's to know)."""
        batches = [*self._active, *self._ready, *(entry[2] for entry in self._delayed)]
        self._planned_chats = {(send.integration, send.chat_id) for batch in batches for send in batch.queue}
        # amortised: the next prune waits until as many keys again have been planned
        self._prune_at = max(2 * len(self._planned_chats), 16 * self.pacing.page_size)

    # -- the engine ----------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self._finished:
            return
        if self._stopping:
            # nothing waits for a token or a backoff any more: only replies move things
            self._blocked_until = None
            if not self._in_flight and not self._loading:
                self._flush_rows()
                self._finished = True
                self._actions.append(Stopped())
            return
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            until, _, batch = heapq.heappop(delayed)
            if batch.where is not _DELAYED or until != batch.not_before:
                continue  # superseded by a later entry
            batch.where = _IDLE
            if batch.queue:
                # Older work first: a backed-off tail goes ahead of fresh batches.
                batch.where = _READY
                self._ready.appendleft(batch)
        pacing = self.pacing
        self._blocked_until = None
        while True:
            # _fill_slots does nothing while every slot is taken (the steady state)
            if self._ready and len(self._active) < self._concurrent:
                self._fill_slots()
            if not self._active or not self._issue(now) or not self._ready:
                break
        if (
            not self._loading
            and not self._exhausted
            and (self._drain_status is not None or len(self._ready) < pacing.concurrent_batches)
        ):
            self._loading = True
            self._actions.append(LoadPage(self._cursor, pacing.page_size))
        if (
            self._exhausted
            and not self._loading
            and not self._in_flight
            and not self._active
            and not self._ready
            and not delayed
        ):
            self._flush_rows()
            self._finished = True
            self._actions.append(Finished(cancelled=self._cancelled))

    def _fill_slots(self) -> None:
        active = self._active
        limit = self.pacing.concurrent_batches
        ready = self._ready
        while len(active) < limit and ready:
            batch = ready.popleft()
            batch.where = _ACTIVE
            active.append(batch)
            if batch.in_flight < self._per_batch:
                self._open.add(batch)
            if not batch.queue and batch.in_flight == 0:
                self._may_free = True

    def _issue(self, now: float) -> bool:
        """Send from the active batches as far as slots, in-flight caps and tokens allow.
        Return whether a batch finished and gave its slot back."""
        per_batch = self._per_batch
        in_flight = self._in_flight
        room = self._max_in_flight - (len(in_flight) - self._grouped_extra)
        max_batch = self._max_batch
        buckets = self._buckets
        broken = self._broken
        actions = self._actions
        stats = self.stats
        blocked = self._blocked_until
        # A bucket that refused at ``now`` refuses again until time moves: integrations in
        # ``refused`` are not asked again in this pass (the hot loop of a paced run).
        refused: set[str] | frozenset[str] = _NONE_REFUSED  # a set on the first refusal
        every_bucket_refused = False
        freed = False
        active = self._active
        may_free = self._may_free
        open_batches = self._open
        # The walk is the open batches in the order of ``active``. Most of the time it is one
        # batch (the paced steady state: the one that just had a reply); otherwise it is all
        # of ``active`` (a copy: a finished batch leaves it during the walk), which passes
        # over the others (full, or idle with replies due) without effect -- cheaper than
        # sorting the open ones by placement when, as in a run waiting for tokens, most are.
        walk = list(open_batches) if len(open_batches) <= 1 else active[:]
        for batch in walk:
            queue = batch.queue
            if queue and queue[0].integration in refused:
                continue  # its bucket refused at this ``now``: no send, and it has not finished
            if batch.in_flight >= per_batch:
                continue  # a full batch can neither send nor have finished
            if (room <= 0 or every_bucket_refused) and not may_free:
                break  # nothing left to send in this pass, and no batch to free
            if queue and room > 0 and not every_bucket_refused:
                while True:
                    send = queue[0]
                    integration = send.integration
                    if integration in refused:
                        break
                    if integration in broken:
                        queue.popleft()
                        reason = ErrorReason.auth_failed(integration)
                        self._row(send, Status.AUTH_FAILED, now, reason=reason, kind=ErrorKind.INTEGRATION)
                        if not queue:
                            break
                        continue
                    bucket = buckets[integration]
                    if not bucket.try_take(now):
                        at = bucket.next_available(now)
                        blocked = at if blocked is None or at < blocked else blocked
                        refused = refused | {integration}
                        # broken integrations never get here, so all refused means none is broken
                        every_bucket_refused = len(refused) == len(buckets)
                        break
                    queue.popleft()
                    batch.in_flight += 1
                    if batch.in_flight >= per_batch:
                        open_batches.discard(batch)
                    room -= 1
                    in_flight[send.contact_id] = (batch, send, now)
                    stats.sent += 1
                    if send.used_fallback and send.attempt == 1:
                        stats.fallbacks += 1
                    if max_batch and queue and integration in max_batch:
                        actions.append(self._group(send, batch, max_batch[integration], now))
                    else:
                        actions.append(send)
                    if not queue or room <= 0 or batch.in_flight >= per_batch:
                        break
            if not queue:
                open_batches.discard(batch)  # idle until a reply, which puts it back
                if batch.in_flight == 0:
                    active.remove(batch)
                    batch.where = _IDLE
                    freed = True
            if (room <= 0 or every_bucket_refused) and not may_free:
                # The test above, after the only batch that could change it: the batches
                # left are not walked (in the paced steady state, the one send is made).
                break
        self._may_free = False
        self._blocked_until = blocked
        return freed

    def _group(self, first: Send, batch: _Batch, limit: int, now: float) -> Send | SendBatch:
        """``first`` (already taken) and the sends of its batch that can share its request
        (same integration and message), at most ``limit`` in all. They are picked from the
        whole batch, not just the sends next to ``first``: in a mixed audience the contacts
        of one channel are scattered through it."""
        queue = batch.queue
        in_flight = self._in_flight
        stats = self.stats
        integration, message = first.integration, first.message
        group = [first]
        rest = []
        for send in queue:
            if (
                len(group) < limit
                and send.integration == integration
                and (send.message is message or send.message == message)
            ):
                in_flight[send.contact_id] = (batch, send, now)
                stats.sent += 1
                if send.used_fallback and send.attempt == 1:
                    stats.fallbacks += 1
                group.append(send)
            else:
                rest.append(send)
        if len(group) == 1:
            return first
        queue.clear()
        queue.extend(rest)
        request = _Request(len(group))
        for send in group:
            self._grouped[send.contact_id] = request
        self._grouped_extra += len(group) - 1
        return SendBatch(tuple(group))

    # -- rows ----------------------------------------------------------------------------

    def _provider(self, send: Send) -> str:
        return self._providers.get(send.integration, send.integration)

    def _count(self, status: Status) -> None:
        # identity tests first: hashing an enum member runs Python code
        if status is _S_PROVIDER_ERROR:
            self.stats.failed += 1
            return
        outcome = outcome_of(status)
        if outcome is Outcome.DELIVERED:
            self.stats.delivered += 1
        elif outcome is Outcome.FAILED:
            self.stats.failed += 1
        else:
            self.stats.skipped += 1

    def _skip_row(self, contact_id: str, name: str, status: Status, integration: str | None, now: float) -> None:
        self._count(status)
        self._rows.append(DispatchRow(self._broadcast_id, contact_id, status, name, integration, recorded_at=now))

    def _row(
        self,
        send: Send,
        status: Status,
        now: float,
        *,
        sent_at: float | None = None,
        delivered_at: float | None = None,
        reason: ErrorReason | None = None,
        kind: ErrorKind | None = None,
        message_id: str | None = None,
    ) -> None:
        self._count(status)
        self._rows.append(
            DispatchRow(
                self._broadcast_id,
                send.contact_id,
                status,
                send.contact_name,
                send.integration,
                reason,
                kind,
                send.used_fallback,
                sent_at,
                delivered_at,
                message_id,
                now,
            )
        )

    def _flush_rows(self) -> None:
        if self._rows:
            self._actions.append(RecordRows(tuple(self._rows)))
            self._rows = []
