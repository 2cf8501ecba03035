"""The worker: drives one SENDING broadcast's dispatcher and performs its actions.

Policy lives in the core; this module only does I/O, in an order that keeps the
ledger honest:

1. a broadcast fired without its audience snapshot (the firing worker died in between)
   gets its snapshot first;
2. the audience is read unit by unit (store/units_sql.py): the run claims a leased unit of
   the fire-time snapshot, then its pages, skipping contacts that already have a row (that
   is how a restarted worker resumes), then the next free unit — so several workers share
   one broadcast's contacts. Before a unit's first page, the claims it holds that no live
   worker owns (a crashed or lost worker's) are resolved by the core's recovery rule
   (FAILED, outcome unknown) — never resent;
3. when no unit is left to claim, the run ends once its sends are recorded: its units are
   marked done, and the worker whose units complete the broadcast finishes it (exactly once,
   store.settle_units);
4. every contact's row is *claimed* in the store before its request leaves (for a
   SendBatch, every recipient's before the one request), and the final row and counters
   are written in one transaction when the reply is read;
5. a cancel or an unpublished flow, requested from anywhere (another process, the CLI),
   is noticed by polling the store and fed to the dispatcher;
6. a store that stops answering (PostgreSQL restarted or cut off) is waited out
   (runtime.store_waits): nothing is sent until each claim can be written, replies are
   recorded once it is back;
7. a graceful stop (``Runtime.stop`` set, by a signal) is fed to the dispatcher, which
   sends nothing new and answers Stopped once the sends in flight have their rows; the
   broadcast stays SENDING for a later run. A refused send's claim is released
   (ReleaseClaims) as soon as it is refused.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any, Callable, Mapping, TypeVar

import attrs
import trio

from ..core.dispatcher import Dispatcher
from ..core.errors import ConfigError, PluginError
from ..core.events import Action as DispatchAction
from ..core.events import (
    CancelRequested,
    Finished,
    FlowUnpublished,
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
from ..core.http import HttpReply, redact
from ..core.lifecycle import Action, LifecycleEventKind, State, transition
from ..core.models import Broadcast, Contact, Flow, Integration, LifecycleEvent, Mode
from ..core.recovery import (
    claimed_elsewhere,
    misconfigured_send,
    missing_from_batch_reply,
    plugin_failed_after_send,
    plugin_failed_before_send,
    resolve_orphaned_claim,
)
from ..core.results import ChatTaken, Failed, SendResult
from ..core.retry import closed_windows, window_closed_reasons
from ..store.units_sql import Unit
from .context import Runtime
from .stopping import contacts_left
from .store_waits import patiently

__all__ = ["run_broadcast", "run_share"]

log = logging.getLogger(__name__)

#: POSIX seconds near 2e9 carry ~2.4e-7 s of float resolution
_CLOCK_SLACK = 1e-6
#: the longest the worker gathers replies before writing them (see _gather_window)
_MAX_GATHER = 0.005
#: claims made again when what refused them vanished meanwhile (another worker let go)
_CLAIM_ROUNDS = 3

T = TypeVar("T")


async def run_broadcast(runtime: Runtime, broadcast_id: str) -> Broadcast:
    """Run a SENDING broadcast to its end (COMPLETED or CANCELLED) and return it — or,
    when ``runtime.stop`` is set, until its sends in flight are recorded: then it is
    returned still SENDING (as it is when other workers still hold some of its units)."""
    run = await patiently(runtime.outage, _Run, runtime, broadcast_id, thread=False)
    broadcast, _ = await run.go()
    return broadcast


async def run_share(runtime: Runtime, broadcast_id: str, unit: Unit | None = None) -> tuple[Broadcast, bool]:
    """This worker's share of a SENDING broadcast, starting with ``unit`` if it claimed one:
    units until none is left to claim. Returns the broadcast and whether this run finished it
    (False when another worker did, or still works on it, or it was no longer SENDING)."""
    broadcast = await patiently(runtime.outage, runtime.store.get_broadcast, broadcast_id, thread=False)
    if broadcast.state is not State.SENDING:
        return broadcast, False  # finished elsewhere between our listing and now
    run = await patiently(runtime.outage, _Run, runtime, broadcast_id, unit, thread=False)
    return await run.go()


class _Run:
    def __init__(self, runtime: Runtime, broadcast_id: str, unit: Unit | None = None) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.broadcast = self.store.get_broadcast(broadcast_id)
        if self.broadcast.state is not State.SENDING:
            raise ConfigError(
                f"broadcast {broadcast_id} is {self.broadcast.state.value}, not SENDING",
                hint="the scheduler fires SCHEDULED broadcasts; only a SENDING one can be run",
            )
        if self.broadcast.counters.audience_size_actual is None:
            # Firing moves the broadcast to SENDING, then snapshots its audience: a worker
            # killed between the two left no snapshot (and so sent nothing). Take it now,
            # or the run would complete with an empty audience.
            self.store.snapshot_audience(broadcast_id)
            self.broadcast = self.store.get_broadcast(broadcast_id)
        self.flow: Flow | None = None
        if self.broadcast.mode is Mode.FLOW and self.broadcast.flow_id:
            self.flow = self.store.get_flow(self.broadcast.flow_id)
        self.integrations: dict[str, Integration] = {i.name: i for i in self.store.list_integrations()}
        self.channels = {}
        for name, integration in self.integrations.items():
            try:
                self.channels[name] = runtime.registry.spec(integration.provider)
            except PluginError:
                log.warning("integration %r uses provider %r, which no plugin provides", name, integration.provider)
        # the result of each send; None when the runtime is asked to stop
        # (and a page loaded in the background, on a store that waits on a server)
        self.results_in, self.results_out = trio.open_memory_channel[SendCompleted | PageLoaded | None](math.inf)
        self.cancel_seen = self.broadcast.cancel_requested
        self.unpublish_seen = False
        #: plugin faults by (provider, hook): the first is logged in full, the rest counted
        self.plugin_faults: dict[tuple[str, str], int] = {}
        #: contacts not sent because another live worker held their claims
        self.claimed_elsewhere = 0
        #: the unit being read, where in it, and whether any is left to claim
        self.unit = unit
        self.unit_after: str | None = None
        self.units_left = True
        #: a unit claimed whose orphans are not resolved yet (a lost connection came between)
        self._taken: Unit | None = None
        #: the units this run has claimed, and whether the last page load met a lost store
        self._known_units: set[int] = {unit.no} if unit is not None else set()
        self._page_retry = False
        self.store_in_threads = runtime.calls_store_in_threads

    async def go(self) -> tuple[Broadcast, bool]:
        rt = self.rt
        now = rt.clock.now()
        if self.unit is not None:
            await self._in_store(self._recover, self.unit, now)
        windows = await self._in_store(self._closed_windows)
        dispatcher = Dispatcher(
            broadcast=self.broadcast,
            flow=self.flow,
            channels=self.channels,
            now=now,
            rng=rt.rng,
            pacing=rt.pacing,
            backoff=rt.backoff,
            rates=rt.rates,
            shared_buckets=rt.buckets,
            warmup=rt.warmup,
            bucket_type=rt.bucket_type,
            closed_windows=windows,
        )
        self.dispatcher = dispatcher
        self.gather = self._gather_window()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._watch_stop)
            pending = dispatcher.actions()
            if self.cancel_seen:
                pending += dispatcher.handle(CancelRequested(), now=now)
            next_poll = rt.clock.now() + rt.poll_interval
            while True:
                finished = await self._perform(pending)
                if finished is not None:
                    break
                pending = []
                deadline = dispatcher.next_deadline()
                wake = next_poll if deadline is None else min(deadline, next_poll)
                wake_trio = rt.clock.to_trio(wake)
                with trio.move_on_at(wake_trio):
                    pending += self._feed(await self.results_out.receive())
                    # Gather the replies of the next few milliseconds too, so rows and claims
                    # are written a handful per transaction instead of one by one.
                    with trio.move_on_at(min(wake_trio, trio.current_time() + self.gather)):
                        while True:
                            pending += self._feed(await self.results_out.receive())
                # Take every reply that is already here, so rows are written in bulk.
                while True:
                    try:
                        item = self.results_out.receive_nowait()
                    except trio.WouldBlock:
                        break
                    pending += self._feed(item)
                now = rt.clock.now()
                if now >= next_poll:
                    pending += await self._poll(now)
                    next_poll = now + rt.poll_interval
                if deadline is not None and now + _CLOCK_SLACK >= deadline and not dispatcher.finished:
                    # Converting between trio's clock and POSIX time loses a few ulps:
                    # a wake-up at the deadline must count as reaching it.
                    pending += dispatcher.handle(TimerFired(), now=max(now, deadline))
            nursery.cancel_scope.cancel()  # only the stop watcher is left
        self._report_plugin_faults()
        if self.claimed_elsewhere > 1:
            log.warning(
                "broadcast %s: %d contacts in all were already claimed by another worker; none of them was sent",
                self.broadcast.id,
                self.claimed_elsewhere,
            )
        if isinstance(finished, Stopped):
            stopped = await self._in_store(self._release_units, rt.clock.now())
            log.info("broadcast %s stopped with %d contact(s) left", stopped.id, contacts_left(stopped))
            return stopped, False
        return await self._finish(finished)

    def _release_units(self, now: float) -> Broadcast:
        self.store.release_units(self.broadcast.id, now)
        return self.store.get_broadcast(self.broadcast.id)

    async def _watch_stop(self) -> None:
        await self.rt.stop.wait()
        self.results_in.send_nowait(None)

    def _closed_windows(self) -> dict[tuple[str, str], float]:
        """For a retry: the windows its source's provider refused as closed (core.retry)."""
        source = self.broadcast.retry_of
        reasons = window_closed_reasons(self.channels)
        if source is None or not reasons:
            return {}
        return closed_windows(self.store.failed_with_reasons(source, reasons))

    def _gather_window(self) -> float:
        """How long to keep gathering replies once one arrived: a few milliseconds, but
        never more than half the time an integration's bucket takes to refill its burst —
        the bucket, not this window, must be what paces sends."""
        window = _MAX_GATHER
        for name, spec in self.channels.items():
            rate = self.rt.rates.get(name, spec.rate_per_second)
            window = min(window, spec.burst / rate / 2)
        return window

    # -- actions --------------------------------------------------------------------------

    async def _perform(self, actions: list[DispatchAction]) -> Finished | Stopped | None:
        """Perform actions; those they produce (a loaded page's sends) are performed too."""
        finished: Finished | Stopped | None = None
        queue = list(actions)
        while queue:
            sends = [a for a in queue if type(a) is Send or type(a) is SendBatch]
            rows = [row for a in queue if type(a) is RecordRows for row in a.rows]
            released = [c for a in queue if type(a) is ReleaseClaims for c in a.contact_ids]
            loads = [a for a in queue if type(a) is LoadPage]
            done = [a for a in queue if type(a) is Finished or type(a) is Stopped]
            queue = []
            if released:
                # before the sends: a released contact's retry may be among them
                await self._in_store(self.store.release, self.broadcast.id, released)
            if rows:
                await self._in_store(self.store.record, rows)
            if sends:
                await self._start_sends(sends)
            for load in loads:
                # (load.after_id is the dispatcher's place in its pages; ours is per unit)
                if self.store_in_threads:
                    # The dispatcher asks for a page while it still holds one to send: the
                    # sends go on while this one loads (a unit claimed, its orphans recovered,
                    # its page read: tens of ms on a busy server, a gap in the pace inline).
                    self.nursery.start_soon(self._load_in_background, load.limit)
                    continue
                contacts, used = await self._load(load.limit)
                page = PageLoaded(tuple(contacts), exhausted=not contacts, used_chats=used)
                queue += self.dispatcher.handle(page, now=self.rt.clock.now())
            if done:
                finished = done[0]
        return finished

    async def _in_store(
        self,
        call: Callable[..., T],
        *args: Any,
        before_retry: Callable[[], object] | None = None,
        args_on_retry: Callable[[], tuple[Any, ...]] | None = None,
    ) -> T:
        """A store call from the run's loop. On a store that waits on a server (PostgreSQL)
        it runs in a thread, so that while a statement waits on the server the sends in
        flight go on and their replies are read (inline, every round trip held the whole
        event loop); the loop itself waits for it, so the run's writes stay in order.
        SQLite's writes take tens of microseconds, less than a thread hop: inline.
        An unreachable store is waited out (``before_retry`` makes the call repeatable,
        ``args_on_retry`` gives a retry its arguments at the time it is made)."""
        return await patiently(
            self.rt.outage,
            call,
            *args,
            thread=self.store_in_threads,
            before_retry=before_retry,
            args_on_retry=args_on_retry,
        )

    async def _load(self, limit: int) -> tuple[list[Contact], frozenset[tuple[str, str]]]:
        """The next page; a unit claimed on a retry is leased from the time of the retry."""
        clock = self.rt.clock
        return await self._in_store(
            self._load_page,
            limit,
            clock.now(),
            before_retry=self._retrying_page,
            args_on_retry=lambda: (limit, clock.now()),
        )

    def _retrying_page(self) -> None:
        self._page_retry = True

    async def _load_in_background(self, limit: int) -> None:
        contacts, used = await self._load(limit)
        self.results_in.send_nowait(PageLoaded(tuple(contacts), exhausted=not contacts, used_chats=used))

    def _load_page(self, limit: int, now: float) -> tuple[list[Contact], frozenset[tuple[str, str]]]:
        """The next page and the chats of it already messaged through another contact
        record (an earlier page, or before a restart): the dispatcher skips them as dedup hits."""
        contacts = self._next_page(limit, now)
        used = self.store.used_chats(
            self.broadcast.id, ((chat.integration, chat.chat_id) for c in contacts for chat in c.chats)
        )
        return contacts, used

    def _next_page(self, limit: int, now: float) -> list[Contact]:
        """The next page of this worker's units, claiming the next free unit as one runs
        out; empty only when no unit is left to claim."""
        store = self.store
        while self.units_left:
            if self.unit is None:
                if self._taken is None:
                    self._taken = self._take_unit(now)
                    if self._taken is None:
                        self.units_left = False
                        break
                self._recover(self._taken, now)
                self.unit, self._taken, self.unit_after = self._taken, None, None
            contacts = store.unit_page(self.unit, after_id=self.unit_after, limit=limit)
            if len(contacts) < limit:
                self.unit = None  # read to its end: it is done once its sends are recorded
            else:
                self.unit_after = contacts[-1].id
            if contacts:
                return contacts
        return []

    def _take_unit(self, now: float) -> Unit | None:
        """The next unit to read: after a lost connection, one this run claimed by a call
        whose answer never came (it is ours, and no other worker takes it while we live);
        else the next free one."""
        store = self.store
        if self._page_retry:
            self._page_retry = False
            for unit, claimed_by, _, done_at in store.units(self.broadcast.id):
                if claimed_by == store.worker_id and done_at is None and unit.no not in self._known_units:
                    self._known_units.add(unit.no)
                    return unit
        claimed = store.claim_unit(self.broadcast.id, now, lease=self.rt.worker_lease)
        if claimed is not None:
            self._known_units.add(claimed.no)
        return claimed

    def _claim(self, groups: list[tuple[Send, ...]], now: float) -> tuple[set[str], set[str]]:
        """Claim the sends' rows: the contacts claimed, and of the others those that hold a
        row of their own (someone else's claim). A contact refused without a row of its own
        lost on its chat: another contact record sharing it was claimed (by another worker,
        planning at the same time): a dedup hit — if that chat is indeed used; if neither is
        there any more, what refused it was let go meanwhile, and it is claimed again."""
        store, broadcast_id = self.store, self.broadcast.id
        pending = [s for g in groups for s in g]
        claimed: set[str] = set()
        held: set[str] = set()
        for _ in range(_CLAIM_ROUNDS):
            claimed.update(store.claim(broadcast_id, [(s.contact_id, s.integration, s.chat_id) for s in pending], now))
            refused = [s for s in pending if s.contact_id not in claimed]
            if not refused:
                break
            held.update(store.rows_exist(broadcast_id, [s.contact_id for s in refused]))
            unsure = [s for s in refused if s.contact_id not in held]
            if not unsure:
                break
            # Refused with no row of its own, yet its chat unused too: what refused it (another
            # worker's claim) was let go meanwhile: claim it again rather than call it a dedup.
            used = store.used_chats(broadcast_id, [(s.integration, s.chat_id) for s in unsure])
            pending = [s for s in unsure if (s.integration, s.chat_id) not in used]
            if not pending:
                break
        else:
            # still flickering: never a dedup on a guess; not sent here, another worker holds it
            held.update(s.contact_id for s in pending)
        return claimed, held

    async def _start_sends(self, actions: list[Send | SendBatch]) -> None:
        groups: list[tuple[Send, ...]] = [a.sends if isinstance(a, SendBatch) else (a,) for a in actions]
        contact_ids = [s.contact_id for g in groups for s in g]
        # a claim that met a lost connection may have been written: let it go, then claim again
        # (nothing was sent for it)
        undo = partial(self.store.release, self.broadcast.id, contact_ids)
        clock = self.rt.clock
        claimed, held = await self._in_store(
            self._claim, groups, clock.now(), before_retry=undo, args_on_retry=lambda: (groups, clock.now())
        )
        elsewhere: list[str] = []
        for group in groups:
            going: list[Send] = []
            for send in group:
                # (a retry is claimed again too: its claim was released when it was refused)
                if send.contact_id not in claimed and send.contact_id not in held:
                    self.results_in.send_nowait(SendCompleted(send.contact_id, ChatTaken()))
                    continue
                if send.contact_id not in claimed:
                    # Someone else holds this contact's row (a second worker): never send twice.
                    # (not the provider's doing: kept out of its health)
                    elsewhere.append(send.contact_id)
                    taken = claimed_elsewhere(self._provider(send.integration))
                    self.results_in.send_nowait(SendCompleted(send.contact_id, taken))
                    continue
                going.append(send)
            if len(going) > 1:
                self.nursery.start_soon(self._send_batch, going)
            elif going:
                self.nursery.start_soon(self._send, going[0])
        if elsewhere:
            # the first said at once, the rest counted for the run's end: after a takeover a
            # worker back from a pause may hold a whole page another worker now sends
            if not self.claimed_elsewhere:
                log.warning(
                    "contact %s of broadcast %s is already claimed by another worker; not sending it"
                    " (any more are counted and reported when this run ends)",
                    elsewhere[0],
                    self.broadcast.id,
                )
            self.claimed_elsewhere += len(elsewhere)

    def _report(self, send: Send, result: SendResult, left_at: float | None = None) -> None:
        if self.rt.health is not None:
            self.rt.health.record(send.integration, result)
        self.results_in.send_nowait(SendCompleted(send.contact_id, result, left_at))

    async def _send(self, send: Send) -> None:
        left: list[float] = []
        result = await self._attempt(send, left)
        self._report(send, result, left[0] if left else None)

    def _on_send(self, left: list[float]) -> Callable[[], None]:
        """Notes when a request leaves (its first byte written): the dispatcher measures the
        provider's limit from that, not from when it issued the send -- a connection to
        open, a claim to write or a busy loop come between (at a run's start every send
        opens its connection, and their requests reach the provider bunched)."""
        clock = self.rt.clock
        return lambda: left.append(clock.now())

    async def _send_batch(self, sends: list[Send]) -> None:
        """One request for several recipients; each gets its own result back."""
        integration = self.integrations[sends[0].integration]
        registry = self.rt.registry
        provider = integration.provider
        recipients = [(s.contact_id, s.chat_id) for s in sends]
        try:
            call = registry.build_batch_call(integration=integration, recipients=recipients, message=sends[0].message)
        except (ConfigError, PluginError) as exc:
            failed = misconfigured_send(provider, redact(str(exc), integration.settings.values()))
            for send in sends:
                self._report(send, failed)
            return
        except Exception:
            self._log_plugin_fault(integration, "build_batch_call")
            for send in sends:
                self._report(send, plugin_failed_before_send(provider, "build_batch_call"))
            return
        if call is None:
            # The plugin cannot batch this message: the same sends, one request each.
            for send in sends:
                self.nursery.start_soon(self._send, send)
            return
        left: list[float] = []
        reply = await self.rt.executor.perform(integration.name, call, provider=provider, on_send=self._on_send(left))
        results: Mapping[str, SendResult]
        if isinstance(reply, HttpReply):
            try:
                results = registry.interpret_batch_reply(integration=integration, call=call, reply=reply)
            except Exception:
                self._log_plugin_fault(integration, "interpret_batch_reply")
                unknown = plugin_failed_after_send(provider, "interpret_batch_reply")
                results = {send.contact_id: unknown for send in sends}
        else:
            results = {send.contact_id: reply for send in sends}
        left_at = left[0] if left else None
        for send in sends:
            self._report(send, results.get(send.contact_id) or missing_from_batch_reply(provider), left_at)

    async def _attempt(self, send: Send, left: list[float]) -> SendResult:
        integration = self.integrations[send.integration]
        registry = self.rt.registry
        provider = integration.provider
        try:
            call = registry.build_call(integration=integration, chat_id=send.chat_id, message=send.message)
        except (ConfigError, PluginError) as exc:
            return misconfigured_send(provider, redact(str(exc), integration.settings.values()))
        except Exception:
            self._log_plugin_fault(integration, "build_call")
            return plugin_failed_before_send(provider, "build_call")
        if isinstance(call, Failed):
            return call  # the provider refused the message: nothing was sent
        reply = await self.rt.executor.perform(send.integration, call, provider=provider, on_send=self._on_send(left))
        if not isinstance(reply, HttpReply):
            return reply
        try:
            return registry.interpret_reply(integration=integration, call=call, reply=reply)
        except Exception:
            self._log_plugin_fault(integration, "interpret_reply")
            return plugin_failed_after_send(provider, "interpret_reply")

    def _log_plugin_fault(self, integration: Integration, hook: str) -> None:
        # A plugin bug must not stop this run nor the others: its contacts fail visibly,
        # the traceback goes to the log (never the settings, which may hold secrets) —
        # once per provider and hook in a run: the same bug raises for every contact.
        key = (integration.provider, hook)
        seen = self.plugin_faults.get(key, 0)
        self.plugin_faults[key] = seen + 1
        if seen:
            return
        log.exception(
            "plugin for provider %r raised in %s (integration %r, broadcast %s);"
            " further faults of this hook in this run are counted, not logged",
            integration.provider,
            hook,
            integration.name,
            self.broadcast.id,
        )

    def _report_plugin_faults(self) -> None:
        for (provider, hook), count in sorted(self.plugin_faults.items()):
            if count > 1:
                log.error(
                    "plugin for provider %r raised in %s %d times in broadcast %s (the first traceback is logged above)",
                    provider,
                    hook,
                    count,
                    self.broadcast.id,
                )

    def _feed(self, item: SendCompleted | PageLoaded | None) -> list[DispatchAction]:
        return self.dispatcher.handle(StopRequested() if item is None else item, now=self.rt.clock.now())

    # -- outside world ------------------------------------------------------------------

    async def _poll(self, now: float) -> list[DispatchAction]:
        actions: list[DispatchAction] = []
        watch_flow = self.flow is not None and not self.unpublish_seen and not self.dispatcher.finished
        current, flow = await self._in_store(self._read_changes, now, watch_flow)
        if current.cancel_requested and not self.cancel_seen:
            self.cancel_seen = True
            actions += self.dispatcher.handle(CancelRequested(), now=now)
        # flow is read only while watched; the run may have finished during the read
        if flow is not None and not flow.published and not self.dispatcher.finished:
            self.unpublish_seen = True
            actions += self.dispatcher.handle(FlowUnpublished(), now=now)
        return actions

    def _read_changes(self, now: float, watch_flow: bool) -> tuple[Broadcast, Flow | None]:
        """The poll's store calls: units read and recorded marked done, then the broadcast
        and (while it is watched) its flow as another process may have changed them."""
        self.store.complete_units(self.broadcast.id, now)
        current = self.store.get_broadcast(self.broadcast.id)
        flow = self.store.get_flow(self.flow.id) if watch_flow and self.flow is not None else None
        return current, flow

    def _recover(self, unit: Unit, now: float) -> None:
        """Resolve the claims a crashed or lost worker left in ``unit`` (never resent)."""
        claims = self.store.orphaned_claims(unit)
        if not claims:
            return
        rows = [
            resolve_orphaned_claim(
                broadcast_id=self.broadcast.id,
                contact_id=contact_id,
                contact_name="",
                integration=integration,
                provider=self._provider(integration),
                claimed_at=claimed_at,
                now=now,
            )
            for contact_id, integration, claimed_at in claims
        ]
        written = self.store.record(rows)
        log.warning(
            "broadcast %s: %d send(s) of a previous run had no recorded reply; marked FAILED (outcome unknown)",
            self.broadcast.id,
            written,
        )

    def _provider(self, integration: str | None) -> str:
        found = self.integrations.get(integration or "")
        return found.provider if found is not None else (integration or "broadcaster")

    async def _finish(self, finished: Finished) -> tuple[Broadcast, bool]:
        """End this worker's share; finish the broadcast if that completes its units."""
        now = self.rt.clock.now()
        kind, stored, here = await self._in_store(self._settle, finished, now)
        if here:
            self.rt.on_event(LifecycleEvent(kind, stored, now))
        return stored, here

    def _settle(self, finished: Finished, now: float) -> tuple[LifecycleEventKind, Broadcast, bool]:
        current = self.store.get_broadcast(self.broadcast.id)
        if current.state is not State.SENDING:
            return LifecycleEventKind.FINISHED, current, False  # another worker finished it
        action = Action.FINISH_CANCELLED if finished.cancelled or current.cancel_requested else Action.FINISH
        state = transition(current.state, action)
        done = attrs.evolve(current, state=state, counters=attrs.evolve(current.counters, finished_at=now))
        kind = LifecycleEventKind.CANCELLED if state is State.CANCELLED else LifecycleEventKind.FINISHED
        here, stored = self.store.settle_units(done, event=kind, event_at=now)
        return kind, stored, here
