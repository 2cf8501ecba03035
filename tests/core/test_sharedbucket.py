"""The shared bucket: no token outside a grant, the granted fraction of the rate and burst
inside it, and a refusal one worker saw slowing and pausing the others."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.ratelimit import TokenBucket
from broadcaster.core.rateshare import CLOCK_SKEW, LimitRow, ShareRow
from broadcaster.core.sharedbucket import IDLE_AFTER, WAIT_FOR_GRANT, SharedBucket

LEASE = 2.0


class Rows:
    """The store's rows of one integration, renewed as the SQL store does (in memory)."""

    def __init__(self) -> None:
        self.shares: dict[str, ShareRow] = {}
        self.limit: LimitRow | None = None

    def renew(self, bucket: SharedBucket, me: str, now: float) -> None:
        decide = bucket.decider(me=me, now=now, lease=LEASE)
        sync = decide(sorted(self.shares.values(), key=lambda r: r.worker_id), self.limit)
        if sync.plan.row is None:
            self.shares.pop(me, None)
        else:
            self.shares[me] = sync.plan.row
        if sync.publish is not None:
            self.limit = sync.publish
        bucket.apply(sync, now)


def test_no_token_before_a_grant_then_the_whole_rate_for_a_worker_alone() -> None:
    bucket = SharedBucket(rate=100.0, burst=10, now=0.0)
    assert bucket.try_take(0.0) is False
    assert bucket.next_available(0.0) == WAIT_FOR_GRANT
    assert bucket.wants(0.0)
    rows = Rows()
    rows.renew(bucket, "a", 0.01)
    assert rows.shares == {"a": ShareRow("a", 0.01, 2.01)}
    # it starts without tokens saved up (another worker may have just stopped), at 100/s
    assert bucket.try_take(0.01) is False
    assert [bucket.try_take(0.11) for _ in range(11)] == [True] * 10 + [False]
    # the grant runs out unrenewed: nothing more, however long it waits
    assert bucket.try_take(1.0) is True and bucket.try_take(2.01) is False


def test_two_workers_get_half_the_rate_and_half_the_burst_each() -> None:
    rows = Rows()
    a, b = SharedBucket(rate=100.0, burst=10, now=0.0), SharedBucket(rate=100.0, burst=10, now=0.0)
    a.try_take(0.0), b.try_take(0.0)
    rows.renew(a, "a", 0.0)
    assert a.try_take(0.0) is False  # a's share begins, with no tokens saved up
    rows.renew(b, "b", 0.0)  # b finds a: it starts once a's grant (which could not count it) ended
    starts = LEASE + CLOCK_SKEW
    assert rows.shares["b"] == ShareRow("b", starts, LEASE)
    assert b.next_available(0.1) == pytest.approx(0.1 + WAIT_FOR_GRANT)  # no start within its grant
    rows.renew(a, "a", 1.0)  # a now counts b from b's start on (the fraction in force goes on)
    rows.renew(b, "b", 1.0)
    assert a.grant.steps == ((0.0, 1.0), (starts, 0.5)) and b.grant.steps == ((0.0, 0.0), (starts, 0.5))
    assert b.next_available(1.0) == starts
    assert b.wants(starts + IDLE_AFTER)  # waiting for its start is wanting a share
    assert a.try_take(1.5) is True  # a still has the whole rate until b starts
    assert sum(a.try_take(starts) for _ in range(10)) == 5  # half the burst
    # b starts without tokens saved up (a keeps the provider busy), then paces at 50/s
    assert sum(b.try_take(starts) for _ in range(10)) == 0
    assert b.next_available(starts) == pytest.approx(starts + 0.02 + 1e-6)
    assert sum(b.try_take(starts + 0.5) for _ in range(10)) == 5  # its burst fills as a's would
    assert (a.base_rate, b.base_rate) == (50.0, 50.0)


def test_a_bucket_not_asked_for_a_while_gives_its_share_back() -> None:
    rows = Rows()
    a = SharedBucket(rate=100.0, burst=10, now=0.0)
    a.try_take(0.0)
    rows.renew(a, "a", 0.0)
    assert a.wants(IDLE_AFTER) and not a.wants(IDLE_AFTER + 0.01)
    rows.renew(a, "a", IDLE_AFTER + 0.01)
    assert rows.shares == {} and a.try_take(IDLE_AFTER + 0.02) is False


def _two_at_500(rows: Rows) -> tuple[SharedBucket, SharedBucket]:
    """Two workers renewing every 0.5 s: by 3 s both have started, 500/s each."""
    a, b = SharedBucket(rate=1000.0, burst=50, now=0.0), SharedBucket(rate=1000.0, burst=50, now=0.0)
    for beat in range(7):
        for bucket, me in ((a, "a"), (b, "b")):
            bucket.try_take(beat / 2)
            rows.renew(bucket, me, beat / 2)
    assert a.base_rate == b.base_rate == 500.0
    return a, b


