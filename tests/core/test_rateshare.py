"""Shared provider limits, the decisions: grants from share rows never add up to more than
the integration's rate, whoever joins, renews, leaves or dies when; a refusal one worker
saw is published once and adopted by the others."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.rateshare import (
    CLOCK_SKEW,
    NO_GRANT,
    Grant,
    LimitRow,
    LocalLimit,
    ShareRow,
    limit_to_adopt,
    limit_to_publish,
    plan_share,
)

LEASE = 2.0


def test_a_worker_alone_gets_the_whole_rate_at_once() -> None:
    plan = plan_share([], me="a", now=10.0, lease=LEASE, wants=True)
    assert plan.row == ShareRow("a", 10.0, 12.0)
    assert plan.grant == Grant(((10.0, 1.0),), 12.0)
    assert plan.grant.fraction(11.9) == 1.0 and plan.grant.fraction(12.0) == 0.0


def test_a_newcomer_waits_out_the_grants_that_could_not_count_it() -> None:
    a = ShareRow("a", 0.0, 12.0)
    plan = plan_share([a], me="b", now=10.5, lease=LEASE, wants=True)
    starts = 10.5 + LEASE + CLOCK_SKEW
    assert plan.row == ShareRow("b", starts, 12.5)
    # nothing to send on in this grant: it starts after the grant ends
    assert plan.grant == Grant(((10.5, 0.0),), 12.5)
    assert plan.grant.next_start(10.5) is None
    # the renewal after: its start is kept, from which it has half
    later = plan_share([a, plan.row], me="b", now=11.0, lease=LEASE, wants=True)
    assert later.row == ShareRow("b", starts, 13.0)
    assert later.grant == Grant(((11.0, 0.0), (starts, 0.5)), 13.0)
    assert later.grant.next_start(11.0) == starts


def test_a_worker_already_sending_halves_when_the_newcomer_starts_not_before() -> None:
    b = ShareRow("b", 12.55, 12.5)  # b joined at 10.5
    a = ShareRow("a", 0.0, 12.0)
    plan = plan_share([a, b], me="a", now=11.0, lease=LEASE, wants=True)
    assert plan.grant == Grant(((11.0, 1.0), (12.55, 0.5)), 13.0)


def test_a_renewed_grant_goes_on_from_the_fraction_in_force_before_it() -> None:
    # a caller whose clock was read a moment before the renewal's keeps the fraction it had
    before = Grant(((10.0, 1.0),), 12.0)
    renewed = Grant(((10.25, 1.0), (11.5, 0.5)), 12.25)
    assert renewed.fraction(10.24) == 0.0
    after = renewed.following(before)
    assert after == Grant(((10.0, 1.0), (11.5, 0.5)), 12.25)
    assert after.fraction(10.24) == 1.0 and after.fraction(11.6) == 0.5 and after.fraction(12.25) == 0.0
    # a newcomer waiting: still nothing before its start
    waiting = Grant(((11.0, 0.0), (12.55, 0.5)), 13.0).following(Grant(((10.5, 0.0),), 12.5))
    assert waiting == Grant(((10.5, 0.0), (12.55, 0.5)), 13.0)
    # a previous grant that had run out: nothing after its end; none at all: unchanged
    lapsed = Grant(((10.0, 0.5),), 11.0).following(Grant(((5.0, 1.0),), 7.0))
    assert lapsed.steps == ((5.0, 1.0), (7.0, 0.0), (10.0, 0.5)) and lapsed.fraction(8.0) == 0.0
    assert renewed.following(NO_GRANT) is renewed and NO_GRANT.following(before) is NO_GRANT


def test_rows_whose_lease_passed_do_not_count_and_a_worker_without_sends_drops_its_row() -> None:
    dead = ShareRow("dead", 0.0, 9.0)
    plan = plan_share([dead], me="a", now=10.0, lease=LEASE, wants=True)
    assert plan.grant == Grant(((10.0, 1.0),), 12.0) and plan.row == ShareRow("a", 10.0, 12.0)
    idle = plan_share([plan.row], me="a", now=11.0, lease=LEASE, wants=False)
    assert idle.row is None and idle.grant is NO_GRANT and idle.grant.fraction(11.0) == 0.0


def test_a_lease_must_be_positive() -> None:
    with pytest.raises(ValueError, match="a share lease must be > 0 seconds, got 0"):
        plan_share([], me="a", now=0.0, lease=0, wants=True)


# -- the property: at no instant do valid grants add up to more than the whole rate ------------

_EVENT = st.tuples(
    st.integers(min_value=0, max_value=3),  # which worker
    st.floats(min_value=0.0, max_value=2.5),  # time since the previous event
    st.sampled_from(["renew", "renew", "renew", "idle", "die"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENT, min_size=1, max_size=40))
def test_grants_never_add_up_to_more_than_the_rate(events: list[tuple[int, float, str]]) -> None:
    """Workers renew, go idle or die (stop renewing, row left behind) in any order; each
    renewal reads the rows under the store's lock and writes its own. Every instant where
    a fraction may change is checked: the grants in force add up to at most 1."""
    rows: dict[str, ShareRow] = {}
    grants: dict[str, list[tuple[float, Grant]]] = {}  # per worker: (issued at, grant), in order
    dead: set[str] = set()
    now = 0.0
    for who, gap, what in events:
        now += gap
        me = f"w{who}"
        if me in dead:
            continue
        if what == "die":
            dead.add(me)
            continue
        plan = plan_share(list(rows.values()), me=me, now=now, lease=LEASE, wants=what == "renew")
        if plan.row is None:
            rows.pop(me, None)
        else:
            rows[me] = plan.row
        grants.setdefault(me, []).append((now, plan.grant))
    instants = {now + LEASE}
    for issued in grants.values():
        for at, grant in issued:
            instants |= {at, grant.valid_until} | {start for start, _ in grant.steps}
    checks = sorted(instants)
    for i, instant in enumerate(checks):
        for t in (instant, (instant + checks[i + 1]) / 2 if i + 1 < len(checks) else instant + 0.1):
            total = 0.0
            for issued in grants.values():
                in_force = [g for at, g in issued if at <= t]
                if in_force:
                    total += in_force[-1].fraction(t)
            assert total <= 1.0 + 1e-9, (t, total)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=6), st.floats(min_value=0.05, max_value=0.5))
def test_steady_workers_end_up_with_equal_shares_of_all_of_it(count: int, beat: float) -> None:
    """Workers renewing on a beat, all wanting: once the last newcomer started, each has 1/N."""
    rows: dict[str, ShareRow] = {}
    latest: dict[str, Grant] = {}
    now = 0.0
    for _ in range(int((LEASE + CLOCK_SKEW) / beat) + 3):
        for i in range(count):
            plan = plan_share(list(rows.values()), me=f"w{i}", now=now, lease=LEASE, wants=True)
            assert plan.row is not None
            rows[plan.row.worker_id] = plan.row
            latest[plan.row.worker_id] = plan.grant
            now += beat / count
    fractions = [grant.fraction(now) for grant in latest.values()]
    assert fractions == pytest.approx([1.0 / count] * count)


# -- the limit row ------------------------------------------------------------------------------


def test_a_refusal_is_published_while_it_settles_then_not_again() -> None:
    local = LocalLimit(factor=0.7, paused_until=11.0, refused_at=10.0)
    first = limit_to_publish(local, None, published=None, me="a", now=10.1)
    assert first == LimitRow(0.7, 11.0, 10.1, "a")
    assert limit_to_publish(local, first, published=first, me="a", now=10.3) is None  # nothing new
    settled = LocalLimit(factor=0.29, paused_until=11.0, refused_at=10.0)
    assert limit_to_publish(settled, first, published=first, me="a", now=10.4) == LimitRow(0.29, 11.0, 10.4, "a")
    # long after the refusal, a bucket climbing back publishes nothing
    climbing = LocalLimit(factor=0.35, paused_until=11.0, refused_at=10.0)
    assert limit_to_publish(climbing, first, published=first, me="a", now=25.0) is None
    assert limit_to_publish(LocalLimit(1.0, 0.0, None), None, published=None, me="a", now=1.0) is None


def test_a_published_pause_already_longer_is_kept() -> None:
    row = LimitRow(0.5, 20.0, 9.0, "b")
    local = LocalLimit(factor=0.6, paused_until=11.0, refused_at=10.0)
    assert limit_to_publish(local, row, published=None, me="a", now=10.0) == LimitRow(0.6, 20.0, 10.0, "a")


def test_another_workers_row_is_adopted_once_and_ones_own_never() -> None:
    row = LimitRow(0.3, 11.0, 10.0, "b")
    assert limit_to_adopt(row, seen_at=-math.inf, me="a") is row
    assert limit_to_adopt(row, seen_at=10.0, me="a") is None
    assert limit_to_adopt(row, seen_at=-math.inf, me="b") is None
    assert limit_to_adopt(None, seen_at=-math.inf, me="a") is None
