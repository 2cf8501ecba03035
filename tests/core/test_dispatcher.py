"""The dispatcher, driven end to end by the test driver (virtual time, no I/O)."""

from __future__ import annotations

from collections import Counter

import pytest

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.channels import ChannelSpec
from broadcaster.core.events import CancelRequested, FlowUnpublished, LoadPage, PageLoaded, SendCompleted
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    FallbackTemplate,
    Flow,
    Mode,
    TemplateMessage,
    TemplateRoute,
    TextCard,
    TextMessage,
)
from broadcaster.core.outcomes import ErrorKind, Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, Rerouted

from .driver import TELEGRAM, WHATSAPP, Run

FLOW = Flow(id="f1", name="promo", first_card=TextCard("Hello!"))
BROADCAST = Broadcast(id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""))
BLOCKED = ErrorReason("telegram", "403", "blocked_by_user")


def tg_contacts(n: int, *, start: int = 0) -> list[Contact]:
    return [Contact(f"c{i:06d}", f"Name {i}", chats=(Chat("tg", str(i)),)) for i in range(start, start + n)]


def deliver(send, now):
    return Delivered(f"m-{send.contact_id}", confirmed=True)


def statuses(run: Run) -> Counter:
    return Counter(row.status for row in run.rows)


def test_healthy_run_delivers_everyone_once():
    run = Run(BROADCAST, tg_contacts(1234), deliver, flow=FLOW).run()
    assert run.finished is not None and run.finished.cancelled is False
    assert statuses(run) == {Status.DELIVERED: 1234}
    assert len(run.by_contact()) == 1234
    assert Counter(s.contact_id for s in run.sends).most_common(1)[0][1] == 1
    row = run.by_contact()["c000007"]
    assert (row.integration, row.message_id, row.contact_name) == ("tg", "m-c000007", "Name 7")
    assert row.sent_at is not None and row.delivered_at is not None
    stats = run.dispatcher.stats
    assert (stats.delivered, stats.failed, stats.skipped, stats.sent) == (1234, 0, 0, 1234)


def test_unconfirmed_acceptance_is_accepted_without_delivered_at():
    run = Run(BROADCAST, tg_contacts(3), lambda s, n: Delivered("wamid.1"), flow=FLOW).run()
    assert {row.status for row in run.rows} == {Status.ACCEPTED}
    assert all(row.outcome is Outcome.DELIVERED and row.delivered_at is None for row in run.rows)


def test_pages_and_concurrency_follow_the_pacing_plan():
    loads: list[LoadPage] = []
    run = Run(BROADCAST, tg_contacts(2600), lambda s, n: (0.5, deliver(s, n)), flow=FLOW)
    original = run.perform

    def spy(actions):
        loads.extend(a for a in actions if isinstance(a, LoadPage))
        original(actions)

    run.perform = spy
    run.run()
    assert [load.limit for load in loads] == [500] * (len(loads))
    assert len(loads) == 5  # 4 full pages, then one of 100 that is exhausted (plus the first one before the spy)
    assert run.max_in_flight == 50  # 10 batches x 5 in flight


def test_small_pacing_plan_caps_in_flight():
    pacing = PacingPlan(page_size=20, batch_size=4, concurrent_batches=2, in_flight_per_batch=3)
    run = Run(BROADCAST, tg_contacts(100), lambda s, n: (1.0, deliver(s, n)), flow=FLOW, pacing=pacing).run()
    assert run.max_in_flight == 6
    assert len(run.by_contact()) == 100


def test_token_bucket_paces_sends_at_the_channel_rate():
    slow = ChannelSpec("telegram", rate_per_second=10.0, burst=1)
    run = Run(BROADCAST, tg_contacts(50), deliver, flow=FLOW, channels={"tg": slow}).run()
    assert len(run.rows) == 50
    # 50 sends at 10/s with a burst of 1: the last goes out about 4.9 s after the first
    assert 4.8 <= run.now - 1_000_000.0 <= 5.0


