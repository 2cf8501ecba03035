"""Providers that take many recipients per request (ChannelSpec.max_batch > 1): the
dispatcher groups sends into SendBatch actions, one token and one in-flight place each."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation, MessageKind
from broadcaster.core.events import CancelRequested, Send, SendBatch
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    Flow,
    Mode,
    TemplateRoute,
    TextCard,
    TextMessage,
)
from broadcaster.core.outcomes import ErrorKind, Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited

from .driver import TELEGRAM, Run

VIBER = ChannelSpec(
    "viber", confirmation=DeliveryConfirmation.CALLBACK, rate_per_second=1000.0, burst=1000, max_batch=4
)
FLOW = Flow(id="f1", first_card=TextCard("Hello!"))
BROADCAST = Broadcast(id="b", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""))
CHANNELS = {"vb": VIBER, "tg": TELEGRAM}


def vb_contacts(n: int) -> list[Contact]:
    return [Contact(f"c{i:04d}", chats=(Chat("vb", f"u{i}"),)) for i in range(n)]


def accept(send, now):
    return Delivered(f"m-{send.contact_id}", confirmed=False)


def test_sends_to_a_batching_provider_go_out_in_requests_of_at_most_max_batch():
    pacing = PacingPlan(page_size=100, batch_size=10, concurrent_batches=2, in_flight_per_batch=2)
    run = Run(BROADCAST, vb_contacts(30), accept, flow=FLOW, channels=CHANNELS, pacing=pacing).run()
    # each pacing batch of 10 is cut into requests of 4, 4 and 2, in contact order
    assert Counter(len(r.sends) for r in run.requests) == {4: 6, 2: 3}
    for request in run.requests:
        ids = [int(s.contact_id[1:]) for s in request.sends]
        assert ids == sorted(ids) and len({i // 10 for i in ids}) == 1
    for request in run.requests:
        assert {s.integration for s in request.sends} == {"vb"} and request.message == TextMessage("Hello!")
        assert request.integration == "vb"
    assert Counter(row.status for row in run.rows) == {Status.ACCEPTED: 30}
    assert Counter(s.contact_id for s in run.sends) == {f"c{i:04d}": 1 for i in range(30)}
    assert run.dispatcher.stats.sent == 30
    # two batches, two requests each at most: the caps count requests, not contacts
    assert run.max_in_flight <= pacing.max_in_flight


def test_a_request_takes_one_token_from_the_integrations_bucket():
    slow = ChannelSpec("viber", rate_per_second=1.0, burst=1, max_batch=5)
    pacing = PacingPlan(page_size=100, batch_size=5, concurrent_batches=4, in_flight_per_batch=1)
    times: list[float] = []

    def reply(send, now):
        times.append(now)
        return accept(send, now)

    run = Run(BROADCAST, vb_contacts(20), reply, flow=FLOW, channels={"vb": slow}, pacing=pacing).run()
    assert len(run.requests) == 4
    # 1 request per second: 20 contacts in 4 requests take 3 s, not 19
    # (a bucket waits a microsecond past the exact refill time)
    assert [round(t - 1_000_000.0, 3) for t in sorted(set(times))] == [0.0, 1.0, 2.0, 3.0]


def test_only_sends_with_the_same_integration_and_message_share_a_request():
    contacts = [
        Contact("a1", chats=(Chat("vb", "1"),)),
        Contact("a2", chats=(Chat("vb", "2"),)),
        Contact("a3", chats=(Chat("tg", "3"),)),
        Contact("a4", chats=(Chat("vb", "4"),)),
        Contact("a5", chats=(Chat("vb", "5"),)),
    ]
    pacing = PacingPlan(page_size=10, batch_size=10, concurrent_batches=1, in_flight_per_batch=5)
    run = Run(BROADCAST, contacts, accept, flow=FLOW, channels=CHANNELS, pacing=pacing).run()
    # the Viber contacts of the batch share one request, wherever they sit in it
    assert [[s.contact_id for s in r.sends] for r in run.requests] == [["a1", "a2", "a4", "a5"]]
    singles = [s.contact_id for s in run.sends if s.integration == "tg"]
    assert singles == ["a3"]


def test_personalised_messages_do_not_share_a_request():
    broadcast = Broadcast(
        id="t",
        mode=Mode.TEMPLATE,
        routes=(TemplateRoute("vb", "promo", "en", ("first",)),),
        audience=Audience(filter=""),
    )
    names = ["Ana", "Ben", "Ana", "Ana"]
    contacts = [Contact(f"a{i}", fields={"first": n}, chats=(Chat("vb", str(i)),)) for i, n in enumerate(names)]
    templated = ChannelSpec("viber", kinds={MessageKind.TEXT, MessageKind.TEMPLATE}, max_batch=10)
    run = Run(broadcast, contacts, accept, channels={"vb": templated}).run()
    assert [[s.contact_id for s in r.sends] for r in run.requests] == [["a0", "a2", "a3"]]
    assert [s.contact_id for s in run.sends if not any(s in r.sends for r in run.requests)] == ["a1"]


def test_a_lone_send_to_a_batching_provider_is_a_plain_send():
    run = Run(BROADCAST, vb_contacts(1), accept, flow=FLOW, channels=CHANNELS).run()
    assert run.requests == [] and [s.contact_id for s in run.sends] == ["c0000"]


def test_a_refused_request_is_one_round_of_backoff_and_every_contact_is_sent_again():
    refused = [True]
    attempts: Counter = Counter()

    def reply(send, now):
        attempts[send.contact_id] += 1
        if refused[0]:
            if send.contact_id == "c0003":
                refused[0] = False
            return RateLimited(retry_after=5.0, scope="integration")
        return accept(send, now)

    pacing = PacingPlan(page_size=10, batch_size=4, concurrent_batches=1, in_flight_per_batch=1)
    run = Run(BROADCAST, vb_contacts(4), reply, flow=FLOW, channels=CHANNELS, pacing=pacing).run()
    assert Counter(row.status for row in run.rows) == {Status.ACCEPTED: 4}
    assert attempts == {f"c{i:04d}": 2 for i in range(4)}
    assert run.dispatcher.stats.rate_limit_retries == 1
    assert [len(r.sends) for r in run.requests] == [4, 4]


def test_per_recipient_failures_in_a_request_are_rows_of_their_own():
    unsubscribed = Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("viber", "6", "receiver_not_subscribed"))

    def reply(send, now):
        return unsubscribed if send.contact_id in {"c0001", "c0002"} else accept(send, now)

    run = Run(BROADCAST, vb_contacts(4), reply, flow=FLOW, channels=CHANNELS).run()
    rows = run.by_contact()
    assert [rows[c].status for c in sorted(rows)] == [
        Status.ACCEPTED,
        Status.PROVIDER_ERROR,
        Status.PROVIDER_ERROR,
        Status.ACCEPTED,
    ]
    assert str(rows["c0001"].error_reason) == "viber:6:receiver_not_subscribed"


results = st.sampled_from(
    [
        Delivered("m", confirmed=False),
        RateLimited(retry_after=1.0, scope="integration"),
        Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("viber", "6", "receiver_not_subscribed")),
        NotSent(ErrorReason("viber", None, "connection_refused")),
        OutcomeUnknown(ErrorReason("viber", None, "timeout")),
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 80),
    script=st.lists(st.tuples(results, st.floats(0, 2)), min_size=1, max_size=20),
    max_batch=st.integers(2, 7),
    pacing=st.builds(
        PacingPlan,
        page_size=st.integers(12, 40),
        batch_size=st.integers(1, 12),
        concurrent_batches=st.integers(1, 3),
        in_flight_per_batch=st.integers(1, 3),
    ),
    seed=st.integers(0, 2**32),
)
def test_batched_runs_keep_every_invariant(size, script, max_batch, pacing, seed):
    rng = random.Random(seed)
    contacts = [Contact(f"c{i:04d}", chats=(Chat("vb" if rng.random() < 0.7 else "tg", str(i)),)) for i in range(size)]
    channels = {"vb": ChannelSpec("viber", rate_per_second=50.0, burst=5, max_batch=max_batch), "tg": TELEGRAM}
    replies = iter(script * (size * 30 + 1))
    refusals: Counter = Counter()

    def reply(send, now):
        result, latency = next(replies)
        if isinstance(result, (RateLimited, NotSent)):
            refusals[send.contact_id] += 1
        return latency, result

    run = Run(
        BROADCAST, contacts, reply, flow=FLOW, channels=channels, pacing=pacing, seed=seed, backoff=BackoffPolicy()
    ).run()
    assert len(run.rows) == size == len(run.by_contact())
    counts = Counter(row.outcome for row in run.rows)
    stats = run.dispatcher.stats
    assert (stats.delivered, stats.failed, stats.skipped) == (
        counts[Outcome.DELIVERED],
        counts[Outcome.FAILED],
        counts[Outcome.SKIPPED],
    )
    for request in run.requests:
        assert 2 <= len(request.sends) <= max_batch
        assert len({(s.integration, s.message) for s in request.sends}) == 1
    sends = Counter(s.contact_id for s in run.sends)
    for contact_id, n in sends.items():
        assert n <= 1 + refusals[contact_id]
    assert run.max_in_flight <= pacing.max_in_flight
    assert run.dispatcher.in_flight == run.dispatcher.requests_in_flight == 0
    assert all(type(a) in (Send, SendBatch) for a in run.requests + run.sends)


def test_a_cancel_lets_requests_in_flight_finish_and_skips_the_rest():
    pacing = PacingPlan(page_size=100, batch_size=20, concurrent_batches=2, in_flight_per_batch=1)
    run = Run(
        BROADCAST, vb_contacts(300), lambda s, n: (1.0, accept(s, n)), flow=FLOW, channels=CHANNELS, pacing=pacing
    )
    while len(run.requests) < 3:
        run.step()
    sent_before = len(run.sends)
    assert run.dispatcher.requests_in_flight == 2 and run.dispatcher.in_flight == 8  # two requests of 4
    run.perform(run.dispatcher.handle(CancelRequested(), now=run.now))
    run.run()
    assert run.finished is not None and run.finished.cancelled is True
    counts = Counter(row.status for row in run.rows)
    assert counts == {Status.ACCEPTED: sent_before, Status.CANCELLED: 300 - sent_before}
    assert len(run.sends) == sent_before and len(run.by_contact()) == 300
