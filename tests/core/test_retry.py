"""Retry Failed Contacts, rule by rule, as the seed states them."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.errors import (
    EditRefused,
    NotFound,
    NothingToRetry,
    QuotaExceeded,
    RetryNotTerminal,
    RetryRefused,
    RowsAgedOut,
)
from broadcaster.core.lifecycle import State
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Counters,
    DispatchRow,
    FallbackTemplate,
    Mode,
    TemplateRoute,
)
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.retry import (
    DEFAULT_RETRY_DELAY,
    ROW_TTL_SECONDS,
    check_editable,
    check_quota,
    check_retry_eligible,
    lineage,
    plan_retry,
    reached_on_attempt,
    rows_aged_out,
)

DAY = 86_400
FINISHED = 1_700_000_000.0
NOW = FINISHED + 3600


def finished(state: State = State.COMPLETED, *, failed: int = 3, **changes: object) -> Broadcast:
    counters = Counters(
        audience_size_actual=10, delivered=10 - failed, failed=failed, started_at=FINISHED - 60, finished_at=FINISHED
    )
    values: dict[str, object] = {"state": state, "counters": counters, **changes}
    return attrs.evolve(
        Broadcast(id="b1", name="Spring sale", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter="city = 'x'")),
        **values,
    )


def store_failed_ids(rows: list[DispatchRow]) -> list[str]:
    """What the store's failed-contact lookup does: FAILED rows only, in row order."""
    return [row.contact_id for row in rows if row.outcome is Outcome.FAILED]


# -- eligibility -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.SCHEDULED, State.SENDING], ids=lambda s: s.value)
def test_refused_before_terminal(state: State) -> None:
    with pytest.raises(RetryNotTerminal) as caught:
        check_retry_eligible(finished(state), failed_rows=3, now=NOW)
    assert (
        f"broadcast b1 is {state.value}; only COMPLETED or CANCELLED broadcasts can be retried" == caught.value.message
    )
    assert "wait for the run to finish first" == caught.value.hint
    assert "RETRY_NOT_TERMINAL" == caught.value.code


@pytest.mark.parametrize("state", [State.COMPLETED, State.CANCELLED], ids=lambda s: s.value)
def test_terminal_with_failures_is_eligible(state: State) -> None:
    assert check_retry_eligible(finished(state), failed_rows=3, now=NOW) is None


def test_refused_with_no_failed_contacts() -> None:
    with pytest.raises(NothingToRetry) as caught:
        check_retry_eligible(finished(failed=0), failed_rows=0, now=NOW)
    assert "broadcast b1 has no FAILED contacts; there is nothing to retry" == caught.value.message
    assert caught.value.hint is not None and "SKIPPED contacts are not retried" in caught.value.hint
    assert "NOTHING_TO_RETRY" == caught.value.code


def test_nothing_to_retry_is_known_forever_because_counters_never_expire() -> None:
    with pytest.raises(NothingToRetry):
        check_retry_eligible(finished(failed=0), failed_rows=0, now=FINISHED + 365 * DAY)


def test_refused_when_rows_aged_out_is_the_seeds_bad_user_input() -> None:
    with pytest.raises(RowsAgedOut) as caught:
        check_retry_eligible(finished(), failed_rows=3, now=FINISHED + 31 * DAY)
    error = caught.value
    assert "BAD_USER_INPUT" == error.code
    assert "its dispatch rows have aged out (kept 30 days), so there are no failed contacts to look up" in error.message
    assert error.hint is not None and "clone it" in error.hint


def test_refused_when_the_store_holds_no_failed_row_any_more() -> None:
    with pytest.raises(RowsAgedOut):
        check_retry_eligible(finished(), failed_rows=0, now=NOW)


def test_thirty_day_boundary_is_exact() -> None:
    assert 30 * DAY == ROW_TTL_SECONDS
    source = finished()
    check_retry_eligible(source, failed_rows=3, now=FINISHED + ROW_TTL_SECONDS)
    assert not rows_aged_out(source, FINISHED + ROW_TTL_SECONDS)
    assert rows_aged_out(source, FINISHED + ROW_TTL_SECONDS + 1)
    with pytest.raises(RowsAgedOut):
        check_retry_eligible(source, failed_rows=3, now=FINISHED + ROW_TTL_SECONDS + 1)


