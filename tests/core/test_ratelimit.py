"""The adaptive token bucket: a hard bound on sends, halving on 429, linear recovery."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.ratelimit import TokenBucket

# The bucket never sends early; its waits carry one microsecond of margin against float
# rounding, so counting allows no dust at all.
DUST = 0.0


def test_starts_full_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [True, True, True, False] == [bucket.try_take(0.0) for _ in range(4)]
    assert 0.100001 == pytest.approx(bucket.next_available(0.0))  # 0.1 s plus a microsecond of margin
    assert not bucket.try_take(0.05)
    assert bucket.try_take(bucket.next_available(0.05))
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
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0, decrease=0.5, recovery=30.0)
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
def test_recovers_linearly_to_90_percent_of_the_refused_rate(elapsed: float) -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0, recovery=30.0, decrease=0.5)
    bucket.throttled(100.0)
    assert pytest.approx(5.0 + 4.0 * elapsed / 30.0) == bucket.rate(100.0 + elapsed)


def test_recovery_then_probes_back_to_the_configured_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=10, now=0.0, recovery=30.0, decrease=0.5)
    bucket.throttled(0.0)
    assert 7.0 == bucket.rate(15.0)
    assert 9.0 == bucket.rate(30.0)
    assert 9.5 == pytest.approx(bucket.rate(90.0))
    assert 10.0 == bucket.rate(150.0)
    assert 10.0 == bucket.rate(1000.0)


def test_refusals_of_one_burst_decrease_the_rate_once() -> None:
    bucket = TokenBucket(rate=8.0, burst=8, now=0.0, decrease=0.5, recovery=30.0)
    for at in (0.0, 0.1, 0.5, 0.99):
        bucket.throttled(at)
    assert 4.0 == pytest.approx(bucket.rate(0.0))


def test_repeated_throttling_halves_again_but_not_below_min_rate() -> None:
    bucket = TokenBucket(rate=8.0, burst=8, now=0.0, min_rate=1.5, recovery=1e9, decrease=0.5)
    rates = []
    for second in range(4):
        bucket.throttled(float(second))
        rates.append(bucket.rate(float(second)))
    assert pytest.approx([4.0, 2.0, 1.5, 1.5]) == rates


def test_a_rate_far_above_the_limit_settles_below_it() -> None:
    """Configured at 200/s against a provider taking 50/s: after learning, the rate stays
    under the limit for a whole recovery period instead of refusing every few seconds."""
    bucket = TokenBucket(rate=200.0, burst=5, now=0.0, recovery=30.0)
    now, refusals, provider_tokens, last = 0.0, 0, 5.0, 0.0
    for _ in range(20_000):
        now = bucket.next_available(now)
        assert bucket.try_take(now)
        provider_tokens = min(5.0, provider_tokens + (now - last) * 50.0)
        last = now
        if provider_tokens >= 1:
            provider_tokens -= 1
        else:
            refusals += 1
            bucket.throttled(now)
    assert now > 300  # most of the time is spent near 50/s
    assert refusals < 20_000 * 0.01  # under one percent of sends refused, even configured 4x too fast


def test_min_rate_never_exceeds_the_base_rate() -> None:
    bucket = TokenBucket(rate=0.2, burst=1, now=0.0, min_rate=0.5, decrease=0.5, recovery=30.0)
    bucket.throttled(0.0)
    assert 0.2 == bucket.rate(0.0)


@pytest.mark.parametrize("epoch", [0.0, 1_000_000.0, 1_800_000_000.0, 4_000_000_000.0])
@pytest.mark.parametrize("rate", [0.7, 30.0, 1000.0, 12345.0])
def test_waking_at_next_available_always_yields_a_token_at_posix_scale(epoch, rate):
    """Regression: near 1.8e9 s a float clock cannot express sub-ulp waits; the bucket must
    never answer "wait" at the very time it said a token would be there."""
    bucket = TokenBucket(rate=rate, burst=1, now=epoch)
    now = epoch
    taken = 0
    for _ in range(200):
        if bucket.try_take(now):
            taken += 1
            continue
        later = bucket.next_available(now)
        assert later > now
        now = later
        assert bucket.try_take(now), f"no token at the promised time {now!r}"
        taken += 1
    assert taken == 200
    # one microsecond of margin per token, never early
    assert 199 / rate <= now - epoch <= 199 / rate + 199 * 2e-6


def test_the_default_decrease_is_gentle_and_recovers_within_ten_seconds() -> None:
    """One stray refusal (arrival jitter) costs 30 % for a moment, not half the rate for long."""
    bucket = TokenBucket(rate=1000.0, burst=30, now=0.0)
    bucket.throttled(0.0)
    assert 700.0 == pytest.approx(bucket.rate(0.0))
    assert 900.0 == pytest.approx(bucket.rate(10.0))  # back to 90 % of the refused rate
    assert 1000.0 == bucket.rate(50.0)  # then probed back up to the configured rate


def test_decrease_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="decrease must be between 0 and 1"):
        TokenBucket(rate=1.0, burst=1, now=0.0, decrease=1.0)


def test_a_warming_bucket_starts_with_one_token_and_ramps_to_its_rate() -> None:
    t0 = 1_800_000_000.0
    bucket = TokenBucket(rate=1000.0, burst=50, now=t0, warmup=0.5)
    assert bucket.try_take(t0) and not bucket.try_take(t0)  # one token, not a burst of 50
    assert bucket.rate(t0) == pytest.approx(50.0)  # 5 % at first
    assert bucket.rate(t0 + 0.25) == pytest.approx(500.0)
    assert bucket.rate(t0 + 0.5) == 1000.0 and bucket.rate(t0 + 60) == 1000.0
    # taking tokens as fast as allowed, the first half second carries about half the rate's worth
    sent, t = 0, t0
    while t < t0 + 0.5:
        if bucket.try_take(t):
            sent += 1
        t = bucket.next_available(t)
    assert 240 <= sent <= 270


def test_a_refusal_while_warming_is_remembered_after_it() -> None:
    t0 = 1_000.0
    bucket = TokenBucket(rate=100.0, burst=10, now=t0, warmup=1.0)
    assert bucket.rate(t0 + 0.5) == pytest.approx(50.0)  # half way up the ramp
    bucket.throttled(t0 + 0.5)
    assert bucket.rate(t0 + 0.5) == pytest.approx(35.0)  # cut from the rate it was refused at
    assert bucket.rate(t0 + 1.0) == pytest.approx(35.5)  # after the ramp: recovering, not back to 100


def test_without_warmup_a_bucket_is_as_before() -> None:
    bucket = TokenBucket(rate=10.0, burst=5, now=0.0)
    assert [bucket.try_take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.rate(0.0) == 10.0


@pytest.mark.parametrize("warmup", [-1.0, float("nan")])
def test_warmup_must_not_be_negative(warmup: float) -> None:
    with pytest.raises(ValueError, match="warmup must be >= 0 seconds"):
        TokenBucket(rate=1.0, burst=1, now=0.0, warmup=warmup)
