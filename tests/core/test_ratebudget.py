"""The budget a provider reports on successful replies: the bucket keeps within it before
the provider has to refuse (0 left: wait for the reset; N left: at most N more, less the
sends already in flight)."""

from __future__ import annotations

import pytest

from broadcaster.core.ratelimit import TokenBucket
from broadcaster.core.results import RateState


def _takes(bucket: TokenBucket, now: float, attempts: int) -> int:
    return sum(bucket.try_take(now) for _ in range(attempts))


def test_told_nothing_is_left_it_waits_for_the_reset_instead_of_sending() -> None:
    bucket = TokenBucket(rate=1_000.0, burst=50, now=0.0)
    assert bucket.try_take(0.0)
    bucket.reported(0.05, RateState(remaining=0, reset_after=2.0), sent_at=0.0)
    assert not bucket.try_take(0.05)
    assert 2.05 == bucket.next_available(0.05)
    assert not bucket.try_take(2.0499)
    assert bucket.try_take(2.05)  # the window refilled: sending resumes
    # at the bucket's own rate, with no burst saved while it waited: what goes out before the
    # new window's first report comes back must not overrun the window
    assert 0 == _takes(bucket, 2.05, 100)
    assert 2.051001 == pytest.approx(bucket.next_available(2.05))
    assert 10 == _takes(bucket, 2.06, 100)
    assert 50 == _takes(bucket, 2.2, 100)  # a full burst saved again once it paces itself


def test_told_n_left_it_sends_at_most_n_more_before_the_reset() -> None:
    bucket = TokenBucket(rate=1_000.0, burst=50, now=0.0)
    assert bucket.try_take(0.0)
    bucket.reported(0.03, RateState(remaining=10, reset_after=1.0, limit=100), sent_at=0.0)
    assert 10 == _takes(bucket, 0.5, 100)
    assert 1.03 == bucket.next_available(0.5)
    assert 1 == _takes(bucket, 1.03, 40)  # the window is new: sending resumes at the bucket's rate
    assert 20 == _takes(bucket, 1.05, 40)


def test_the_sends_already_in_flight_come_off_the_reported_count() -> None:
    bucket = TokenBucket(rate=1_000.0, burst=50, now=0.0)
    bucket.reported(0.0, RateState(remaining=100, reset_after=10.0), sent_at=0.0)
    assert 5 == _takes(bucket, 0.1, 5)  # five sends leave at 0.1 s
    # the reply to a request sent at 0.05 says 7 left: the five sent since will take five of them
    bucket.reported(0.12, RateState(remaining=7, reset_after=9.0), sent_at=0.05)
    assert 2 == _takes(bucket, 0.2, 10)
    assert 9.12 == bucket.next_available(0.2)


def test_a_reply_older_than_the_freshest_report_says_nothing_new() -> None:
    bucket = TokenBucket(rate=1_000.0, burst=50, now=0.0)
    bucket.reported(0.1, RateState(remaining=0, reset_after=1.0), sent_at=0.08)
    # an earlier request's reply, overtaken, still saw 30 left: it must not lift the wait
    bucket.reported(0.11, RateState(remaining=30, reset_after=0.99), sent_at=0.02)
    assert 1.1 == bucket.next_available(0.11)


@pytest.mark.parametrize("state", [RateState(remaining=0), RateState(reset_after=5.0), RateState(limit=10)])
def test_a_report_that_bounds_nothing_changes_nothing(state: RateState) -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    bucket.reported(0.0, state, sent_at=0.0)
    assert 3 == _takes(bucket, 0.0, 10)
    assert 0.100001 == pytest.approx(bucket.next_available(0.0))


def test_a_budget_left_unspent_at_the_reset_is_forgotten() -> None:
    bucket = TokenBucket(rate=100.0, burst=1, now=0.0)
    bucket.reported(0.0, RateState(remaining=1, reset_after=1.0), sent_at=0.0)
    assert bucket.try_take(0.0)
    assert 1.0 == bucket.next_available(0.5)
    # after the reset nothing is known: the bucket's own rate paces again, for as long as it runs
    now = 1.0
    for _ in range(100):
        now = bucket.next_available(now)
        assert bucket.try_take(now)
    assert 1.99 == pytest.approx(now, abs=1e-3)


def test_rate_state_refuses_negative_counts_and_endless_resets() -> None:
    with pytest.raises(ValueError, match="remaining must be >= 0"):
        RateState(remaining=-1)
    with pytest.raises(ValueError, match="reset_after must be finite"):
        RateState(reset_after=float("inf"))


def test_a_fresher_report_reopens_the_window_early_at_the_bucket_rate_without_a_burst() -> None:
    # replies overtake each other, and the requests reached the provider in another order
    # than they left: the first report counts the window spent, a fresher one finds 3 left
    bucket = TokenBucket(rate=1_000.0, burst=50, now=0.0)
    assert bucket.try_take(0.0)
    bucket.reported(0.001, RateState(remaining=10, reset_after=2.0), sent_at=0.0)
    assert 5 == _takes(bucket, 0.01, 5)  # five more leave at 0.01 s
    bucket.reported(0.05, RateState(remaining=5, reset_after=2.0), sent_at=0.0)
    assert not bucket.try_take(0.05)  # 5 left less the five in flight: spent
    assert not bucket.try_take(0.5)
    bucket.reported(0.6, RateState(remaining=3, reset_after=1.4), sent_at=0.01)
    assert 1 == _takes(bucket, 0.6, 100)  # reopened after 0.55 s held: one token, not 50
    assert 0.601001 == pytest.approx(bucket.next_available(0.6))
    assert 1 == _takes(bucket, 1.0, 100)  # then at its rate (no burst until the window
    assert 1 == _takes(bucket, 1.002, 100)  # it was held for is over), within what was reported
    assert 2.0 == bucket.next_available(1.002)
