"""The library API: what an operator (or the CLI, or a program) asks of broadcaster.

Each method loads what it needs from the store, asks the pure core to decide (lifecycle,
retry rules, quota, filter parsing) and stores the result together with its lifecycle event
(the store's outbox, in the change's own transaction; workers deliver it).
Every refusal is a :class:`~broadcaster.core.errors.BroadcasterError` that says what was
wrong and what to do; nothing is changed when one is raised.
"""

from __future__ import annotations

import secrets
import time
from typing import Callable, Sequence

import attrs

from .core.errors import ConfigError, NotFound, RetryNotTerminal, RetryRefused
from .core.filters import parse_filter
from .core.lifecycle import TERMINAL_STATES, Action, LifecycleEventKind, State, transition
from .core.models import (
    Audience,
    Broadcast,
    Counters,
    DispatchRow,
    FallbackTemplate,
    Integration,
    Mode,
    TemplateRoute,
)
from .core.outcomes import Outcome, Status
from .core.progress import stalled_for
from .core.retry import (
    ROW_TTL_SECONDS,
    check_editable,
    check_no_pending_retry,
    check_quota,
    check_retry_eligible,
    lineage,
    plan_retry,
    reached_on_attempt,
)
from .core.schedule import DEFAULT_MAX_LATENESS, check_run_at, overdue_by
from .plugins import ProviderRegistry
from .store.base import Store, WorkerInfo

__all__ = ["BroadcastService", "DEFAULT_QUOTA", "BroadcastSummary", "ContactAttempt", "RetryPreview"]

#: DRAFT + SCHEDULED broadcasts allowed at once (retries included)
DEFAULT_QUOTA = 25

#: fields ``edit`` may change, and whether they may change after the run (config only)
_EDITABLE = {
    "name": True,
    "flow_id": True,
    "routes": True,
    "fallbacks": True,
    "channels": True,
    "run_at": False,
    "audience": False,
}


@attrs.frozen
class BroadcastSummary:
    """What ``show`` displays: the broadcast, its rates, fallback share and lineage."""

    broadcast: Broadcast
    used_fallback: int
    lineage: tuple[str, ...]
    retries: tuple[str, ...]
    #: seconds since its run-at passed, when that is past the max lateness (it will not fire)
    overdue_by: float | None = None
    #: seconds a SENDING broadcast has gone without a new row, when that looks stalled
    stalled_for: float | None = None

    @property
    def used_fallback_share(self) -> float | None:
        recorded = self.broadcast.counters.recorded
        return self.used_fallback / recorded if recorded else None


@attrs.frozen
class RetryPreview:
    """The Retry dialog, read-only: may it run, the count it would target, and the risk."""

    #: the refusal Retry would raise now, or None when it may run
    refusal: RetryRefused | None
    #: FAILED rows still held: the dialog's "contacts to retry"
    contacts_to_retry: int
    #: of those, rows whose request may have left (the contact may already have the message)
    outcome_unknown: int
    #: an earlier retry of it that is not terminal yet
    pending_retry: str | None

    @property
    def retryable(self) -> bool:
        return self.refusal is None


@attrs.frozen
class ContactAttempt:
    """One broadcast of a retry chain and the contact's row in it (None: not in it, or aged out)."""

    attempt: int
    broadcast: Broadcast
    row: DispatchRow | None


def _new_id() -> str:
    return "b" + secrets.token_hex(4)


