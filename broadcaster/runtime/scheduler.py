"""The scheduler: fires due SCHEDULED broadcasts.

Firing a broadcast moves it to SENDING (compare-and-set, so two schedulers never both
fire it), snapshots its source's current configuration if it is a retry (the source may
have been edited while the retry waited — the seed's "add a fallback, then retry"),
re-resolves the audience into a fixed snapshot (audienceSizeActual), stamps startedAt and
writes the ``started`` event to the outbox — all in one store transaction.
"""

from __future__ import annotations

import attrs

from ..core.lifecycle import Action, LifecycleEventKind, State, transition
from ..core.models import Broadcast, LifecycleEvent
from ..core.retry import inherit_source_config
from ..core.schedule import split_due
from .context import Runtime

__all__ = ["due_now", "fire", "fire_due"]


def fire(runtime: Runtime, broadcast: Broadcast) -> Broadcast:
    store = runtime.store
    now = runtime.clock.now()
    state = transition(broadcast.state, Action.FIRE)
    config = broadcast
    if broadcast.retry_of is not None:
        config = inherit_source_config(broadcast, store.get_broadcast(broadcast.retry_of))
    sending = attrs.evolve(config, state=state, counters=attrs.evolve(broadcast.counters, started_at=now))
    # SENDING, the audience snapshot and the ``started`` event: one transaction
    fired = store.update_broadcast(
        sending, expected_state=State.SCHEDULED, snapshot=True, event=LifecycleEventKind.STARTED, event_at=now
    )
    runtime.on_event(LifecycleEvent(LifecycleEventKind.STARTED, fired, now))
    return fired


def due_now(runtime: Runtime) -> tuple[list[Broadcast], list[Broadcast]]:
    """SCHEDULED broadcasts whose run-at has come, as (to fire, overdue): an overdue one
    passed its run-at longer ago than ``runtime.max_lateness`` and is not fired."""
    now = runtime.clock.now()
    return split_due(runtime.store.due_broadcasts(now), now, max_lateness=runtime.max_lateness)


def fire_due(runtime: Runtime) -> list[Broadcast]:
    """Fire every SCHEDULED broadcast whose run-at has come (and is not overdue); return
    them, now SENDING."""
    ready, _ = due_now(runtime)
    return [fire(runtime, broadcast) for broadcast in ready]
