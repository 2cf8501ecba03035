"""Pacing plan defaults and validation; backoff bounds, cap, hint and determinism."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.errors import ConfigError, PacingError
from broadcaster.core.pacing import PacingPlan

# -- PacingPlan ------------------------------------------------------------------------------


def test_defaults_are_the_seeds() -> None:
    plan = PacingPlan()
    assert (500, 50, 10, 5) == (plan.page_size, plan.batch_size, plan.concurrent_batches, plan.in_flight_per_batch)
    assert 50 == plan.max_in_flight


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("page_size", 0, "pacing.page_size must be between 1 and 100000, got 0"),
        ("page_size", 100_001, "pacing.page_size must be between 1 and 100000, got 100001"),
        ("page_size", 2.5, "pacing.page_size must be a whole number, got 2.5"),
        ("batch_size", 0, "pacing.batch_size must be between 1 and 10000, got 0"),
        ("batch_size", True, "pacing.batch_size must be a whole number, got True"),
        ("concurrent_batches", -1, "pacing.concurrent_batches must be between 1 and 1000, got -1"),
        ("concurrent_batches", 1001, "pacing.concurrent_batches must be between 1 and 1000, got 1001"),
        ("in_flight_per_batch", 0, "pacing.in_flight_per_batch must be between 1 and 1000, got 0"),
        ("in_flight_per_batch", "5", "pacing.in_flight_per_batch must be a whole number, got '5'"),
    ],
)
def test_each_field_is_validated_by_name(field: str, value: object, message: str) -> None:
    with pytest.raises(PacingError) as caught:
        PacingPlan(**{field: value})  # type: ignore[arg-type]
    assert message == caught.value.message
    assert isinstance(caught.value, ConfigError)


def test_batch_cannot_exceed_page() -> None:
    with pytest.raises(PacingError) as caught:
        PacingPlan(page_size=40)
    assert "pacing.batch_size (50) cannot exceed pacing.page_size (40)" == caught.value.message
    assert "a batch is cut from one page" == caught.value.hint
    assert 40 == PacingPlan(page_size=40, batch_size=40).batch_size


def test_from_mapping() -> None:
    assert PacingPlan(page_size=1000, concurrent_batches=2) == PacingPlan.from_mapping(
        {"page_size": 1000, "concurrent_batches": 2}
    )
    assert PacingPlan() == PacingPlan.from_mapping({})


def test_from_mapping_rejects_unknown_keys_by_name() -> None:
    with pytest.raises(PacingError) as caught:
        PacingPlan.from_mapping({"page_size": 100, "pages": 3, "zzz": 1})
    assert "unknown pacing setting 'pages'" == caught.value.message
    assert "known settings: batch_size, concurrent_batches, in_flight_per_batch, page_size" == caught.value.hint


# -- BackoffPolicy -----------------------------------------------------------------------------


def test_backoff_defaults() -> None:
    policy = BackoffPolicy()
    assert (1.0, 2.0, 300.0, 0.5, 8) == (policy.base, policy.factor, policy.cap, policy.jitter, policy.budget)
    assert [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0] == [policy.ceiling(n) for n in range(11)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base": 0.0}, "backoff.base must be > 0 and <= backoff.cap, got base=0.0 cap=300.0"),
        ({"base": 10.0, "cap": 5.0}, "backoff.base must be > 0 and <= backoff.cap, got base=10.0 cap=5.0"),
        ({"factor": 0.5}, "backoff.factor must be >= 1, got 0.5"),
        ({"jitter": -0.1}, "backoff.jitter must be between 0 and 1, got -0.1"),
        ({"jitter": 1.5}, "backoff.jitter must be between 0 and 1, got 1.5"),
        ({"budget": -1}, "backoff.budget must be a whole number >= 0, got -1"),
        ({"budget": 2.5}, "backoff.budget must be a whole number >= 0, got 2.5"),
        ({"budget": True}, "backoff.budget must be a whole number >= 0, got True"),
    ],
)
def test_backoff_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PacingError) as caught:
        BackoffPolicy(**changes)  # type: ignore[arg-type]
    assert message == caught.value.message


def test_backoff_from_mapping() -> None:
    assert BackoffPolicy(base=0.5, budget=3) == BackoffPolicy.from_mapping({"base": 0.5, "budget": 3})
    with pytest.raises(PacingError) as caught:
        BackoffPolicy.from_mapping({"retries": 3})
    assert "unknown backoff setting 'retries'" == caught.value.message
    assert "known settings: base, budget, cap, factor, jitter" == caught.value.hint


policies = st.builds(
    BackoffPolicy,
    base=st.floats(0.01, 10),
    factor=st.floats(1, 4),
    cap=st.floats(10, 1000),
    jitter=st.floats(0, 1),
    budget=st.integers(0, 20),
)
attempts = st.integers(0, 200)
hints = st.none() | st.floats(0, 5000)


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@given(policies, attempts, st.integers(0, 2**32))
def test_delay_is_within_the_jitter_band_and_capped(policy: BackoffPolicy, attempt: int, seed: int) -> None:
    ceiling = policy.ceiling(attempt)
    delay = policy.delay(attempt, random.Random(seed))
    assert ceiling * (1 - policy.jitter) <= delay <= ceiling <= policy.cap


@given(policies, attempts, hints, st.integers(0, 2**32))
def test_delay_is_never_below_the_hint_and_only_the_hint_exceeds_the_cap(
    policy: BackoffPolicy, attempt: int, hint: float | None, seed: int
) -> None:
    delay = policy.delay(attempt, random.Random(seed), hint=hint)
    if hint is not None:
        assert delay >= hint
    if delay > policy.cap:
        assert hint == delay


@given(policies, attempts)
def test_ceiling_is_monotone(policy: BackoffPolicy, attempt: int) -> None:
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1)


@given(policies, st.lists(st.tuples(attempts, hints), max_size=20), st.integers(0, 2**32))
def test_delays_are_deterministic_for_a_seed(
    policy: BackoffPolicy, calls: list[tuple[int, float | None]], seed: int
) -> None:
    first, second = random.Random(seed), random.Random(seed)
    assert [policy.delay(a, first, hint=h) for a, h in calls] == [policy.delay(a, second, hint=h) for a, h in calls]


def test_jitter_band_edges() -> None:
    policy = BackoffPolicy(base=8.0, jitter=0.5)
    assert 8.0 == policy.delay(0, FixedRandom(0.0))
    assert 4.0 == policy.delay(0, FixedRandom(1.0))
    assert 6.0 == policy.delay(0, FixedRandom(0.5))
    assert 8.0 == BackoffPolicy(base=8.0, jitter=0.0).delay(0, FixedRandom(0.9))


def test_hint_wins_only_when_longer() -> None:
    policy = BackoffPolicy(base=8.0, jitter=0.0, cap=10.0)
    assert 8.0 == policy.delay(0, FixedRandom(0.0), hint=3.0)
    assert 30.0 == policy.delay(0, FixedRandom(0.0), hint=30.0)
    assert 10.0 == policy.delay(50, FixedRandom(0.0), hint=None)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert 300.0 == BackoffPolicy(factor=4.0).ceiling(10**9)
