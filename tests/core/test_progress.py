"""Is a SENDING broadcast still moving (core.progress)."""

from __future__ import annotations

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Counters
from broadcaster.core.progress import STALLED_AFTER, stalled_for

NOW = 1_800_000_000.0


def sending(started_at: float | None = NOW - 7200, state: State = State.SENDING) -> Broadcast:
    return Broadcast(id="b", audience=Audience(filter=""), state=state, counters=Counters(started_at=started_at))


def test_half_an_hour_without_a_row_is_stalled():
    assert STALLED_AFTER == 1800.0
    assert stalled_for(sending(), NOW - 1800, NOW) is None
    assert stalled_for(sending(), NOW - 1801, NOW) == 1801
    assert stalled_for(sending(), NOW - 5, NOW) is None


def test_before_its_first_row_the_start_counts():
    assert stalled_for(sending(started_at=NOW - 3600), None, NOW) == 3600
    assert stalled_for(sending(started_at=NOW - 60), None, NOW) is None
    assert stalled_for(sending(started_at=None), None, NOW) is None


def test_only_a_sending_broadcast_can_stall():
    for state in (State.DRAFT, State.SCHEDULED, State.COMPLETED, State.CANCELLED):
        assert stalled_for(sending(state=state), NOW - 86_400, NOW) is None


def test_the_bound_can_be_chosen():
    assert stalled_for(sending(), NOW - 120, NOW, after=60) == 120
