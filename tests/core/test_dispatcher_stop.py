"""A graceful stop and refused sends' claims: the decisions behind "a graceful stop
leaves no outcome-unknown row" and "a contact waiting out a 429 holds no claim".

The driver keeps the claims a shell would and checks after every step that exactly the
contacts in flight hold one (tests/core/driver.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from broadcaster.core.events import CancelRequested, Stopped, StopRequested
from broadcaster.core.outcomes import Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.core.results import NotSent, RateLimited, Rerouted

from .driver import Run
from .test_dispatcher import BROADCAST, FLOW, deliver, statuses, tg_contacts


def stop(run: Run) -> None:
    run.perform(run.dispatcher.handle(StopRequested(), now=run.now))


def test_stop_mid_run_records_the_sends_in_flight_and_sends_nothing_new():
    run = Run(BROADCAST, tg_contacts(1600), lambda s, n: (1.0, deliver(s, n)), flow=FLOW)
    while len(run.sends) < 120:
        run.step()
    in_flight = run.dispatcher.in_flight
    sent_before = len(run.sends)
    stop(run)
    assert run.dispatcher.stopping and not run.dispatcher.finished
    run.run()
    assert in_flight > 0
    assert run.stopped == Stopped() and run.finished is None
    assert len(run.sends) == sent_before  # nothing new left
    # every send that went out has its row, the rest have none (the next run sends them)
    assert statuses(run) == {Status.DELIVERED: sent_before}
    assert set(run.by_contact()) == {s.contact_id for s in run.sends}
    assert run.claims == set()


def test_a_stop_before_anything_is_sent_waits_for_the_page_it_asked_for_and_writes_nothing():
    run = Run(BROADCAST, tg_contacts(50), deliver, flow=FLOW)
    assert run.pending_pages  # the first LoadPage is out
    stop(run)
    assert run.stopped is None  # the page it asked for is still to come
    run.run()
    assert run.stopped == Stopped()
    assert (run.sends, run.rows) == ([], [])


def test_a_rate_limited_contact_releases_its_claim_before_its_retry_claims_again():
    attempts: Counter = Counter()

    def reply(send, now):
        attempts[send.contact_id] += 1
        if send.contact_id == "c000003" and attempts[send.contact_id] <= 2:
            return RateLimited(retry_after=7.0)
        return deliver(send, now)

    run = Run(BROADCAST, tg_contacts(10), reply, flow=FLOW).run()
    assert statuses(run) == {Status.DELIVERED: 10}
    # released after each refusal; each retry claimed it again (the driver checks the order)
    assert run.released == ["c000003", "c000003"]
    assert [s.attempt for s in run.sends if s.contact_id == "c000003"] == [1, 2, 3]


@pytest.mark.parametrize(
    "refusal",
    [RateLimited(retry_after=30.0), NotSent(None)],
    ids=["rate_limited", "not_sent"],
)
def test_a_refused_send_holds_no_claim_while_it_waits(refusal):
    run = Run(
        BROADCAST,
        tg_contacts(4),
        lambda s, n: refusal if s.contact_id == "c000001" and s.attempt == 1 else (5.0, deliver(s, n)),
        flow=FLOW,
    )
    while "c000001" not in run.released:
        run.step()
    assert "c000001" not in run.claims
    assert run.dispatcher.next_deadline() is not None  # waiting out its backoff
    run.run()
    assert statuses(run) == {Status.DELIVERED: 4}


def test_a_rerouted_send_is_released_then_claimed_again_for_its_new_chat():
    run = Run(
        BROADCAST,
        tg_contacts(2),
        lambda s, n: Rerouted("other-chat") if s.attempt == 1 and s.contact_id == "c000001" else deliver(s, n),
        flow=FLOW,
    ).run()
    assert run.released == ["c000001"]
    assert [(s.chat_id, s.attempt) for s in run.sends if s.contact_id == "c000001"] == [("1", 1), ("other-chat", 2)]
    assert statuses(run) == {Status.DELIVERED: 2}


def test_a_stop_while_contacts_wait_out_a_backoff_leaves_them_without_claim_or_row():
    def reply(send, now):
        if int(send.contact_id[1:]) % 3 == 0:
            return (0.1, RateLimited(retry_after=60.0))
        return (0.5, deliver(send, now))

    plan = PacingPlan(page_size=20, batch_size=5, concurrent_batches=2, in_flight_per_batch=5)
    run = Run(BROADCAST, tg_contacts(40), reply, flow=FLOW, pacing=plan)
    while not run.released:
        run.step()
    assert run.dispatcher.next_deadline() is not None  # backoffs and tokens to wait for
    stop(run)
    # nothing to wait for but the replies (a stale deadline would spin the shell's loop)
    assert run.dispatcher.next_deadline() is None
    run.run()
    assert run.stopped == Stopped()
    waiting = set(run.released)
    assert waiting and not waiting & set(run.by_contact())  # no row: the next run sends them
    assert run.claims == set()
    assert all(row.status is Status.DELIVERED for row in run.rows)


def test_a_refusal_that_comes_back_after_the_stop_is_released_and_not_sent_again():
    run = Run(
        BROADCAST,
        tg_contacts(3),
        lambda s, n: (1.0, RateLimited(retry_after=1.0)) if s.contact_id == "c000002" else (1.0, deliver(s, n)),
        flow=FLOW,
    )
    while len(run.sends) < 3:
        run.step()
    stop(run)
    run.run()
    assert run.released == ["c000002"]
    assert [s.contact_id for s in run.sends] == ["c000000", "c000001", "c000002"]
    assert sorted(run.by_contact()) == ["c000000", "c000001"]
    assert run.claims == set()


def test_a_cancel_while_stopping_is_left_to_the_next_run():
    run = Run(BROADCAST, tg_contacts(100), lambda s, n: (1.0, deliver(s, n)), flow=FLOW)
    while len(run.sends) < 10:
        run.step()
    stop(run)
    run.perform(run.dispatcher.handle(CancelRequested(), now=run.now))
    run.run()
    assert run.stopped == Stopped() and run.finished is None
    assert Status.CANCELLED not in statuses(run)  # the next run reads cancel_requested and drains


def test_a_run_resumed_after_a_stop_gives_everyone_exactly_one_row():
    contacts = tg_contacts(700)
    accepted: Counter = Counter()

    def reply(send, now):
        if int(send.contact_id[1:]) % 7 == 0 and send.attempt == 1:
            return (0.2, RateLimited(retry_after=3.0))
        accepted[send.contact_id] += 1
        return (0.3, deliver(send, now))

    first = Run(BROADCAST, contacts, reply, flow=FLOW)
    while len(first.sends) < 300:
        first.step()
    stop(first)
    first.run()
    assert first.stopped is not None
    done = set(first.by_contact())
    # the next run reads the contacts that have no row (pending or final): claims are gone
    second = Run(BROADCAST, [c for c in contacts if c.id not in done], reply, flow=FLOW).run()
    assert second.finished is not None
    rows = first.rows + second.rows
    assert Counter(r.contact_id for r in rows) == Counter({c.id: 1 for c in contacts})
    assert {r.status for r in rows} == {Status.DELIVERED}
    # the provider accepted each contact once (the other sends were refused with a 429)
    assert accepted == Counter({c.id: 1 for c in contacts})