class BroadcastService:
    def __init__(
        self,
        *,
        store: Store,
        registry: ProviderRegistry | None = None,
        clock: Callable[[], float] = time.time,
        quota: int = DEFAULT_QUOTA,
        new_id: Callable[[], str] = _new_id,
        max_lateness: float = DEFAULT_MAX_LATENESS,
    ) -> None:
        self.store = store
        self.max_lateness = max_lateness
        self.registry = registry
        self.clock = clock
        self.quota = quota
        self._new_id = new_id

    # -- integrations ---------------------------------------------------------------------

    def add_integration(self, name: str, provider: str, settings: dict[str, str]) -> Integration:
        if not name or any(ch in name for ch in ": \t\n/"):
            raise ConfigError(f"invalid integration name {name!r}", hint="use letters, digits, '-', '_' or '.'")
        if self.registry is not None:
            spec = self.registry.spec(provider)  # PluginError naming the known providers
            missing = [key for key in spec.required_settings if not settings.get(key)]
            if missing:
                raise ConfigError(
                    f"integration {name!r} ({provider}) is missing the setting {missing[0]!r}",
                    hint=f"{provider} needs: {', '.join(spec.required_settings)}",
                )
        integration = Integration(name, provider, dict(settings))
        self.store.put_integration(integration)
        return integration

    # -- creating -------------------------------------------------------------------------

    def create(
        self,
        *,
        name: str = "",
        mode: Mode = Mode.FLOW,
        flow_id: str | None = None,
        routes: Sequence[TemplateRoute] = (),
        fallbacks: Sequence[FallbackTemplate] = (),
        channels: Sequence[str] = (),
        audience_filter: str | None = None,
        contact_ids: Sequence[str] | None = None,
        run_at: float | None = None,
        draft: bool = False,
    ) -> Broadcast:
        """A new broadcast: SCHEDULED at ``run_at`` (default now), or a DRAFT."""
        now = self.clock()
        if run_at is not None and not draft:
            check_run_at(run_at, now, max_lateness=self.max_lateness)
        if (audience_filter is None) == (contact_ids is None):
            raise ConfigError("give the audience as a filter or as a list of contact IDs, exactly one")
        if contact_ids is not None and not contact_ids:
            raise ConfigError("the contact-ID list is empty", hint="give at least one contact ID")
        audience = Audience(
            filter=audience_filter, contact_ids=None if contact_ids is None else tuple(dict.fromkeys(contact_ids))
        )
        broadcast = Broadcast(
            id=self._unique_id(),
            name=name,
            mode=mode,
            flow_id=flow_id,
            routes=tuple(routes),
            fallbacks=tuple(fallbacks),
            channels=tuple(channels),
            audience=audience,
            run_at=None if draft else (now if run_at is None else run_at),
            state=State.DRAFT,
            created_at=now,
        )
        self._validate(broadcast)
        estimate = self.estimate(audience)
        broadcast = attrs.evolve(broadcast, counters=Counters(audience_size_estimate=estimate))
        if not draft:
            broadcast = attrs.evolve(broadcast, state=transition(State.DRAFT, Action.SCHEDULE))
        # the quota is checked in the insert's transaction: it holds under concurrent creates
        event = None if draft else LifecycleEventKind.SCHEDULED
        return self.store.create_broadcast(broadcast, quota=self.quota, event=event, event_at=now)

    def estimate(self, audience: Audience) -> int:
        if audience.contact_ids is not None:
            return self.store.count_existing_contacts(audience.contact_ids)
        return self.store.count_contacts(audience.filter or "")

    def _validate(self, broadcast: Broadcast) -> None:
        """Everything a run would trip over, refused now with the offending item named."""
        store = self.store
        known = {integration.name for integration in store.list_integrations()}

        def need_integration(name: str, role: str) -> None:
            if name not in known:
                raise ConfigError(
                    f"{role} names integration {name!r}, which does not exist",
                    hint=f"known integrations: {', '.join(sorted(known)) or 'none'}; add it with `broadcaster integrations add`",
                )

        if broadcast.audience.filter is not None:
            parse_filter(broadcast.audience.filter)
        if broadcast.mode is Mode.FLOW:
            if not broadcast.flow_id:
                raise ConfigError("a flow-mode broadcast needs a flow", hint="give --flow ID")
            try:
                store.get_flow(broadcast.flow_id)
            except NotFound:
                raise ConfigError(
                    f"flow {broadcast.flow_id!r} does not exist", hint="define it first with `broadcaster flows add`"
                ) from None
            if broadcast.routes:
                raise ConfigError(
                    "template routes belong to template mode", hint="use --mode template, or drop --route"
                )
        else:
            if not broadcast.routes:
                raise ConfigError("a template-mode broadcast needs at least one template route", hint="give --route")
            if broadcast.fallbacks:
                raise ConfigError("fallback templates belong to flow mode", hint="use --mode flow, or drop --fallback")
        for index, route in enumerate(broadcast.routes, start=1):
            need_integration(route.integration, f"route {index}")
            self._need_template(route.integration, route.template, route.language, len(route.params), f"route {index}")
            if route.when:
                parse_filter(route.when)
        for index, fallback in enumerate(broadcast.fallbacks, start=1):
            need_integration(fallback.integration, f"fallback {index}")
            self._need_template(
                fallback.integration, fallback.template, fallback.language, len(fallback.params), f"fallback {index}"
            )
        for channel in broadcast.channels:
            need_integration(channel, "--channel")

    def _need_template(self, integration: str, name: str, language: str, params: int, role: str) -> None:
        try:
            template = self.store.get_template(integration, name, language)
        except NotFound:
            raise ConfigError(
                f"{role}: template {name!r} ({language}) is not defined for integration {integration!r}",
                hint="define it with `broadcaster templates add`",
            ) from None
        if template.param_count != params:
            raise ConfigError(
                f"{role}: template {name!r} takes {template.param_count} parameter(s), {params} given",
                hint="list one contact field per template parameter",
            )

    def _unique_id(self) -> str:
        for _ in range(100):
            candidate = self._new_id()
            try:
                self.store.get_broadcast(candidate)
            except NotFound:
                return candidate
        raise RuntimeError("could not find a free broadcast id")

    # -- changing -------------------------------------------------------------------------

    def schedule(self, broadcast_id: str, *, run_at: float | None = None) -> Broadcast:
        current = self.store.get_broadcast(broadcast_id)
        state = transition(current.state, Action.SCHEDULE)
        check_quota(scheduled=self.store.count_quota() - 1, cap=self.quota)  # it already counts as a draft
        now = self.clock()
        if run_at is not None:
            check_run_at(run_at, now, max_lateness=self.max_lateness)
        updated = attrs.evolve(current, state=state, run_at=now if run_at is None else run_at)
        return self.store.update_broadcast(
            updated, expected_state=current.state, event=LifecycleEventKind.SCHEDULED, event_at=now
        )

    def cancel(self, broadcast_id: str) -> Broadcast:
        """DRAFT / SCHEDULED end CANCELLED now; a SENDING one is asked to stop (the worker
        lets in-flight sends finish, skips the rest and ends it CANCELLED)."""
        current = self.store.get_broadcast(broadcast_id)
        state = transition(current.state, Action.CANCEL)
        now = self.clock()
        if current.state is State.SENDING:
            if current.cancel_requested:
                return current
            return self.store.update_broadcast(
                attrs.evolve(current, cancel_requested=True), expected_state=State.SENDING
            )
        updated = attrs.evolve(current, state=state, cancel_requested=True)
        return self.store.update_broadcast(
            updated, expected_state=current.state, event=LifecycleEventKind.CANCELLED, event_at=now
        )

    def edit(self, broadcast_id: str, **changes: object) -> Broadcast:
        current = self.store.get_broadcast(broadcast_id)
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise ConfigError(f"{unknown[0]!r} cannot be edited", hint=f"editable: {', '.join(sorted(_EDITABLE))}")
        transition(current.state, Action.EDIT)
        check_editable(current, retries=self.store.retries_of(broadcast_id))
        run_at = changes.get("run_at")
        if isinstance(run_at, (int, float)) and current.state is State.SCHEDULED:
            check_run_at(run_at, self.clock(), max_lateness=self.max_lateness)
        if current.state in TERMINAL_STATES:
            frozen = sorted(name for name in changes if not _EDITABLE[name])
            if frozen:
                raise ConfigError(
                    f"{frozen[0]!r} of a finished broadcast cannot change",
                    hint="only its configuration (flow, routes, fallbacks, channels, name) may, for its retry",
                )
        updated = attrs.evolve(current, **changes)  # type: ignore[arg-type]
        self._validate(updated)
        if "audience" in changes:
            counters = attrs.evolve(updated.counters, audience_size_estimate=self.estimate(updated.audience))
            updated = attrs.evolve(updated, counters=counters)
        return self.store.update_broadcast(updated, expected_state=current.state)

    # -- retry ------------------------------------------------------------------------------

    def retryable_count(self, broadcast_id: str) -> int:
        """The dialog's read-only "contacts to retry" (0 once rows aged out)."""
        return self.store.count_rows(broadcast_id).get(Outcome.FAILED, 0)

    def retry(
        self, broadcast_id: str, *, run_at: float | None = None, contact_ids: Sequence[str] | None = None
    ) -> Broadcast:
        """Spawn the linked retry broadcast (SCHEDULED; run-at default now + 2 min)."""
        source = self.store.get_broadcast(broadcast_id)
        now = self.clock()
        if run_at is not None:
            check_run_at(run_at, now, max_lateness=self.max_lateness)
        if contact_ids is None:
            check_retry_eligible(source, failed_rows=self.retryable_count(broadcast_id), now=now)
            check_no_pending_retry(broadcast_id, self.store.retries_of(broadcast_id))
            failed = list(self.store.failed_contact_ids(broadcast_id))
        else:
            # The advanced override bypasses the failed-contact lookup, not the lifecycle.
            if source.state not in TERMINAL_STATES:
                raise RetryNotTerminal(
                    f"broadcast {broadcast_id} is {source.state.value}; only COMPLETED or CANCELLED broadcasts can be retried",
                    hint="wait for the run to finish first",
                )
            failed = []
        planned = plan_retry(
            source, new_id=self._unique_id(), failed_contact_ids=failed, now=now, run_at=run_at, contact_ids=contact_ids
        )
        planned = attrs.evolve(
            planned, counters=attrs.evolve(planned.counters, audience_size_estimate=self.estimate(planned.audience))
        )
        # Checked again in the insert's transaction, with the quota: two concurrent retries
        # of one source (separate processes) cannot both pass.
        return self.store.create_broadcast(
            planned,
            quota=self.quota,
            sole_retry=contact_ids is None,
            event=LifecycleEventKind.SCHEDULED,
            event_at=now,
        )

    def pending_retry(self, broadcast_id: str) -> str | None:
        """The newest retry of ``broadcast_id`` that has not reached a terminal state."""
        pending = [b for b in self.store.retries_of(broadcast_id) if b.state not in TERMINAL_STATES]
        return pending[-1].id if pending else None

    def retry_preview(self, broadcast_id: str) -> RetryPreview:
        """What ``retry`` would do now, changing nothing (the CLI's ``retry --dry-run``)."""
        source = self.store.get_broadcast(broadcast_id)
        count = self.retryable_count(broadcast_id)
        refusal: RetryRefused | None = None
        try:
            check_retry_eligible(source, failed_rows=count, now=self.clock())
            check_no_pending_retry(broadcast_id, self.store.retries_of(broadcast_id))
        except RetryRefused as exc:
            refusal = exc
        return RetryPreview(
            refusal=refusal,
            contacts_to_retry=count,
            outcome_unknown=self.store.count_status(broadcast_id, Status.OUTCOME_UNKNOWN) if count else 0,
            pending_retry=self.pending_retry(broadcast_id),
        )

    def clone(self, broadcast_id: str, *, name: str | None = None) -> Broadcast:
        """A new DRAFT with the source's configuration and audience (the filter, or its ID list)."""
        source = self.store.get_broadcast(broadcast_id)
        audience = source.audience
        return self.create(
            name=f"{source.name or source.id} (copy)" if name is None else name,
            mode=source.mode,
            flow_id=source.flow_id,
            routes=source.routes,
            fallbacks=source.fallbacks,
            channels=source.channels,
            audience_filter=audience.filter,
            contact_ids=audience.contact_ids,
            draft=True,
        )

    def contact_attempts(self, broadcast_id: str, contact_id: str) -> list[ContactAttempt]:
        """The contact's row in each broadcast of the chain through ``broadcast_id``: the
        original, each retry down to it, and the retries after it."""
        chain = self.lineage(broadcast_id) + self.descendants(broadcast_id)
        return [
            ContactAttempt(attempt, broadcast, self.store.get_row(broadcast.id, contact_id))
            for attempt, broadcast in enumerate(chain, start=1)
        ]

    def lineage(self, broadcast_id: str) -> list[Broadcast]:
        """Original first, then each retry down to ``broadcast_id``."""
        self.store.get_broadcast(broadcast_id)

        def get(bid: str) -> Broadcast | None:
            try:
                return self.store.get_broadcast(bid)
            except NotFound:
                return None

        return lineage(broadcast_id, get)

    def descendants(self, broadcast_id: str) -> list[Broadcast]:
        """The retries spawned from ``broadcast_id``, and theirs, in creation order."""
        found: list[Broadcast] = []
        frontier = [broadcast_id]
        while frontier:
            children = self.store.retries_of(frontier.pop(0))
            found += children
            frontier += [child.id for child in children]
        return found

    def reached_on_attempt(self, broadcast_id: str, contact_id: str) -> int | None:
        """On which attempt of the chain ending at ``broadcast_id`` the contact was DELIVERED."""
        chain = self.lineage(broadcast_id)
        outcomes = {}
        for broadcast in chain:
            row = self.store.get_row(broadcast.id, contact_id)
            outcomes[broadcast.id] = {} if row is None else {contact_id: row.outcome}
        return reached_on_attempt(contact_id, chain, outcomes)

    # -- reading ----------------------------------------------------------------------------

    def summary(self, broadcast_id: str) -> BroadcastSummary:
        broadcast = self.store.get_broadcast(broadcast_id)
        return BroadcastSummary(
            broadcast=broadcast,
            used_fallback=self.store.count_used_fallback(broadcast_id),
            lineage=tuple(b.id for b in self.lineage(broadcast_id)),
            retries=tuple(b.id for b in self.store.retries_of(broadcast_id)),
            overdue_by=overdue_by(broadcast, self.clock(), max_lateness=self.max_lateness),
            stalled_for=self.stalled_for(broadcast),
        )

    def stalled_for(self, broadcast: Broadcast) -> float | None:
        """Seconds a SENDING broadcast has gone without a new row, if it looks stalled."""
        if broadcast.state is not State.SENDING:
            return None
        return stalled_for(broadcast, self.store.last_recorded_at(broadcast.id), self.clock())

    # -- retention ------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        """The workers of this store (``broadcaster workers``): live first, then lost."""
        return self.store.list_workers()

    def purge(self, *, now: float | None = None) -> int:
        """Delete dispatch rows older than 30 days; counters stay. Returns rows deleted."""
        at = self.clock() if now is None else now
        return self.store.purge_rows(at - ROW_TTL_SECONDS)