def test_skips_are_recorded_without_sending():
    contacts = [
        Contact("a", "opted", opted_out=True, chats=(Chat("tg", "1"),)),
        Contact("b", "nochat"),
        Contact("c", "ok", chats=(Chat("tg", "3"),)),
        Contact("d", "elsewhere", chats=(Chat("viber-main", "4"),)),
    ]
    run = Run(BROADCAST, contacts, deliver, flow=FLOW).run()
    rows = run.by_contact()
    assert rows["a"].status is Status.OPTED_OUT and rows["a"].integration == "tg"
    assert rows["b"].status is Status.NO_REACHABLE_CHANNEL and rows["b"].integration is None
    assert rows["c"].status is Status.DELIVERED
    assert rows["d"].status is Status.CHANNEL_MISMATCH
    assert [s.contact_id for s in run.sends] == ["c"]


def test_rate_limited_contact_is_retried_after_the_hint_and_ends_delivered():
    attempts: Counter = Counter()
    times: dict[str, list[float]] = {}

    def reply(send, now):
        attempts[send.contact_id] += 1
        times.setdefault(send.contact_id, []).append(now)
        if send.contact_id == "c000003" and attempts[send.contact_id] <= 2:
            return RateLimited(retry_after=7.0)
        return deliver(send, now)

    run = Run(BROADCAST, tg_contacts(10), reply, flow=FLOW).run()
    assert statuses(run) == {Status.DELIVERED: 10}
    assert attempts["c000003"] == 3
    first, second, third = times["c000003"]
    assert second - first >= 7.0 and third - second >= 7.0
    assert run.dispatcher.stats.rate_limit_retries == 2


def test_spent_budget_fails_the_unfinished_tail_with_rate_limit_exhausted():
    budget = 3
    run = Run(
        BROADCAST,
        tg_contacts(120),
        lambda s, n: RateLimited(retry_after=1.0),
        flow=FLOW,
        backoff=BackoffPolicy(budget=budget),
    ).run()
    assert statuses(run) == {Status.RATE_LIMIT_EXHAUSTED: 120}
    row = run.rows[0]
    assert str(row.error_reason) == "telegram:rate_limit_exhausted"
    assert row.error_kind is ErrorKind.RATE_LIMITED
    # 3 batches (50, 50, 20), each allowed `budget` rounds after the first refusal
    assert run.dispatcher.stats.exhausted_batches == 3
    assert run.dispatcher.stats.rate_limit_retries == 3 * budget


def test_outcome_unknown_is_failed_and_never_resent():
    reason = ErrorReason("telegram", "timeout", "outcome_unknown")
    run = Run(BROADCAST, tg_contacts(5), lambda s, n: OutcomeUnknown(reason), flow=FLOW).run()
    assert statuses(run) == {Status.OUTCOME_UNKNOWN: 5}
    assert len(run.sends) == 5
    assert run.rows[0].error_kind is ErrorKind.UNKNOWN and run.rows[0].error_reason == reason


def test_a_failed_of_unknown_kind_is_outcome_unknown_not_provider_error():
    # a garbled 2xx (the provider accepted, the body is unreadable): the contact may have
    # been messaged, so the row is outcome_unknown (found by history --status) and never resent
    reason = ErrorReason("telegram", "200", "malformed_reply: body is not valid JSON")
    run = Run(BROADCAST, tg_contacts(5), lambda s, n: Failed(ErrorKind.UNKNOWN, reason), flow=FLOW).run()
    assert statuses(run) == {Status.OUTCOME_UNKNOWN: 5}
    assert len(run.sends) == 5
    assert (run.rows[0].error_kind, run.rows[0].error_reason) == (ErrorKind.UNKNOWN, reason)


def test_not_sent_is_resent_and_then_delivered():
    seen: Counter = Counter()

    def reply(send, now):
        seen[send.contact_id] += 1
        if seen[send.contact_id] == 1:
            return NotSent(ErrorReason("telegram", "conn", "connection_refused"))
        return deliver(send, now)

    run = Run(BROADCAST, tg_contacts(8), reply, flow=FLOW).run()
    assert statuses(run) == {Status.DELIVERED: 8}
    assert set(seen.values()) == {2}