def test_never_finished_is_never_aged_out() -> None:
    assert not rows_aged_out(finished(counters=Counters(failed=1)), FINISHED + 365 * DAY)


def test_the_three_refusals_are_distinct_types_under_one_root() -> None:
    refusals = {RetryNotTerminal, NothingToRetry, RowsAgedOut}
    assert all(issubclass(kind, RetryRefused) for kind in refusals)
    assert 3 == len({kind.code for kind in refusals})


def test_not_terminal_wins_over_other_refusals() -> None:
    with pytest.raises(RetryNotTerminal):
        check_retry_eligible(finished(State.SENDING, failed=0), failed_rows=0, now=FINISHED + 90 * DAY)


# -- the new broadcast -------------------------------------------------------------------------

ROUTES = (TemplateRoute("wa", "promo", params=("name",)), TemplateRoute("tg", "promo_tg"))
FALLBACKS = (FallbackTemplate("wa", "reopen", params=("name",)),)

MIXED_ROWS = [
    DispatchRow("b1", "c1", Status.DELIVERED),
    DispatchRow("b1", "c2", Status.PROVIDER_ERROR),
    DispatchRow("b1", "c3", Status.OPTED_OUT),
    DispatchRow("b1", "c4", Status.AUTH_FAILED),
    DispatchRow("b1", "c5", Status.CANCELLED),
    DispatchRow("b1", "c6", Status.RATE_LIMIT_EXHAUSTED),
    DispatchRow("b1", "c7", Status.ACCEPTED),
    DispatchRow("b1", "c8", Status.OUTCOME_UNKNOWN),
    DispatchRow("b1", "c9", Status.CHANNEL_MISMATCH),
    DispatchRow("b1", "c10", Status.DEDUP_HIT),
]


def rich_source() -> Broadcast:
    return finished(
        State.CANCELLED,
        routes=ROUTES,
        fallbacks=FALLBACKS,
        channels=("wa", "tg"),
        retry_of="b0",
        cancel_requested=True,
        run_at=FINISHED - 100,
    )


def test_plan_retry_targets_failed_rows_only() -> None:
    failed = store_failed_ids(MIXED_ROWS)
    assert ["c2", "c4", "c6", "c8"] == failed
    retry = plan_retry(rich_source(), new_id="b2", failed_contact_ids=failed, now=NOW)
    assert Audience(contact_ids=("c2", "c4", "c6", "c8")) == retry.audience
    assert retry.audience.filter is None and retry.audience.is_explicit


def test_plan_retry_copies_the_configuration_and_nothing_else() -> None:
    source = rich_source()
    retry = plan_retry(source, new_id="b2", failed_contact_ids=["c2"], now=NOW)
    expected = Broadcast(
        id="b2",
        name="Spring sale (retry)",
        mode=Mode.FLOW,
        flow_id="f1",
        routes=ROUTES,
        fallbacks=FALLBACKS,
        channels=("wa", "tg"),
        audience=Audience(contact_ids=("c2",)),
        run_at=NOW + 120,
        state=State.SCHEDULED,
        retry_of="b1",
        counters=Counters(audience_size_estimate=1),
        created_at=NOW,
        cancel_requested=False,
    )
    assert expected == retry
    assert 120.0 == DEFAULT_RETRY_DELAY


def test_plan_retry_in_template_mode_keeps_the_mode_and_routes() -> None:
    source = finished(mode=Mode.TEMPLATE, flow_id=None, routes=ROUTES)
    retry = plan_retry(source, new_id="b2", failed_contact_ids=["c2"], now=NOW)
    assert (Mode.TEMPLATE, None, ROUTES) == (retry.mode, retry.flow_id, retry.routes)


def test_plan_retry_name_falls_back_to_the_source_id() -> None:
    source = finished(name="")
    assert "b1 (retry)" == plan_retry(source, new_id="b2", failed_contact_ids=["c2"], now=NOW).name


