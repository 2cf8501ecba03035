"""Retry Failed Contacts, exactly as the seed describes it.

* Eligibility — three distinct refusals: not terminal yet; no FAILED row; rows aged out
  (the 30-day TTL; the seed's BAD_USER_INPUT "no failed contacts to look up").
* The new broadcast — same flow / template routes / fallbacks / channels as the source,
  audience = the explicit list of FAILED contact IDs (never SKIPPED ones; no filter),
  ``retry_of`` = the source, SCHEDULED, run-at now + 2 min by default. An explicit ID
  list may override the audience (advanced; bypasses the failed-contact lookup).
* Lineage — ``retry_of`` links walk any broadcast back to its original; the attempt on
  which a contact was reached is the first broadcast in the chain where it DELIVERED.
* Editing — a broadcast can be edited while DRAFT or SCHEDULED; a finished source also
  while none of its retries has started (the retry snapshots the source at fire time).
* Quota — a retry counts against the combined scheduled quota like any other broadcast.
* Closed windows — "add a fallback template and retry" must work even when a contact's
  stored last-inbound time said the window was open: the provider's refusal on the
  source is the better evidence (:func:`closed_windows`), so the retry sends those
  contacts the fallback.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import attrs

from .channels import ChannelSpec
from .errors import EditRefused, NotFound, NothingToRetry, QuotaExceeded, RetryNotTerminal, RetryPending, RowsAgedOut
from .lifecycle import TERMINAL_STATES, State
from .models import Audience, Broadcast, Counters
from .outcomes import Outcome

__all__ = [
    "DEFAULT_RETRY_DELAY",
    "ROW_TTL_SECONDS",
    "check_editable",
    "check_no_pending_retry",
    "check_quota",
    "check_retry_eligible",
    "closed_windows",
    "window_closed_reasons",
    "inherit_source_config",
    "lineage",
    "plan_retry",
    "reached_on_attempt",
    "rows_aged_out",
]

#: per-contact dispatch rows live this long; counters never expire
ROW_TTL_SECONDS = 30 * 86_400
#: a retry fires this long after it is created unless a run-at is given
DEFAULT_RETRY_DELAY = 120.0


def rows_aged_out(broadcast: Broadcast, now: float) -> bool:
    """Whether the broadcast's rows are past the 30-day TTL (by when it finished)."""
    finished = broadcast.counters.finished_at
    return finished is not None and now - finished > ROW_TTL_SECONDS


def check_retry_eligible(broadcast: Broadcast, *, failed_rows: int, now: float) -> None:
    """Raise the refusal that applies, or return when Retry may proceed.

    ``failed_rows`` is how many FAILED rows the store still holds for the broadcast.
    """
    if broadcast.state not in TERMINAL_STATES:
        raise RetryNotTerminal(
            f"broadcast {broadcast.id} is {broadcast.state.value}; only COMPLETED or CANCELLED broadcasts can be retried",
            hint="wait for the run to finish first",
        )
    if broadcast.counters.failed == 0:
        raise NothingToRetry(
            f"broadcast {broadcast.id} has no FAILED contacts; there is nothing to retry",
            hint="SKIPPED contacts are not retried: address the cause and create a new broadcast",
        )
    if failed_rows == 0 or rows_aged_out(broadcast, now):
        raise RowsAgedOut(
            f"broadcast {broadcast.id}: its dispatch rows have aged out (kept 30 days), "
            "so there are no failed contacts to look up",
            hint="clone it as a new broadcast with the same audience filter, or capture failures into a contact field",
        )


def inherit_source_config(retry: Broadcast, source: Broadcast) -> Broadcast:
    """The retry with its source's current flow / template routes / fallbacks / channels.

    Applied when the retry is planned and again when it fires: the source may have been
    edited in between (the seed's "add a fallback to the source, then retry").
    """
    return attrs.evolve(
        retry,
        mode=source.mode,
        flow_id=source.flow_id,
        routes=source.routes,
        fallbacks=source.fallbacks,
        channels=source.channels,
    )


def plan_retry(
    source: Broadcast,
    *,
    new_id: str,
    failed_contact_ids: Sequence[str],
    now: float,
    run_at: float | None = None,
    contact_ids: Sequence[str] | None = None,
) -> Broadcast:
    """The retry broadcast for ``source``: SCHEDULED, audience = the failed IDs (or the override).

    Eligibility must have been checked first (:func:`check_retry_eligible`).
    """
    targets = tuple(dict.fromkeys(contact_ids if contact_ids is not None else failed_contact_ids))
    if not targets:
        raise NothingToRetry(
            f"the retry of broadcast {source.id} would target no contact",
            hint="give at least one contact ID" if contact_ids is not None else None,
        )
    name = source.name or source.id
    planned = Broadcast(
        id=new_id,
        name=f"{name} (retry)",
        audience=Audience(contact_ids=targets),
        run_at=now + DEFAULT_RETRY_DELAY if run_at is None else run_at,
        state=State.SCHEDULED,
        retry_of=source.id,
        counters=Counters(audience_size_estimate=len(targets)),
        created_at=now,
    )
    return inherit_source_config(planned, source)