def test_not_sent_forever_fails_as_transient_provider_error():
    reason = ErrorReason("telegram", "conn", "connection_refused")
    run = Run(BROADCAST, tg_contacts(4), lambda s, n: NotSent(reason), flow=FLOW, backoff=BackoffPolicy(budget=2)).run()
    assert statuses(run) == {Status.PROVIDER_ERROR: 4}
    assert {(r.error_kind, r.error_reason) for r in run.rows} == {(ErrorKind.TRANSIENT, reason)}


def test_auth_failure_breaks_the_integration_for_the_rest_of_the_run():
    def reply(send, now):
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed("tg"))

    pacing = PacingPlan(page_size=10, batch_size=5, concurrent_batches=1, in_flight_per_batch=1)
    run = Run(BROADCAST, tg_contacts(30), reply, flow=FLOW, pacing=pacing).run()
    assert statuses(run) == {Status.AUTH_FAILED: 30}
    assert {str(r.error_reason) for r in run.rows} == {"tg:auth_failed"}
    assert len(run.sends) == 1  # the first refusal stops further sends on that integration
    assert sum(1 for r in run.rows if r.sent_at is None) == 29


def test_permanent_failure_row_carries_reason_and_kind():
    run = Run(BROADCAST, tg_contacts(2), lambda s, n: Failed(ErrorKind.PERMANENT_CONTACT, BLOCKED), flow=FLOW).run()
    assert {(r.status, r.error_reason, r.error_kind) for r in run.rows} == {
        (Status.PROVIDER_ERROR, BLOCKED, ErrorKind.PERMANENT_CONTACT)
    }


def test_rerouted_chat_is_resent_to_the_new_chat_id():
    def reply(send, now):
        if send.chat_id == "5":
            return Rerouted(chat_id="-1005")
        return deliver(send, now)

    run = Run(BROADCAST, tg_contacts(10), reply, flow=FLOW).run()
    assert statuses(run) == {Status.DELIVERED: 10}
    assert [s.chat_id for s in run.sends if s.contact_id == "c000005"] == ["5", "-1005"]


def test_endless_reroutes_end_in_a_failure():
    run = Run(BROADCAST, tg_contacts(1), lambda s, n: Rerouted(chat_id=s.chat_id + "0"), flow=FLOW).run()
    assert statuses(run) == {Status.PROVIDER_ERROR: 1}
    assert len(run.sends) == 3


def test_cancel_mid_run_lets_in_flight_finish_and_skips_the_rest():
    run = Run(BROADCAST, tg_contacts(1600), lambda s, n: (1.0, deliver(s, n)), flow=FLOW)
    while len(run.sends) < 120:
        run.step()
    in_flight = run.dispatcher.in_flight
    sent_before = len(run.sends)
    run.perform(run.dispatcher.handle(CancelRequested(), now=run.now))
    run.run()
    assert run.finished is not None and run.finished.cancelled is True
    counts = statuses(run)
    assert counts[Status.DELIVERED] == sent_before  # in-flight ones finished and were recorded
    assert counts[Status.CANCELLED] == 1600 - sent_before
    assert len(run.sends) == sent_before
    assert in_flight > 0
    assert len(run.by_contact()) == 1600


def test_flow_unpublished_mid_run_skips_the_remaining_contacts():
    run = Run(BROADCAST, tg_contacts(700), lambda s, n: (1.0, deliver(s, n)), flow=FLOW)
    while len(run.sends) < 60:
        run.step()
    sent = len(run.sends)
    run.perform(run.dispatcher.handle(FlowUnpublished(), now=run.now))
    run.run()
    counts = statuses(run)
    assert counts == {Status.DELIVERED: sent, Status.FLOW_UNPUBLISHED: 700 - sent}
    assert run.finished is not None and run.finished.cancelled is False


def test_flow_unpublished_before_firing_skips_everyone():
    unpublished = Flow(id="f1", published=False, first_card=TextCard("x"))
    run = Run(BROADCAST, tg_contacts(1200), deliver, flow=unpublished).run()
    assert statuses(run) == {Status.FLOW_UNPUBLISHED: 1200}
    assert run.sends == []


