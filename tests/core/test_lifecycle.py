"""The broadcast lifecycle: every (state, action) pair, legal or not."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.errors import BroadcasterError, InvalidTransition
from broadcaster.core.lifecycle import TERMINAL_STATES, TRANSITIONS, Action, State, allowed_actions, transition

D, SC, SE, CO, CA = State.DRAFT, State.SCHEDULED, State.SENDING, State.COMPLETED, State.CANCELLED

# Written independently of the module. A cancel during SENDING stays SENDING (the
# request is recorded; in-flight sends finish) and CANCELLED comes with FINISH_CANCELLED.
EXPECTED: dict[tuple[State, Action], State] = {
    (D, Action.SCHEDULE): SC,
    (D, Action.EDIT): D,
    (D, Action.CANCEL): CA,
    (SC, Action.UNSCHEDULE): D,
    (SC, Action.EDIT): SC,
    (SC, Action.FIRE): SE,
    (SC, Action.CANCEL): CA,
    (SE, Action.CANCEL): SE,
    (SE, Action.FINISH): CO,
    (SE, Action.FINISH_CANCELLED): CA,
    (CO, Action.EDIT): CO,
    (CA, Action.EDIT): CA,
}

ALL_PAIRS = list(itertools.product(State, Action))
LEGAL = [pair for pair in ALL_PAIRS if pair in EXPECTED]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def _id(pair: tuple[State, Action]) -> str:
    return f"{pair[0].value}-{pair[1].value}"


def test_the_table_is_the_expected_one() -> None:
    assert EXPECTED == dict(TRANSITIONS)


def test_every_pair_is_covered_below() -> None:
    assert 35 == len(LEGAL) + len(ILLEGAL) == len(State) * len(Action)


@pytest.mark.parametrize("pair", LEGAL, ids=_id)
def test_legal_transition(pair: tuple[State, Action]) -> None:
    state, action = pair
    assert EXPECTED[pair] is transition(state, action)


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_transition_names_state_and_action(pair: tuple[State, Action]) -> None:
    state, action = pair
    with pytest.raises(InvalidTransition) as caught:
        transition(state, action)
    error = caught.value
    assert f"cannot {action.value} a broadcast that is {state.value}" == error.message
    assert (state, action) == (error.state, error.action)
    assert error.hint  # every state says what to do instead
    assert "INVALID_TRANSITION" == error.code


@given(st.sampled_from(State), st.sampled_from(Action))
def test_any_pair_either_lands_as_the_table_says_or_raises(state: State, action: Action) -> None:
    expected = EXPECTED.get((state, action))
    if expected is None:
        with pytest.raises(InvalidTransition, match=f"{action.value}.*{state.value}"):
            transition(state, action)
    else:
        assert expected is transition(state, action)


@given(st.lists(st.sampled_from(Action), max_size=20))
def test_terminal_states_are_never_left(actions: list[Action]) -> None:
    for start in TERMINAL_STATES:
        state = start
        for action in actions:
            try:
                state = transition(state, action)
            except BroadcasterError:
                continue
        assert start is state


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_allowed_actions(state: State) -> None:
    assert {a for (s, a) in EXPECTED if s is state} == allowed_actions(state)


def test_terminal_states() -> None:
    assert {CO, CA} == TERMINAL_STATES


def test_hints_differ_by_state() -> None:
    hints = {}
    for state in State:
        with pytest.raises(InvalidTransition) as caught:
            transition(state, Action.UNSCHEDULE if state is not SC else Action.FINISH)
        hints[state] = caught.value.hint
    assert len(State) == len(set(hints.values()))
    assert "wait for the run to finish, or cancel it" == hints[SE]


def test_the_documented_table_is_the_real_one() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    lines = [line for line in doc.splitlines() if line.startswith("| **")]
    header = next(line for line in doc.splitlines() if line.startswith("| from \\ action"))
    actions = [Action(cell.strip()) for cell in header.strip("|").split("|")[1:]]
    documented = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        state = State(cells[0].strip("*"))
        for action, target in zip(actions, cells[1:], strict=True):
            if target != "—":
                documented[(state, action)] = State(target)
    assert dict(TRANSITIONS) == documented
