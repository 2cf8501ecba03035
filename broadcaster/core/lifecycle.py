"""The broadcast lifecycle: states, actions and the one transition table.

h11's rule: every transition lives here, as data. :func:`transition` is the only way a
broadcast changes state; anything missing from :data:`TRANSITIONS` is illegal and
raises :class:`InvalidTransition` naming the state and the action.

A cancel during SENDING does not end the run at once: in-flight sends finish and are
recorded, the rest become SKIPPED (cancelled), and the dispatcher's drain then applies
``FINISH_CANCELLED``. That is why SENDING --CANCEL--> SENDING exists (it records the
request) and why CANCELLED is only reached once the run is really over.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Final, Mapping

from .errors import InvalidTransition

__all__ = ["Action", "LifecycleEventKind", "State", "TERMINAL_STATES", "TRANSITIONS", "transition", "allowed_actions"]


class State(enum.Enum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    SENDING = "SENDING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class Action(enum.Enum):
    #: put a draft on the schedule (it counts against the quota from its creation)
    SCHEDULE = "schedule"
    #: take a scheduled broadcast back to draft
    UNSCHEDULE = "unschedule"
    #: change its configuration (terminal sources: see retry.check_editable)
    EDIT = "edit"
    #: the scheduler fires it: audience re-resolved, sending starts
    FIRE = "fire"
    #: the operator cancels it
    CANCEL = "cancel"
    #: every contact has a row
    FINISH = "finish"
    #: every contact has a row after a cancel
    FINISH_CANCELLED = "finish_cancelled"


TERMINAL_STATES: Final = frozenset({State.COMPLETED, State.CANCELLED})

_S = State
_A = Action

TRANSITIONS: Final[Mapping[tuple[State, Action], State]] = MappingProxyType(
    {
        (_S.DRAFT, _A.SCHEDULE): _S.SCHEDULED,
        (_S.DRAFT, _A.EDIT): _S.DRAFT,
        (_S.DRAFT, _A.CANCEL): _S.CANCELLED,
        (_S.SCHEDULED, _A.UNSCHEDULE): _S.DRAFT,
        (_S.SCHEDULED, _A.EDIT): _S.SCHEDULED,
        (_S.SCHEDULED, _A.FIRE): _S.SENDING,
        (_S.SCHEDULED, _A.CANCEL): _S.CANCELLED,
        (_S.SENDING, _A.CANCEL): _S.SENDING,
        (_S.SENDING, _A.FINISH): _S.COMPLETED,
        (_S.SENDING, _A.FINISH_CANCELLED): _S.CANCELLED,
        # A finished source may be edited while its retry has not started
        # (retry.check_editable decides); the state itself does not change.
        (_S.COMPLETED, _A.EDIT): _S.COMPLETED,
        (_S.CANCELLED, _A.EDIT): _S.CANCELLED,
    }
)

_HINTS: Final[Mapping[State, str]] = MappingProxyType(
    {
        State.DRAFT: "schedule it first",
        State.SCHEDULED: "wait until it fires, or cancel it",
        State.SENDING: "wait for the run to finish, or cancel it",
        State.COMPLETED: "it is finished; create a new broadcast or retry its failures",
        State.CANCELLED: "it is cancelled; create a new broadcast or retry its failures",
    }
)


def transition(state: State, action: Action) -> State:
    """The state after ``action``; raise InvalidTransition if the table has no entry."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise InvalidTransition(state, action, hint=_HINTS[state]) from None


def allowed_actions(state: State) -> frozenset[Action]:
    return frozenset(action for (from_state, action) in TRANSITIONS if from_state is state)


class LifecycleEventKind(enum.Enum):
    SCHEDULED = "scheduled"
    STARTED = "started"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    #: not a change of state: a SCHEDULED broadcast whose run-at passed longer ago than the
    #: worker's max lateness, which it will not fire by itself (see core.schedule)
    OVERDUE = "overdue"