def test_flow_unpublished_before_firing_keeps_the_earlier_checks():
    """docs/outcomes.md's pre-flight order: opted out, then no chat, then the flow (issue 10 item 16)."""
    unpublished = Flow(id="f1", published=False, first_card=TextCard("x"))
    contacts = [
        *tg_contacts(300),
        Contact("x-opted", opted_out=True, chats=(Chat("tg", "9001"),)),
        Contact("x-nochat"),
        Contact("x-opted-nochat", opted_out=True),
    ]
    run = Run(BROADCAST, contacts, deliver, flow=unpublished).run()
    assert statuses(run) == {Status.FLOW_UNPUBLISHED: 300, Status.OPTED_OUT: 2, Status.NO_REACHABLE_CHANNEL: 1}
    by_id = {row.contact_id: row for row in run.rows}
    assert by_id["x-opted"].integration == "tg" and by_id["x-nochat"].status is Status.NO_REACHABLE_CHANNEL
    assert run.sends == []


def test_empty_audience_finishes_at_once():
    run = Run(BROADCAST, [], deliver, flow=FLOW).run()
    assert run.rows == [] and run.finished is not None


def test_two_contacts_sharing_a_chat_get_one_message():
    contacts = [Contact("a", chats=(Chat("tg", "42"),)), Contact("b", chats=(Chat("tg", "42"),))]
    run = Run(BROADCAST, contacts, deliver, flow=FLOW).run()
    rows = run.by_contact()
    assert (rows["a"].status, rows["b"].status) == (Status.DELIVERED, Status.DEDUP_HIT)


def test_a_duplicate_pages_later_is_a_dedup_hit_while_its_original_still_waits_to_be_sent():
    # A slow integration: pages are read ahead of the sends, so c000012's page arrives while
    # c000001 (same chat) is still queued — the store has not seen its claim yet.
    slow = ChannelSpec("telegram", rate_per_second=1.0, burst=1)
    contacts = tg_contacts(20)
    contacts[12] = Contact("c000012", "dup of 1", chats=(Chat("tg", "1"),))
    pacing = PacingPlan(page_size=5, batch_size=5, concurrent_batches=2, in_flight_per_batch=1)
    run = Run(BROADCAST, contacts, deliver, flow=FLOW, channels={"tg": slow}, pacing=pacing).run()
    rows = run.by_contact()
    assert (rows["c000001"].status, rows["c000012"].status) == (Status.DELIVERED, Status.DEDUP_HIT)
    assert [s.contact_id for s in run.sends if s.chat_id == "1"] == ["c000001"]


def test_chats_the_store_reports_as_used_are_dedup_hits():
    run = Run(BROADCAST, tg_contacts(3), deliver, flow=FLOW)
    load = run.pending_pages.pop(0)
    page = run.page(load)
    run.perform(run.dispatcher.handle(PageLoaded(page.contacts, True, frozenset({("tg", "1")})), now=run.now))
    run.run()
    assert run.by_contact()["c000001"].status is Status.DEDUP_HIT


def test_closed_whatsapp_window_uses_the_fallback_template_and_marks_it():
    now = 1_000_000.0
    contacts = [
        Contact("open", chats=(Chat("wa", "1", last_inbound_at=now - 3600),)),
        Contact("closed", fields={"first": "Ana"}, chats=(Chat("wa", "2", last_inbound_at=now - 90_000),)),
    ]
    broadcast = Broadcast(
        id="b2",
        flow_id="f1",
        fallbacks=(FallbackTemplate("wa", "promo_v1", "en", ("first",)),),
        audience=Audience(filter=""),
    )
    run = Run(broadcast, contacts, lambda s, n: Delivered("wamid"), flow=FLOW, now=now).run()
    sends = {s.contact_id: s for s in run.sends}
    assert sends["open"].message == TextMessage("Hello!") and not sends["open"].used_fallback
    assert sends["closed"].message == TemplateMessage("promo_v1", "en", ("Ana",)) and sends["closed"].used_fallback
    rows = run.by_contact()
    assert rows["closed"].used_fallback and not rows["open"].used_fallback
    assert run.dispatcher.stats.fallbacks == 1


