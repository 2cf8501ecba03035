"""The adaptive token bucket: a hard bound on sends, halving on 429, linear recovery."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.ratelimit import TokenBucket

# The bucket forgives float dust (a token due "now" computed as 0.9999999), so allow
# that much per take when counting.
DUST = 1e-6


def test_starts_full_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [True, True, True, False] == [bucket.try_take(0.0) for _ in range(4)]
    assert 0.1 == pytest.approx(bucket.next_available(0.0))
    assert not bucket.try_take(0.05)
    assert bucket.try_take(0.1)
    # idle time refills up to the burst, never beyond
    assert [True, True, True, False] == [bucket.try_take(100.0) for _ in range(4)]


def test_next_available_is_now_when_a_token_is_there() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=5.0)
    assert 5.0 == bucket.next_available(5.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 5), (1.0, 0)])
def test_rejects_a_bucket_that_could_never_send(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=f"rate > 0 and burst >= 1, got rate={rate} burst={burst}"):
        TokenBucket(rate=rate, burst=burst, now=0.0)


steps = st.lists(
    st.tuples(
        st.floats(0, 2),  # time advance before this step
        st.integers(1, 5),  # take attempts at that instant
        st.booleans(),  # a 429 for the whole integration first?
        st.none() | st.floats(0, 3),  # its pause hint
    ),
    max_size=60,
)


@given(st.floats(0.5, 100), st.integers(1, 20), steps)
def test_never_exceeds_rate_times_window_plus_burst(
    rate: float, burst: int, plan: list[tuple[float, int, bool, float | None]]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now = 0.0
    taken: list[float] = []
    for advance, tries, throttle, pause in plan:
        now += advance
        if throttle:
            bucket.throttled(now, pause=pause)
        for _ in range(tries):
            if bucket.try_take(now):
                taken.append(now)
    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            count = j - i + 1
            assert count <= rate * (taken[j] - start) + burst + DUST * count


def test_throttled_halves_the_rate_and_empties_the_bucket() -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0)
    bucket.throttled(5.0)
    assert 5.0 == bucket.rate(5.0)
    assert not bucket.try_take(5.0)
    assert 5.2 == pytest.approx(bucket.next_available(5.0))


def test_throttled_honours_the_pause_hint() -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0)
    bucket.throttled(5.0, pause=2.0)
    assert 7.0 == bucket.next_available(5.0)
    assert not bucket.try_take(6.99)
    assert bucket.try_take(7.0)
    # a shorter later pause never shortens the current one
    bucket.throttled(7.0, pause=4.0)
    bucket.throttled(8.0, pause=1.0)
    assert 11.0 == bucket.next_available(8.0)


@given(st.floats(0, 30))
def test_recovers_linearly_to_the_base_rate(elapsed: float) -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0, recovery=30.0)
    bucket.throttled(100.0)
    assert pytest.approx(5.0 + 5.0 * elapsed / 30.0) == bucket.rate(100.0 + elapsed)


def test_recovery_ends_at_the_base_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0, recovery=30.0)
    bucket.throttled(0.0)
    assert 7.5 == bucket.rate(15.0)
    assert 10.0 == bucket.rate(30.0)
    assert 10.0 == bucket.rate(1000.0)


def test_repeated_throttling_halves_again_but_not_below_min_rate() -> None:
    bucket = TokenBucket(rate=8.0, burst=8, now=0.0, min_rate=1.5)
    rates = []
    for _ in range(4):
        bucket.throttled(0.0)
        rates.append(bucket.rate(0.0))
    assert [4.0, 2.0, 1.5, 1.5] == rates


def test_min_rate_never_exceeds_the_base_rate() -> None:
    bucket = TokenBucket(rate=0.2, burst=1, now=0.0, min_rate=0.5)
    bucket.throttled(0.0)
    assert 0.2 == bucket.rate(0.0)