def test_plan_retry_run_at_may_be_given() -> None:
    retry = plan_retry(finished(), new_id="b2", failed_contact_ids=["c2"], now=NOW, run_at=NOW + 3 * DAY)
    assert NOW + 3 * DAY == retry.run_at


def test_plan_retry_override_replaces_the_failed_list() -> None:
    retry = plan_retry(finished(), new_id="b2", failed_contact_ids=["c2", "c4"], now=NOW, contact_ids=["x9", "c3"])
    assert ("x9", "c3") == retry.audience.contact_ids
    assert 2 == retry.counters.audience_size_estimate


def test_plan_retry_dedups_ids_keeping_first_order() -> None:
    retry = plan_retry(finished(), new_id="b2", failed_contact_ids=["c4", "c2", "c4", "c1", "c2"], now=NOW)
    assert ("c4", "c2", "c1") == retry.audience.contact_ids
    override = plan_retry(finished(), new_id="b3", failed_contact_ids=[], now=NOW, contact_ids=["z", "z", "a"])
    assert ("z", "a") == override.audience.contact_ids


def test_plan_retry_with_no_target_is_refused() -> None:
    with pytest.raises(NothingToRetry, match="the retry of broadcast b1 would target no contact"):
        plan_retry(finished(), new_id="b2", failed_contact_ids=[], now=NOW)
    with pytest.raises(NothingToRetry) as caught:
        plan_retry(finished(), new_id="b2", failed_contact_ids=["c2"], now=NOW, contact_ids=[])
    assert "give at least one contact ID" == caught.value.hint


@given(st.lists(st.sampled_from(list(Status)), max_size=40))
def test_retry_targets_exactly_the_failed_set(statuses: list[Status]) -> None:
    rows = [DispatchRow("b1", f"c{i}", status) for i, status in enumerate(statuses)]
    counters = Counters(audience_size_actual=len(rows), finished_at=FINISHED)
    for row in rows:
        counters = counters.count(row.outcome)
    source = finished(counters=counters)
    failed = store_failed_ids(rows)
    if not failed:
        with pytest.raises(NothingToRetry):
            check_retry_eligible(source, failed_rows=0, now=NOW)
        return
    check_retry_eligible(source, failed_rows=len(failed), now=NOW)
    retry = plan_retry(source, new_id="b2", failed_contact_ids=failed, now=NOW)
    targets = retry.audience.contact_ids
    assert targets is not None
    assert {row.contact_id for row in rows if row.outcome is Outcome.FAILED} == set(targets)
    assert len(failed) == len(targets)
    assert not {row.contact_id for row in rows if row.outcome is Outcome.SKIPPED} & set(targets)


# -- lineage -----------------------------------------------------------------------------------


def chain_of(n: int) -> dict[str, Broadcast]:
    store = {"b1": Broadcast(id="b1")}
    for i in range(2, n + 1):
        store[f"b{i}"] = Broadcast(id=f"b{i}", retry_of=f"b{i - 1}")
    return store


@given(st.integers(min_value=1, max_value=25), st.data())
def test_lineage_walks_back_to_the_original(n: int, data: st.DataObject) -> None:
    store = chain_of(n)
    start = data.draw(st.integers(min_value=1, max_value=n))
    chain = lineage(f"b{start}", store.get)
    assert [f"b{i}" for i in range(1, start + 1)] == [b.id for b in chain]
    assert chain[0].retry_of is None


def test_lineage_of_an_original_is_itself() -> None:
    assert [Broadcast(id="b1")] == lineage("b1", chain_of(1).get)


def test_lineage_missing_link_is_not_found() -> None:
    store = chain_of(3)
    del store["b2"]
    with pytest.raises(NotFound, match="broadcast b2 in the retry chain of b3 does not exist"):
        lineage("b3", store.get)
    with pytest.raises(NotFound, match="broadcast nope in the retry chain of nope does not exist"):
        lineage("nope", store.get)


def test_lineage_detects_loops() -> None:
    store = chain_of(3)
    store["b1"] = Broadcast(id="b1", retry_of="b3")
    with pytest.raises(ValueError, match="retry chain of b2 loops at b2"):
        lineage("b2", store.get)
    with pytest.raises(ValueError, match="retry chain of s loops at s"):
        lineage("s", {"s": Broadcast(id="s", retry_of="s")}.get)