def test_template_mode_sends_the_route_template_with_contact_fields():
    broadcast = Broadcast(
        id="b3",
        mode=Mode.TEMPLATE,
        routes=(TemplateRoute("wa", "order_update", "es", ("first", "order")),),
        audience=Audience(contact_ids=("x",)),
    )
    contacts = [Contact("x", fields={"first": "Luz", "order": 17}, chats=(Chat("wa", "5"),))]
    run = Run(broadcast, contacts, lambda s, n: Delivered("w"), channels={"wa": WHATSAPP}).run()
    assert run.sends[0].message == TemplateMessage("order_update", "es", ("Luz", "17"))


def test_misuse_is_reported_loudly():
    run = Run(BROADCAST, tg_contacts(1), deliver, flow=FLOW)
    with pytest.raises(RuntimeError, match="no send in flight"):
        run.dispatcher.handle(SendCompleted("nobody", Delivered()), now=run.now)
    run.run()
    with pytest.raises(RuntimeError, match="has finished"):
        run.dispatcher.handle(CancelRequested(), now=run.now)


def test_page_without_request_is_rejected():
    pacing = PacingPlan(page_size=20, batch_size=5, concurrent_batches=1, in_flight_per_batch=1)
    run = Run(BROADCAST, tg_contacts(40), lambda s, n: (1.0, deliver(s, n)), flow=FLOW, pacing=pacing)
    load = run.pending_pages.pop(0)
    page = run.page(load)
    actions = run.dispatcher.handle(page, now=run.now)  # answers the constructor's LoadPage
    assert not any(isinstance(a, LoadPage) for a in actions)  # 3 batches wait: no need for more
    with pytest.raises(RuntimeError, match="without a LoadPage"):
        run.dispatcher.handle(page, now=run.now)


def test_same_inputs_same_run():
    def flaky(send, now):
        n = int(send.contact_id[1:])
        if n % 5 == 0 and send.attempt == 1:
            return (0.2, RateLimited(retry_after=None))
        return (0.1 + (n % 3) / 10, deliver(send, now))

    first = Run(BROADCAST, tg_contacts(300), flaky, flow=FLOW, seed=7).run()
    second = Run(BROADCAST, tg_contacts(300), flaky, flow=FLOW, seed=7).run()
    assert first.rows == second.rows and first.sends == second.sends and first.now == second.now


def test_telegram_spec_is_the_default_for_tg():
    assert TELEGRAM.provider == "telegram"


def _mixed_reply(send, now):
    """Every kind of result, so that complete() is compared with handle() on each branch."""
    n = int(send.contact_id[1:])
    if n % 11 == 0 and send.attempt == 1:
        return (0.3, RateLimited(retry_after=1.0, scope="integration"))
    if n % 13 == 0 and send.attempt == 1:
        return (0.1, NotSent(ErrorReason("telegram", None, "connect_refused")))
    if n % 17 == 0 and send.attempt <= 2:
        return (0.2, Rerouted(f"moved-{n}"))
    if n % 19 == 0:
        return (0.4, Failed(ErrorKind.PERMANENT_CONTACT, BLOCKED))
    if n % 23 == 0:
        return (0.5, OutcomeUnknown(ErrorReason("telegram", None, "timeout")))
    return (0.1 + (n % 7) / 20, deliver(send, now))


def _recorded(run: Run) -> list[list]:
    """Run to the end, keeping every batch of actions the dispatcher answered with."""
    batches: list[list] = []
    perform = run.perform

    def spy(actions):
        batches.append(list(actions))
        perform(actions)

    run.perform = spy
    run.run()
    return batches


