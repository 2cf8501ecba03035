"""When a scheduled broadcast may still fire (core.schedule)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.errors import ConfigError
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast
from broadcaster.core.schedule import (
    DEFAULT_MAX_LATENESS,
    check_max_lateness,
    check_run_at,
    overdue_by,
    split_due,
)

NOW = 1_800_000_000.0
DAY = 86_400.0


def scheduled(bid: str, run_at: float | None, state: State = State.SCHEDULED) -> Broadcast:
    return Broadcast(id=bid, audience=Audience(filter=""), state=state, run_at=run_at)


def test_a_day_late_still_fires_a_minute_more_does_not():
    assert DEFAULT_MAX_LATENESS == DAY
    assert overdue_by(scheduled("a", NOW - DAY), NOW) is None
    assert overdue_by(scheduled("b", NOW - DAY - 60), NOW) == DAY + 60
    assert overdue_by(scheduled("c", NOW + 60), NOW) is None


def test_only_a_scheduled_broadcast_can_be_overdue():
    for state in (State.DRAFT, State.SENDING, State.COMPLETED, State.CANCELLED):
        assert overdue_by(scheduled("x", NOW - 30 * DAY, state), NOW) is None
    assert overdue_by(scheduled("y", None), NOW) is None


@given(
    lates=st.lists(st.floats(-DAY, 10 * DAY, allow_nan=False), max_size=12),
    bound=st.floats(1.0, 5 * DAY, allow_nan=False),
)
def test_split_due_keeps_order_and_parts_by_the_bound(lates, bound):
    due = [scheduled(f"b{i}", NOW - late) for i, late in enumerate(lates)]
    fire, overdue = split_due(due, NOW, max_lateness=bound)
    assert [b.id for b in fire] == [b.id for b in due if NOW - b.run_at <= bound]
    assert [b.id for b in overdue] == [b.id for b in due if NOW - b.run_at > bound]


def test_a_run_at_that_would_be_overdue_at_once_is_refused():
    assert check_run_at(NOW - 3600, NOW) == NOW - 3600
    with pytest.raises(ConfigError) as caught:
        check_run_at(NOW - 10 * DAY, NOW)
    assert str(caught.value) == (
        "that run-at is 10.0 days in the past, more than the 24.0 hours a broadcast may start late:"
        ' it would never fire — give a time to come, or "now"'
    )


def test_max_lateness_must_be_positive():
    assert check_max_lateness(60.0) == 60.0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="must be a positive duration"):
            check_max_lateness(bad)
