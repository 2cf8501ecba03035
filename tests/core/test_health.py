"""Integration health: the window, the signals and the status policy."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.errors import ConfigError
from broadcaster.core.health import (
    DEFAULT_FAILURE_SIGNALS,
    HealthPolicy,
    HealthStatus,
    HealthWindow,
    Signal,
    assess,
    signal_of,
)
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, Rerouted

T0 = 1_800_000_000.0
AUTH = Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed("tg-main"))


def window_with(counts: dict[Signal, int], *, at: float = T0, window: int = 300) -> HealthWindow:
    health = HealthWindow(window=window)
    for signal, n in counts.items():
        health.observe(signal, now=at, n=n)
    return health


# -- signals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "signal"),
    [
        (Delivered("m1"), Signal.SENT),
        (Rerouted("-100"), Signal.SENT),
        (RateLimited(retry_after=3), Signal.RATE_LIMITED),
        (RateLimited(scope="contact"), Signal.FAILED_CONTACT),
        (AUTH, Signal.AUTH_FAILED),
        (Failed(ErrorKind.INTEGRATION, ErrorReason("whatsapp", "131031", "account_locked")), Signal.FAILED_INTEGRATION),
        (Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("telegram", "403", "blocked_by_user")), Signal.FAILED_CONTACT),
        (Failed(ErrorKind.PAYLOAD, ErrorReason("telegram", "400", "bad_request")), Signal.FAILED_PAYLOAD),
        (Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "5xx", "server_error")), Signal.FAILED_TRANSIENT),
        (Failed(ErrorKind.UNKNOWN, ErrorReason("telegram", "timeout", "outcome_unknown")), Signal.OUTCOME_UNKNOWN),
        (Failed(ErrorKind.RATE_LIMITED, ErrorReason.rate_limit_exhausted("telegram")), Signal.RATE_LIMITED),
        (NotSent(ErrorReason("telegram", "conn", "connection_refused")), Signal.NOT_SENT),
        (OutcomeUnknown(ErrorReason("telegram", "timeout", "outcome_unknown")), Signal.OUTCOME_UNKNOWN),
    ],
)
def test_signal_of_each_result(result: object, signal: Signal) -> None:
    assert signal_of(result) is signal  # type: ignore[arg-type]


def test_signal_of_rejects_non_results() -> None:
    with pytest.raises(TypeError, match="not a send result: str"):
        signal_of("delivered")  # type: ignore[arg-type]


# -- the status policy ------------------------------------------------------------------


def test_no_sends_is_ok() -> None:
    health = assess(HealthWindow().stats(now=T0))
    assert (health.status, health.reason) == (HealthStatus.OK, "no sends in the last 5 min")


def test_too_few_sends_give_no_verdict() -> None:
    health = assess(window_with({Signal.RATE_LIMITED: 19}).stats(now=T0))
    assert (health.status, health.reason) == (HealthStatus.OK, "only 19 sends in the last 5 min, too few to judge")


def test_rate_limited_share_at_threshold_is_degraded() -> None:
    stats = window_with({Signal.SENT: 58, Signal.RATE_LIMITED: 42}).stats(now=T0)
    health = assess(stats)
    assert health.status is HealthStatus.DEGRADED
    assert health.reason == "100.0 sends/s; 42% of sends rate-limited in the last 5 min"
    assert stats.attempts == 100
    assert stats.rate_limited_share == 0.42


def test_just_under_the_rate_limited_threshold_is_ok() -> None:
    health = assess(window_with({Signal.SENT: 901, Signal.RATE_LIMITED: 99}).stats(now=T0 + 0.5))
    assert health.status is HealthStatus.OK
    assert health.reason == "1000.0 sends/s, 9% rate-limited, 0% failed in the last 5 min"


def test_failure_share_counts_only_integration_and_network_failures() -> None:
    contact_failures = window_with({Signal.SENT: 10, Signal.FAILED_CONTACT: 80, Signal.FAILED_PAYLOAD: 10})
    assert assess(contact_failures.stats(now=T0)).status is HealthStatus.OK

    network = window_with(
        {Signal.SENT: 70, Signal.FAILED_TRANSIENT: 12, Signal.NOT_SENT: 10, Signal.OUTCOME_UNKNOWN: 3}
    )
    health = assess(network.stats(now=T0))
    assert health.status is HealthStatus.DEGRADED
    assert (
        health.reason
        == "95.0 sends/s; 26% of sends failed in the last 5 min (failed_transient 12, not_sent 10, outcome_unknown 3)"
    )


def test_both_problems_are_reported() -> None:
    health = assess(window_with({Signal.SENT: 50, Signal.RATE_LIMITED: 25, Signal.NOT_SENT: 25}).stats(now=T0))
    assert health.status is HealthStatus.DEGRADED
    assert health.reason == (
        "100.0 sends/s; 25% of sends rate-limited in the last 5 min; 25% of sends failed in the last 5 min (not_sent 25)"
    )


def test_thresholds_are_configurable() -> None:
    stats = window_with({Signal.SENT: 95, Signal.RATE_LIMITED: 5}, window=60).stats(now=T0)
    assert assess(stats).status is HealthStatus.OK
    strict = HealthPolicy(rate_limited_share=0.05, min_attempts=10)
    health = assess(stats, strict)
    assert (health.status, health.reason) == (
        HealthStatus.DEGRADED,
        "100.0 sends/s; 5% of sends rate-limited in the last 1 min",
    )
    odd_window = window_with({Signal.SENT: 1}, window=90).stats(now=T0)
    assert assess(odd_window).reason == "only 1 sends in the last 90 s, too few to judge"


def test_auth_failure_wins_and_lasts_until_a_send_succeeds() -> None:
    health = HealthWindow(window=60)
    for i in range(50):
        health.observe(Signal.SENT, now=T0 + i)
    health.observe_result(AUTH, now=T0 + 50)
    verdict = assess(health.stats(now=T0 + 51))
    assert verdict.status is HealthStatus.AUTH_FAILED
    assert "refused the credentials" in verdict.reason
    # long after the window: still broken, nothing proved otherwise
    assert assess(health.stats(now=T0 + 10_000)).status is HealthStatus.AUTH_FAILED
    health.observe(Signal.SENT, now=T0 + 10_001)
    assert assess(health.stats(now=T0 + 10_002)).status is HealthStatus.OK


def test_a_late_success_from_before_the_auth_failure_does_not_clear_it() -> None:
    health = HealthWindow()
    health.observe(Signal.AUTH_FAILED, now=T0 + 10)
    health.observe(Signal.SENT, now=T0 + 9)  # a concurrent send recorded late
    assert health.stats(now=T0 + 11).auth_broken
    health.observe(Signal.SENT, now=T0 + 10)  # same instant, observed later: it wins
    assert not health.stats(now=T0 + 11).auth_broken


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"window": 1.5},
        {"min_attempts": 0},
        {"rate_limited_share": 0},
        {"failure_share": 1.5},
        {"failure_signals": frozenset({Signal.SENT})},
    ],
)
def test_bad_policy_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="health"):
        HealthPolicy(**kwargs)  # type: ignore[arg-type]


# -- the window -------------------------------------------------------------------------


def test_sends_age_out_of_the_window() -> None:
    health = HealthWindow(window=10)
    health.observe(Signal.SENT, now=T0, n=5)
    health.observe(Signal.RATE_LIMITED, now=T0 + 9.9, n=2)
    assert health.stats(now=T0 + 9.9).counts == {Signal.SENT: 5, Signal.RATE_LIMITED: 2}
    assert health.stats(now=T0 + 10).counts == {Signal.RATE_LIMITED: 2}
    assert health.stats(now=T0 + 20).counts == {}


def test_send_rate_covers_only_the_span_of_recent_sends() -> None:
    health = HealthWindow(window=300)
    for second in range(30):
        health.observe(Signal.SENT, now=T0 + second, n=80)
    stats = health.stats(now=T0 + 30)
    assert stats.span == 30.0
    assert stats.send_rate == 80.0


def test_an_observation_older_than_its_slot_is_dropped() -> None:
    health = HealthWindow(window=10)
    health.observe(Signal.SENT, now=T0 + 15)
    health.observe(Signal.NOT_SENT, now=T0 + 5)  # same slot, older than the window
    assert health.stats(now=T0 + 15).counts == {Signal.SENT: 1}


def test_observe_rejects_nonpositive_counts() -> None:
    with pytest.raises(ValueError, match="n=0"):
        HealthWindow().observe(Signal.SENT, now=T0, n=0)


events = st.lists(
    st.tuples(st.floats(min_value=0, max_value=2_000, allow_nan=False), st.sampled_from(list(Signal))),
    max_size=200,
)


@settings(max_examples=150)
@given(events=events, window=st.integers(min_value=1, max_value=120), lag=st.floats(min_value=0, max_value=200))
def test_window_counts_equal_a_naive_list_of_every_send(
    events: list[tuple[float, Signal]], window: int, lag: float
) -> None:
    """In time order, the ring counts exactly the sends of the last ``window`` whole seconds."""
    health = HealthWindow(window=window)
    ordered = sorted(events, key=lambda e: e[0])
    for at, signal in ordered:
        health.observe(signal, now=T0 + at)
    now = T0 + (ordered[-1][0] if ordered else 0.0) + lag
    stats = health.stats(now=now)

    current = math.floor(now)
    expected: dict[Signal, int] = {}
    for at, signal in ordered:
        if current - window < math.floor(T0 + at) <= current:
            expected[signal] = expected.get(signal, 0) + 1
    assert stats.counts == expected
    # bounded memory: one bucket per second of the window, however many sends
    assert len(health._seconds) == window
    assert 0.0 <= stats.rate_limited_share <= 1.0
    assert 0.0 <= stats.failure_share(DEFAULT_FAILURE_SIGNALS) <= 1.0
    assert stats.span <= window
    # the last of "sent" / "auth failed" in observation order decides the credentials' state
    decisive = [s for _, s in ordered if s in (Signal.SENT, Signal.AUTH_FAILED)]
    assert stats.auth_broken == (bool(decisive) and decisive[-1] is Signal.AUTH_FAILED)


@settings(max_examples=150)
@given(
    counts=st.dictionaries(st.sampled_from(list(Signal)), st.integers(min_value=1, max_value=1000), max_size=9),
    rl=st.floats(min_value=0.01, max_value=1),
    fail=st.floats(min_value=0.01, max_value=1),
)
def test_status_follows_the_thresholds(counts: dict[Signal, int], rl: float, fail: float) -> None:
    policy = HealthPolicy(rate_limited_share=rl, failure_share=fail)
    stats = window_with(counts).stats(now=T0)
    health = assess(stats, policy)
    order = [s for s in counts if s in (Signal.SENT, Signal.AUTH_FAILED)]
    assert stats.auth_broken == (bool(order) and order[-1] is Signal.AUTH_FAILED)
    if stats.auth_broken:
        assert health.status is HealthStatus.AUTH_FAILED
    elif stats.attempts < policy.min_attempts:
        assert health.status is HealthStatus.OK
    else:
        over = stats.rate_limited_share >= rl or stats.failure_share(policy.failure_signals) >= fail
        assert health.status is (HealthStatus.DEGRADED if over else HealthStatus.OK)
    assert "\n" not in health.reason and health.reason