def test_complete_is_exactly_handle_of_send_completed():
    pacing = PacingPlan(page_size=40, batch_size=7, concurrent_batches=3, in_flight_per_batch=2)
    by_handle = Run(BROADCAST, tg_contacts(400), _mixed_reply, flow=FLOW, seed=3, pacing=pacing)
    by_complete = Run(BROADCAST, tg_contacts(400), _mixed_reply, flow=FLOW, seed=3, pacing=pacing)
    dispatcher = by_complete.dispatcher
    handle = dispatcher.handle
    fed = Counter()

    def via_complete(event, *, now):
        if isinstance(event, SendCompleted):
            fed["complete"] += 1
            return dispatcher.complete(event.contact_id, event.result, now=now)
        return handle(event, now=now)

    dispatcher.handle = via_complete
    assert _recorded(by_complete) == _recorded(by_handle)
    assert fed["complete"] == by_handle.dispatcher.stats.sent > 400
    assert by_complete.rows == by_handle.rows and by_complete.now == by_handle.now
    assert by_complete.dispatcher.stats.as_dict() == by_handle.dispatcher.stats.as_dict()
    assert statuses(by_complete)[Status.DELIVERED] > 0 and statuses(by_complete)[Status.OUTCOME_UNKNOWN] > 0


def test_complete_rejects_what_handle_rejects():
    run = Run(BROADCAST, tg_contacts(1), deliver, flow=FLOW)
    with pytest.raises(RuntimeError, match="'nobody', which has no send in flight"):
        run.dispatcher.complete("nobody", Delivered(), now=run.now)
    run.run()
    with pytest.raises(RuntimeError, match="has finished; got SendCompleted"):
        run.dispatcher.complete("c000000", Delivered(), now=run.now)


def test_open_batches_are_the_active_ones_that_can_act():
    # _issue walks only the open batches: after every input, through retries, backoffs,
    # reroutes and finished batches, every active batch below its cap that has sends queued
    # or nothing in flight must be in the set, and nothing else than active ones below it.
    pacing = PacingPlan(page_size=40, batch_size=7, concurrent_batches=3, in_flight_per_batch=2)
    run = Run(BROADCAST, tg_contacts(400), _mixed_reply, flow=FLOW, seed=3, pacing=pacing)
    dispatcher = run.dispatcher
    perform = run.perform
    checked = 0

    def check(actions):
        nonlocal checked
        perform(actions)
        below_cap = {b for b in dispatcher._active if b.in_flight < dispatcher._per_batch}
        can_act = {b for b in below_cap if b.queue or b.in_flight == 0}
        assert can_act <= dispatcher._open <= below_cap
        checked += 1

    run.perform = check
    run.run()
    assert checked > 400 and statuses(run)[Status.DELIVERED] > 0


@pytest.mark.parametrize("fed", ["handle", "complete"])
def test_a_send_that_left_later_than_it_was_issued_is_recorded_and_measured_from_when_it_left(fed):
    # the shell says when the request really left (after a connection was opened): the
    # row's sent_at and the bucket's measurement take that, not the instant of the Send
    import random

    from broadcaster.core.dispatcher import Dispatcher
    from broadcaster.core.events import RecordRows, Send

    dispatcher = Dispatcher(broadcast=BROADCAST, flow=FLOW, channels={"tg": TELEGRAM}, now=0.0, rng=random.Random(1))
    dispatcher.actions()
    actions = dispatcher.handle(PageLoaded(tuple(tg_contacts(2)), exhausted=True), now=0.0)
    sends = [a for a in actions if isinstance(a, Send)]
    assert [s.contact_id for s in sends] == ["c000000", "c000001"]
    bucket = dispatcher._buckets["tg"]
    rows = []
    for send, left_at in zip(sends, (0.03, None), strict=True):
        result = Delivered(f"m-{send.contact_id}", confirmed=True)
        if fed == "handle":
            out = dispatcher.handle(SendCompleted(send.contact_id, result, left_at), now=0.05)
        else:
            out = dispatcher.complete(send.contact_id, result, now=0.05, left_at=left_at)
        rows += [row for a in out if isinstance(a, RecordRows) for row in a.rows]
    rows += [row for a in dispatcher.actions() if isinstance(a, RecordRows) for row in a.rows]
    assert {row.contact_id: row.sent_at for row in rows} == {"c000000": 0.03, "c000001": 0.0}
    assert bucket._ok == [0.03, 0.0]