def lineage(broadcast_id: str, get: Callable[[str], Broadcast | None]) -> list[Broadcast]:
    """The chain from the original broadcast to ``broadcast_id``, original first."""
    chain: list[Broadcast] = []
    seen: set[str] = set()
    current: str | None = broadcast_id
    while current is not None:
        if current in seen:
            raise ValueError(f"retry chain of {broadcast_id} loops at {current}")
        seen.add(current)
        broadcast = get(current)
        if broadcast is None:
            raise NotFound(f"broadcast {current} in the retry chain of {broadcast_id} does not exist")
        chain.append(broadcast)
        current = broadcast.retry_of
    chain.reverse()
    return chain


def reached_on_attempt(
    contact_id: str, chain: Sequence[Broadcast], outcomes: Mapping[str, Mapping[str, Outcome]]
) -> int | None:
    """1-based attempt (position in the chain) on which the contact was DELIVERED, or None.

    ``outcomes`` maps broadcast id -> contact id -> outcome (what the rows say).
    """
    for attempt, broadcast in enumerate(chain, start=1):
        if outcomes.get(broadcast.id, {}).get(contact_id) is Outcome.DELIVERED:
            return attempt
    return None


def check_editable(broadcast: Broadcast, *, retries: Iterable[Broadcast]) -> None:
    """Raise EditRefused unless the broadcast's configuration may change now."""
    if broadcast.state in (State.DRAFT, State.SCHEDULED):
        return
    if broadcast.state is State.SENDING:
        raise EditRefused(
            f"broadcast {broadcast.id} is SENDING and cannot be edited", hint="cancel it, or wait for it to finish"
        )
    started = [r.id for r in retries if _has_started(r)]
    if started:
        raise EditRefused(
            f"broadcast {broadcast.id} cannot be edited: its retry {started[0]} has already started",
            hint="clone it and create a new broadcast instead",
        )


def _has_started(retry: Broadcast) -> bool:
    if retry.state in (State.SENDING, State.COMPLETED):
        return True
    # A retry cancelled while still SCHEDULED never fired: it must not block editing the
    # source forever. One cancelled mid-run has a start time or rows.
    if retry.state is State.CANCELLED:
        return retry.counters.started_at is not None or retry.counters.recorded > 0
    return False


def check_quota(*, scheduled: int, cap: int) -> None:
    """``scheduled`` counts DRAFT + SCHEDULED broadcasts (retries included)."""
    if scheduled >= cap:
        raise QuotaExceeded(
            f"the combined scheduled quota is full ({scheduled} of {cap} DRAFT or SCHEDULED broadcasts)",
            hint="cancel a draft to free a slot first",
        )


def check_no_pending_retry(source_id: str, retries: Iterable[Broadcast]) -> None:
    """Refuse a second retry of ``source_id`` while an earlier one (of ``retries``, oldest
    first) is not terminal: both would send to the same FAILED contacts."""
    pending = [retry.id for retry in retries if retry.state not in TERMINAL_STATES]
    if pending:
        raise RetryPending(
            f"broadcast {source_id} already has retry {pending[-1]}, which has not finished; "
            "a second retry would send to the same FAILED contacts",
            retry_id=pending[-1],
            hint=f"retry {pending[-1]} instead once it finishes, or give an explicit contact-ID list",
        )


def window_closed_reasons(channels: Mapping[str, ChannelSpec]) -> frozenset[str]:
    """The full ``provider:code:reason`` strings that mean "messaging window closed" for
    these integrations' providers (what a shell asks its store for)."""
    return frozenset(f"{spec.provider}:{error}" for spec in channels.values() for error in spec.window_closed_errors)


def closed_windows(failures: Iterable[tuple[str, str | None, float]]) -> dict[tuple[str, str], float]:
    """(contact id, integration) -> when the provider refused it for a closed window, from
    the source's FAILED rows with such a reason, given as (contact id, integration,
    recorded at). The retry's pre-flight treats those windows as closed unless the
    contact wrote after that moment."""
    closed: dict[tuple[str, str], float] = {}
    for contact_id, integration, at in failures:
        if integration is not None:
            key = (contact_id, integration)
            closed[key] = max(at, closed.get(key, at))
    return closed