def test_a_refusal_one_worker_saw_pauses_and_slows_the_other() -> None:
    rows = Rows()
    a, b = _two_at_500(rows)
    t = 3.0  # both have started, 500/s each
    assert a.try_take(t) and b.try_take(t)
    assert a.base_rate == b.base_rate == 500.0
    # a's provider refuses with "retry after 1 s": a pauses, cuts its rate, and says so
    a.throttled(t + 0.1, pause=1.0, sent_at=t + 0.05)
    rows.renew(a, "a", t + 0.15)
    # the pause at once; the rate once a's replies have measured (its cut meanwhile is a guard)
    assert rows.limit == LimitRow(1.0, t + 1.1, t + 0.15, "a")
    assert b.try_take(t + 0.2) is True  # b has not heard yet
    rows.renew(b, "b", t + 0.2)
    assert b.paused_until == t + 1.1 and b.try_take(t + 0.3) is False
    assert b.rate(t + 0.3) == pytest.approx(500.0)
    # a's window closed with nothing measured, but the fleet's first refusal: a step down
    rows.renew(a, "a", t + 0.45)
    assert rows.limit == LimitRow(pytest.approx(0.97), t + 1.1, t + 0.45, "a")
    rows.renew(b, "b", t + 0.5)
    assert b.rate(t + 0.5) == pytest.approx(485.0)  # 0.97 of its share, as a measured
    rows.renew(b, "b", t + 0.6)
    assert b.rate(t + 0.6) == pytest.approx(485.0)  # adopted once, not again
    # b, refused after the pause (it was told of a's refusal): far over, the blind cut stands
    b.throttled(t + 1.2, pause=1.0, sent_at=t + 1.15)
    rows.renew(b, "b", t + 1.55)
    rows.renew(a, "a", t + 1.6)
    assert rows.limit == LimitRow(pytest.approx(0.97 * 0.7), t + 2.2, t + 1.55, "b")
    assert a.rate(t + 1.6) == pytest.approx(485.0 * 0.7) and a.paused_until == t + 2.2


def test_a_renewal_read_a_moment_after_the_dispatcher_s_clock_keeps_the_tokens() -> None:
    # the renewal takes its time after the dispatcher read its clock: a try_take at that
    # earlier instant still has the grant in force then, and the tokens saved under it
    rows = Rows()
    a = SharedBucket(rate=100.0, burst=10, now=0.0)
    a.try_take(0.0)
    rows.renew(a, "a", 0.0)
    assert a.try_take(0.0) is False  # its share begins, with no tokens saved up
    assert a.try_take(0.5) is True  # the burst filled meanwhile: 9 left
    rows.renew(a, "a", 0.6)
    assert [a.try_take(0.599) for _ in range(11)] == [True] * 10 + [False]


def test_a_lone_refusal_after_a_clean_run_slows_the_other_worker_a_step_not_a_cut() -> None:
    rows = Rows()
    a, b = _two_at_500(rows)
    for i in range(500):  # a second of a's sends accepted, then one 429 with a 1 s pause
        a.accepted(2.0 + i / 500 + 0.001, sent_at=2.0 + i / 500)
    a.throttled(3.001, pause=1.0, sent_at=3.0)
    for now in (3.05, 3.1, 3.35, 3.4):
        rows.renew(a, "a", now)
        rows.renew(b, "b", now + 0.01)
    assert rows.limit == LimitRow(pytest.approx(0.97), pytest.approx(4.001), 3.35, "a")
    assert a.rate(3.5) == pytest.approx(485.0) and b.rate(3.5) == pytest.approx(485.0)


def test_a_new_ceiling_keeps_the_measured_limit_in_proportion() -> None:
    bucket = TokenBucket(rate=1000.0, burst=50, now=0.0)
    bucket.throttled(1.0, pause=None, sent_at=1.0)
    assert bucket.learned == pytest.approx(700.0)
    bucket.set_ceiling(500.0, 25, 1.0)
    assert bucket.learned == pytest.approx(350.0) and bucket.base_rate == 500.0 and bucket.burst == 25.0
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1, got rate=0 burst=1"):
        bucket.set_ceiling(0, 1, 1.0)


