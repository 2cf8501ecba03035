"""A burst's refusals measure a token-bucket provider's limit: the accepted sends between them
bound it from both sides, whatever the sends' spacing and the replies' order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.limitestimate import Saturation, saturated_rate


def answers(sends: list[float], *, limit: float, tokens: float) -> tuple[list[float], list[float]]:
    """(refused, accepted) send times from a token bucket refilling at ``limit`` with no cap
    (it stays saturated: the sends outrun it), holding ``tokens`` at the first send."""
    refused, accepted, last = [], [], sends[0]
    for at in sends:
        tokens += (at - last) * limit
        last = at
        if tokens >= 1.0:
            tokens -= 1.0
            accepted.append(at)
        else:
            refused.append(at)
    return refused, accepted


def test_the_accepted_sends_between_refusals_bound_the_limit() -> None:
    """One send a second to a provider refilling a token every 4 s: refused 0-3, accepted 4,
    refused 5-7, accepted 8, refused 9. Refused at 3 then accepted at 8 with one accepted
    between: more than 1 token in 5 s; refused at 0 and at 7 with one accepted between: under
    2 tokens in 7 s. So 0.2 < limit < 0.286."""
    refused, accepted = answers([float(i) for i in range(10)], limit=0.25, tokens=0.0)
    assert (refused, accepted) == ([0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 9.0], [4.0, 8.0])
    measured = saturated_rate(refused, accepted)
    assert measured == Saturation(rate=2 / 9, accepted=2, span=9.0, low=0.2, high=pytest.approx(2 / 7))
    assert measured is not None and measured.estimate == 0.2  # the least it surely takes


def test_a_burst_that_says_nothing_about_a_rate_measures_nothing() -> None:
    assert saturated_rate([1.0], [0.5, 1.5]) is None  # a single refusal: no span
    assert saturated_rate([1.0, 1.0], [1.0]) is None  # no time between the refusals
    assert saturated_rate([1.0, 2.0, 3.0], [0.5, 3.5]) is None  # nothing accepted inside (a storm)


def test_bounds_that_no_token_bucket_fits_fall_back_to_the_accepted_rate() -> None:
    """A window counter refuses 2 then accepts 2 at once: a refill under one token in 1 s
    (refused at 0, then at 1 with nothing between) yet two tokens by 1.01."""
    measured = saturated_rate([0.0, 1.0, 2.0], [1.005, 1.01])
    assert measured is not None and measured.low > measured.high
    assert measured.estimate == measured.rate == 1.0


sends_strategy = st.lists(st.floats(1e-4, 0.05), min_size=2, max_size=120)


@settings(max_examples=200, deadline=None)
@given(st.floats(5.0, 2_000.0), st.floats(0.0, 0.999), sends_strategy)
def test_the_bounds_hold_any_token_bucket_limit(limit: float, tokens: float, gaps: list[float]) -> None:
    """Whatever the spacing of the sends (as long as the provider is saturated — no cap),
    the limit lies within the bounds, and the estimate never above the upper one."""
    sends = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    refused, accepted = answers(sends, limit=limit, tokens=tokens)
    measured = saturated_rate(refused, accepted)
    if measured is None:
        return
    slack = 1e-9 * limit  # float sums of the send times
    assert measured.low <= limit + slack
    assert limit <= measured.high + slack
    assert measured.estimate <= measured.high + slack


@settings(max_examples=100, deadline=None)
@given(st.floats(5.0, 2_000.0), sends_strategy, st.randoms(use_true_random=False))
def test_deterministic_whatever_order_the_replies_came_back_in(
    limit: float, gaps: list[float], rng: random.Random
) -> None:
    sends = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    refused, accepted = answers(sends, limit=limit, tokens=0.0)
    first = saturated_rate(refused, accepted)
    rng.shuffle(refused)
    rng.shuffle(accepted)
    assert saturated_rate(refused, accepted) == first
    # and replies to sends before the first refusal change nothing
    assert saturated_rate(refused, [min(sends) - 1.0, *accepted]) == first