def test_reached_on_attempt() -> None:
    chain = lineage("b3", chain_of(3).get)
    outcomes = {
        "b1": {"alice": Outcome.DELIVERED, "bob": Outcome.FAILED, "carol": Outcome.FAILED, "dan": Outcome.SKIPPED},
        "b2": {"bob": Outcome.FAILED, "carol": Outcome.DELIVERED},
        "b3": {"bob": Outcome.DELIVERED},
    }
    assert 1 == reached_on_attempt("alice", chain, outcomes)
    assert 2 == reached_on_attempt("carol", chain, outcomes)
    assert 3 == reached_on_attempt("bob", chain, outcomes)
    assert reached_on_attempt("dan", chain, outcomes) is None
    assert reached_on_attempt("erin", chain, outcomes) is None
    # rows aged out for the original: the later attempts still tell
    assert 3 == reached_on_attempt("bob", chain, {"b3": outcomes["b3"]})


# -- editing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.SCHEDULED], ids=lambda s: s.value)
def test_unsent_broadcasts_are_editable(state: State) -> None:
    started_retry = Broadcast(id="r1", retry_of="b1", state=State.COMPLETED)
    assert check_editable(Broadcast(id="b1", state=state), retries=[started_retry]) is None


def test_sending_is_not_editable() -> None:
    with pytest.raises(EditRefused) as caught:
        check_editable(Broadcast(id="b1", state=State.SENDING), retries=[])
    assert "broadcast b1 is SENDING and cannot be edited" == caught.value.message
    assert "cancel it, or wait for it to finish" == caught.value.hint


@pytest.mark.parametrize("state", [State.COMPLETED, State.CANCELLED], ids=lambda s: s.value)
@pytest.mark.parametrize("retry_state", [State.DRAFT, State.SCHEDULED], ids=lambda s: s.value)
def test_terminal_source_is_editable_until_its_retry_starts(state: State, retry_state: State) -> None:
    source = finished(state)
    check_editable(source, retries=[])
    check_editable(source, retries=[Broadcast(id="r1", retry_of="b1", state=retry_state)])


@pytest.mark.parametrize("retry_state", [State.SENDING, State.COMPLETED], ids=lambda s: s.value)
def test_terminal_source_is_frozen_once_a_retry_started(retry_state: State) -> None:
    retries = [Broadcast(id="r1", state=State.SCHEDULED), Broadcast(id="r2", state=retry_state)]
    with pytest.raises(EditRefused) as caught:
        check_editable(finished(), retries=retries)
    assert "broadcast b1 cannot be edited: its retry r2 has already started" == caught.value.message
    assert "clone it and create a new broadcast instead" == caught.value.hint


def test_a_retry_cancelled_before_it_fired_does_not_freeze_the_source() -> None:
    never_fired = Broadcast(id="r1", state=State.CANCELLED)
    check_editable(finished(), retries=[never_fired])


@pytest.mark.parametrize(
    "counters", [Counters(started_at=FINISHED + 10), Counters(skipped=4)], ids=["started_at", "rows"]
)
def test_a_retry_cancelled_mid_run_freezes_the_source(counters: Counters) -> None:
    with pytest.raises(EditRefused, match="its retry r1 has already started"):
        check_editable(finished(), retries=[Broadcast(id="r1", state=State.CANCELLED, counters=counters)])


# -- quota -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduled", [0, 1, 9])
def test_quota_below_the_cap(scheduled: int) -> None:
    assert check_quota(scheduled=scheduled, cap=10) is None


@pytest.mark.parametrize("scheduled", [10, 11])
def test_quota_at_the_cap_says_to_cancel_a_draft(scheduled: int) -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(scheduled=scheduled, cap=10)
    assert (
        f"the combined scheduled quota is full ({scheduled} of 10 DRAFT or SCHEDULED broadcasts)"
        == caught.value.message
    )
    assert "cancel a draft to free a slot first" == caught.value.hint
    assert "QUOTA_EXCEEDED" == caught.value.code
