"""When a scheduled broadcast may fire: on time, or late within a bound — never long after.

A broadcast whose run-at passed long ago must not go out silently: the worker was down for
days, or the store was restored from an old backup, and "Sale ends tonight" would reach
everyone a week late (listmonk #1801: a restored snapshot re-sent a long-past campaign).
So the scheduler fires a due broadcast only within ``max_lateness`` of its run-at. A later
one is *overdue*: it stays SCHEDULED, is never fired by itself, and is reported until an
operator sends it anyway (moves its run-at to now) or cancels it.
"""

from __future__ import annotations

from typing import Sequence

from .errors import ConfigError
from .lifecycle import State
from .models import Broadcast

__all__ = ["DEFAULT_MAX_LATENESS", "MAX_RUN_AHEAD", "check_max_lateness", "check_run_at", "overdue_by", "split_due"]

#: how late after its run-at a broadcast still fires (a day: a worker restarted the next
#: morning still sends yesterday evening's broadcast; one restored from last week does not)
DEFAULT_MAX_LATENESS = 24 * 3600.0


def check_max_lateness(seconds: float) -> float:
    """``seconds`` if it is a usable max lateness (positive), else ConfigError."""
    if not seconds > 0:
        raise ConfigError(
            f"must be a positive duration, got {seconds!r}",
            hint='e.g. "24h" (the default), "90m", "3d"',
        )
    return seconds


#: how far ahead a run-at may be (ten years): further is a typo, and a time far enough
#: ahead no longer fits a calendar date where it is shown
MAX_RUN_AHEAD = 3650 * 86400.0


def check_run_at(run_at: float, now: float, *, max_lateness: float = DEFAULT_MAX_LATENESS) -> float:
    """``run_at`` if a broadcast set to it would still fire, else ConfigError: a run-at
    further in the past than ``max_lateness`` would be overdue the moment it is set, one
    more than :data:`MAX_RUN_AHEAD` ahead is refused."""
    if not run_at - now <= MAX_RUN_AHEAD:
        raise ConfigError(
            "that run-at is more than ten years ahead",
            hint='give a time within the next ten years, e.g. "in 10m" or 2027-03-01T09:00',
        )
    late = now - run_at
    if late > max_lateness:
        raise ConfigError(
            f"that run-at is {_hours(late)} in the past, more than the {_hours(max_lateness)} a broadcast may"
            " start late: it would never fire",
            hint='give a time to come, or "now"',
        )
    return run_at


def _hours(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 2 * 86400 else f"{seconds / 3600:.1f} hours"


def overdue_by(broadcast: Broadcast, now: float, *, max_lateness: float = DEFAULT_MAX_LATENESS) -> float | None:
    """How long ago a SCHEDULED broadcast's run-at passed, if that is more than
    ``max_lateness`` (so it will not fire by itself); None otherwise."""
    if broadcast.state is not State.SCHEDULED or broadcast.run_at is None:
        return None
    late = now - broadcast.run_at
    return late if late > max_lateness else None


def split_due(
    due: Sequence[Broadcast], now: float, *, max_lateness: float = DEFAULT_MAX_LATENESS
) -> tuple[list[Broadcast], list[Broadcast]]:
    """Due SCHEDULED broadcasts as (to fire now, overdue), each in the given order."""
    fire: list[Broadcast] = []
    overdue: list[Broadcast] = []
    for broadcast in due:
        (overdue if overdue_by(broadcast, now, max_lateness=max_lateness) is not None else fire).append(broadcast)
    return fire, overdue