def test_adopt_keeps_only_a_slower_rate_and_climbs_back_from_when_it_was_measured() -> None:
    bucket = TokenBucket(rate=1000.0, burst=50, now=0.0)
    assert bucket.adopt(1000.0, since=0.0, now=1.0) is False and bucket.learned is None
    assert bucket.adopt(300.0, since=1.0, now=1.0) is True and bucket.rate(1.0) == 300.0
    assert bucket.adopt(400.0, since=1.0, now=2.0) is False and bucket.rate(2.0) == 300.0
    # measured 30 s ago: it has climbed 5 % per 10 s for the 10 s past the 20 s quiet spell
    fresh = TokenBucket(rate=1000.0, burst=50, now=0.0)
    assert fresh.adopt(300.0, since=0.0, now=30.0) is True
    assert fresh.rate(30.0) == pytest.approx(315.0)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=4),
    st.lists(st.floats(min_value=0.0, max_value=1.5), min_size=1, max_size=4),
    st.floats(min_value=0.1, max_value=0.5),
)
def test_greedy_workers_together_stay_within_the_rate(count: int, joins: list[float], beat: float) -> None:
    """Workers joining at any time, renewing on a beat and taking every token they may:
    in every 1-second window they send at most the rate plus the burst (plus the one
    token each bucket keeps as its smallest burst)."""
    rate, burst = 200.0, 10
    rows = Rows()
    buckets = {f"w{i}": SharedBucket(rate=rate, burst=burst, now=0.0) for i in range(count)}
    join_at = {me: joins[i % len(joins)] for i, me in enumerate(buckets)}
    sends: list[float] = []
    next_renewal = {me: join_at[me] for me in buckets}
    now, end, step = 0.0, 8.0, 0.002
    while now < end:
        for me, bucket in buckets.items():
            if now < join_at[me]:
                continue
            if now >= next_renewal[me]:
                rows.renew(bucket, me, now)
                next_renewal[me] = now + beat
            while bucket.try_take(now):
                sends.append(now)
        now += step
    sends.sort()
    j = 0
    for i, t in enumerate(sends):
        while sends[j] <= t - 1.0:
            j += 1
        assert i - j + 1 <= rate + burst + count


def _sharing_half() -> SharedBucket:
    rows = Rows()
    a, b = _two_at_500(rows)
    assert a.base_rate == 500.0 and not a.measures_alone()
    return a


@pytest.mark.parametrize(
    ("accepted_inside", "told", "rate", "alone_rate"),
    [(6, True, 485.0, 490.0), (2, True, 350.0, 147.0), (2, False, 485.0, 147.0)],
)
def test_a_share_does_not_measure_the_limit_from_its_own_sends(
    accepted_inside: int, told: bool, rate: float, alone_rate: float
) -> None:
    # the provider counts the other worker's sends too: what this one saw accepted between
    # its refusals is its luck among them. Mostly accepted: a step down; mostly refused: a
    # cut -- unless it is the fleet's first refusal (``told``: the other worker was refused
    # before), which where a newcomer starts is the shares meeting unevenly: a step.
    a = _sharing_half()
    if told:
        assert a.adopt(500.0, since=2.9, now=2.9) is False  # no slower, but told
    a.throttled(3.001, pause=None, sent_at=3.0)
    for i in range(accepted_inside):
        a.accepted(3.002, sent_at=3.0 + (i + 1) * 0.01 / (accepted_inside + 1))
    a.throttled(3.011, pause=None, sent_at=3.01)
    a.throttled(3.011, pause=None, sent_at=3.01)
    assert a.rate(3.5) == pytest.approx(rate)
    alone = TokenBucket(rate=500.0, burst=25, now=0.0)  # the same replies, alone: measured
    alone.throttled(3.001, pause=None, sent_at=3.0)
    for i in range(accepted_inside):
        alone.accepted(3.002, sent_at=3.0 + (i + 1) * 0.01 / (accepted_inside + 1))
    alone.throttled(3.011, pause=None, sent_at=3.01)
    alone.throttled(3.011, pause=None, sent_at=3.01)
    assert alone.rate(3.5) == pytest.approx(alone_rate)  # measured: 0.98 of its rate or of the limit


def test_a_share_refused_in_a_burst_after_a_long_clean_run_steps_down_not_cut() -> None:
    # the fleet ran at the limit for a second, then a burst of refusals with a 1 s pause:
    # jitter at the limit, not a limit far below (that would refuse again soon after)
    a = _sharing_half()
    for i in range(500):
        a.accepted(2.0 + i / 500 + 0.001, sent_at=2.0 + i / 500)
    for sent in (3.0, 3.002, 3.004):
        a.throttled(sent + 0.001, pause=1.0, sent_at=sent)
    assert a.rate(3.5) == pytest.approx(485.0)
    # refused again soon after, with a handful accepted since: now far over, a cut
    for i in range(20):
        a.accepted(4.1 + i / 500, sent_at=4.1 + i / 500)
    for sent in (4.2, 4.202, 4.204):
        a.throttled(sent + 0.001, pause=1.0, sent_at=sent)
    assert a.rate(4.6) == pytest.approx(485.0 * 0.7)
