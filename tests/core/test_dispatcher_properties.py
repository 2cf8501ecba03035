"""Invariants of the dispatcher under random replies, latencies, cancels and unpublishes."""

from __future__ import annotations

import copy
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from broadcaster.core.backoff import BackoffPolicy
from broadcaster.core.channels import ChannelSpec
from broadcaster.core.dispatcher import Dispatcher
from broadcaster.core.events import (
    CancelRequested,
    Finished,
    FlowUnpublished,
    LoadPage,
    PageLoaded,
    RecordRows,
    Send,
    SendBatch,
    SendCompleted,
    TimerFired,
)
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, TextCard
from broadcaster.core.outcomes import ErrorKind, Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, Rerouted

from .driver import TELEGRAM, WHATSAPP, Run

FLOW = Flow(id="f1", first_card=TextCard("hi"))
BROADCAST = Broadcast(id="b", flow_id="f1", audience=Audience(filter=""))
RETRYABLE = (RateLimited, NotSent, Rerouted)

results = st.one_of(
    st.builds(Delivered, st.just("m"), st.booleans()),
    st.builds(RateLimited, st.one_of(st.none(), st.floats(0, 30))),
    st.just(Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("telegram", "403", "blocked_by_user"))),
    st.just(Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "5xx", "server_error"))),
    st.just(NotSent(ErrorReason("telegram", "conn", "connection_refused"))),
    st.just(OutcomeUnknown(ErrorReason("telegram", "timeout", "outcome_unknown"))),
    st.builds(Rerouted, st.just("-100")),
)

pacings = st.builds(
    PacingPlan,
    page_size=st.integers(5, 60),
    batch_size=st.integers(1, 5),
    concurrent_batches=st.integers(1, 4),
    in_flight_per_batch=st.integers(1, 4),
)


def scripted(script, size: int):
    """A reply function answering from ``script``'s (result, latency) pairs, cycled."""
    replies = iter(script * (size * 20 + 1))

    def reply(send, now):
        result, latency = next(replies)
        return latency, result

    return reply


def contact(i: int, rng: random.Random) -> Contact:
    kind = rng.random()
    if kind < 0.1:
        return Contact(f"c{i:05d}", opted_out=True, chats=(Chat("tg", str(i)),))
    if kind < 0.15:
        return Contact(f"c{i:05d}")
    return Contact(f"c{i:05d}", chats=(Chat("tg", str(i)),))


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 150),
    script=st.lists(st.tuples(results, st.floats(0, 3)), min_size=1, max_size=30),
    pacing=pacings,
    seed=st.integers(0, 2**32),
)
def test_every_contact_ends_with_exactly_one_row_and_counters_match(size, script, pacing, seed):
    rng = random.Random(seed)
    contacts = [contact(i, rng) for i in range(size)]
    replies = iter(script * (size * 20 + 1))
    results_seen: Counter = Counter()

    def reply(send, now):
        result, latency = next(replies)
        results_seen[(send.contact_id, type(result))] += 1
        return latency, result

    run = Run(BROADCAST, contacts, reply, flow=FLOW, pacing=pacing, seed=seed).run()
    rows = run.by_contact()
    assert len(run.rows) == size == len(rows)  # one row each, none twice
    counts = Counter(row.outcome for row in run.rows)
    stats = run.dispatcher.stats
    assert (stats.delivered, stats.failed, stats.skipped) == (
        counts[Outcome.DELIVERED],
        counts[Outcome.FAILED],
        counts[Outcome.SKIPPED],
    )
    assert stats.delivered + stats.failed + stats.skipped == size
    # A contact is sent again only after a reply that said it was not taken.
    sends = Counter(s.contact_id for s in run.sends)
    for contact_id, n in sends.items():
        refused = sum(results_seen[(contact_id, kind)] for kind in RETRYABLE)
        assert n <= 1 + refused
    assert run.max_in_flight <= pacing.max_in_flight


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 120), refusals=st.integers(0, 4), budget=st.integers(4, 8), seed=st.integers(0, 1000))
def test_rate_limits_within_budget_never_fail_anyone(size, refusals, budget, seed):
    """Fewer 429s in the whole run than a batch's budget: nobody can end rate_limit_exhausted."""
    left = [refusals]

    def reply(send, now):
        if left[0] > 0:
            left[0] -= 1
            return 0.5, RateLimited(retry_after=2.0)
        return 0.5, Delivered("m", confirmed=True)

    contacts = [Contact(f"c{i:04d}", chats=(Chat("tg", str(i)),)) for i in range(size)]
    run = Run(BROADCAST, contacts, reply, flow=FLOW, backoff=BackoffPolicy(budget=budget), seed=seed).run()
    assert Counter(r.status for r in run.rows) == {Status.DELIVERED: size}


@settings(max_examples=30, deadline=None)
@given(hint=st.floats(0.0, 500.0), seed=st.integers(0, 1000))
def test_a_retry_never_comes_before_the_providers_hint(hint, seed):
    times: list[float] = []

    def reply(send, now):
        times.append(now)
        return RateLimited(retry_after=hint) if len(times) == 1 else Delivered("m", confirmed=True)

    Run(BROADCAST, [Contact("a", chats=(Chat("tg", "1"),))], reply, flow=FLOW, seed=seed).run()
    assert times[1] - times[0] >= hint - 1e-6  # float clock around 1e6 s


class _RecordingRun(Run):
    """A Run that also keeps each action list, to check how rows were grouped."""

    def __init__(self, *args, **kwargs) -> None:
        self.batches: list[list] = []
        super().__init__(*args, **kwargs)

    def perform(self, actions: list) -> None:
        self.batches.append(copy.deepcopy(actions))  # snapshots: the run keeps the originals
        super().perform(actions)


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 80),
    script=st.lists(st.tuples(results, st.floats(0, 3)), min_size=1, max_size=20),
    pacing=pacings,
    seed=st.integers(0, 2**32),
)
def test_the_dispatcher_never_changes_a_value_it_was_given_or_gave_out(size, script, pacing, seed):
    """Contact, Chat, Send and DispatchRow are not frozen (for speed); the core must
    still treat them as values."""
    rng = random.Random(seed)
    contacts = [contact(i, rng) for i in range(size)]
    before = copy.deepcopy(contacts)
    run = _RecordingRun(BROADCAST, contacts, scripted(script, size), flow=FLOW, pacing=pacing, seed=seed).run()
    assert contacts == before
    given_out = [a for actions in run.batches for a in actions if isinstance(a, (Send, RecordRows))]
    assert [a for a in given_out if isinstance(a, Send)] == run.sends
    assert [row for a in given_out if isinstance(a, RecordRows) for row in a.rows] == run.rows


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 120),
    script=st.lists(st.tuples(results, st.floats(0, 3)), min_size=1, max_size=20),
    pacing=pacings,
    per_record=st.integers(2, 50),
    seed=st.integers(0, 2**32),
)
def test_rows_per_record_only_groups_rows_it_changes_no_decision(size, script, pacing, per_record, seed):
    rng = random.Random(seed)
    contacts = [contact(i, rng) for i in range(size)]

    def go(**options) -> _RecordingRun:
        return _RecordingRun(
            BROADCAST, contacts, scripted(script, size), flow=FLOW, pacing=pacing, seed=seed, **options
        ).run()

    one, grouped = go(), go(rows_per_record=per_record)
    assert grouped.rows == one.rows and grouped.sends == one.sends
    assert grouped.finished == one.finished
    records = [a for actions in grouped.batches for a in actions if isinstance(a, RecordRows)]
    # every record but the last carries at least per_record rows; what is left comes
    # no later than Finished, which ends the run (the rows above are all of them)
    assert all(len(r.rows) >= per_record for r in records[:-1])
    assert isinstance(grouped.batches[-1][-1], Finished)


def test_rows_per_record_below_one_is_refused():
    with pytest.raises(ValueError, match="rows_per_record must be at least 1, not 0"):
        Run(BROADCAST, [], lambda send, now: Delivered("m"), flow=FLOW, rows_per_record=0)


#: a provider taking many recipients per request (SendBatch)
BATCHING = ChannelSpec("viber", rate_per_second=1000.0, burst=1000, max_batch=3)


class DispatcherMachine(RuleBasedStateMachine):
    """Random interleavings of pages, replies, timers, cancels and unpublishes, over an
    audience on a one-by-one channel and a batching one, with contacts sharing chats."""

    @initialize(
        size=st.integers(0, 80),
        pacing=pacings,
        budget=st.integers(0, 3),
        seed=st.integers(0, 2**16),
    )
    def start(self, size, pacing, budget, seed):
        rng = random.Random(seed)
        self.contacts = [contact(i, rng) for i in range(size)]
        # a third of them on the batching channel, on few chats: duplicates pages apart
        for i in range(0, size, 3):
            self.contacts[i] = Contact(f"c{i:05d}", chats=(Chat("vb", str(rng.randint(0, size // 4 + 1))),))
        self.chat_owner: dict[tuple[str, str], str] = {}
        self.now = 0.0
        self.rows: dict[str, Status] = {}
        self.in_flight: dict[str, Send] = {}
        self.loads: list[LoadPage] = []
        self.finished: Finished | None = None
        self.pacing = pacing
        self.dispatcher = Dispatcher(
            broadcast=BROADCAST,
            flow=FLOW,
            channels={"tg": TELEGRAM, "wa": WHATSAPP, "vb": BATCHING},
            now=self.now,
            rng=random.Random(seed),
            pacing=pacing,
            backoff=BackoffPolicy(budget=budget, base=0.5),
        )
        self.perform(self.dispatcher.actions())

    def perform(self, actions):
        for action in actions:
            if isinstance(action, LoadPage):
                assert not self.loads, "two LoadPage outstanding"
                self.loads.append(action)
            elif isinstance(action, (Send, SendBatch)):
                sends = action.sends if isinstance(action, SendBatch) else (action,)
                if isinstance(action, SendBatch):
                    assert 2 <= len(sends) <= BATCHING.max_batch
                    assert len({(x.integration, x.message) for x in sends}) == 1
                for send in sends:
                    assert send.contact_id not in self.in_flight, "a contact sent while already in flight"
                    assert send.contact_id not in self.rows, "a contact sent after its row was written"
                    self.in_flight[send.contact_id] = send
                    if send.attempt == 1:  # (a reroute may move two contacts to one chat: the provider's doing)
                        owner = self.chat_owner.setdefault((send.integration, send.chat_id), send.contact_id)
                        assert owner == send.contact_id, (
                            f"chat {send.chat_id} messaged for {owner} and {send.contact_id}"
                        )
            elif isinstance(action, RecordRows):
                for row in action.rows:
                    assert row.contact_id not in self.rows, f"second row for {row.contact_id}"
                    self.rows[row.contact_id] = row.status
                    self.in_flight.pop(row.contact_id, None)
            elif isinstance(action, Finished):
                self.finished = action

    @precondition(lambda self: self.loads and self.finished is None)
    @rule()
    def deliver_page(self):
        load = self.loads.pop()
        after = [c for c in self.contacts if load.after_id is None or c.id > load.after_id]
        # as the store does: the chats of every send so far were claimed before this read
        used = frozenset(self.chat_owner)
        page = PageLoaded(tuple(after[: load.limit]), exhausted=len(after) <= load.limit, used_chats=used)
        self.perform(self.dispatcher.handle(page, now=self.now))

    @precondition(lambda self: self.in_flight and self.finished is None)
    @rule(data=st.data(), result=results, wait=st.floats(0, 5))
    def answer(self, data, result, wait):
        contact_id = data.draw(st.sampled_from(sorted(self.in_flight)))
        self.in_flight.pop(contact_id)
        self.now += wait
        self.perform(self.dispatcher.handle(SendCompleted(contact_id, result), now=self.now))

    @precondition(lambda self: self.finished is None and self.dispatcher.next_deadline() is not None)
    @rule()
    def timer(self):
        self.now = max(self.now, self.dispatcher.next_deadline())
        self.perform(self.dispatcher.handle(TimerFired(), now=self.now))

    @precondition(lambda self: self.finished is None)
    @rule()
    def cancel(self):
        self.perform(self.dispatcher.handle(CancelRequested(), now=self.now))

    @precondition(lambda self: self.finished is None)
    @rule()
    def unpublish(self):
        self.perform(self.dispatcher.handle(FlowUnpublished(), now=self.now))

    @rule()
    def observe(self):
        """Always applicable, so a finished machine is a valid resting state."""

    @invariant()
    def bounded_and_consistent(self):
        if not hasattr(self, "dispatcher"):
            return
        assert self.dispatcher.in_flight == len(self.in_flight)
        assert self.dispatcher.requests_in_flight <= self.pacing.max_in_flight
        if self.finished is None:
            # never stuck: something can always move it forward
            assert self.loads or self.in_flight or self.dispatcher.next_deadline() is not None
        else:
            assert set(self.rows) == {c.id for c in self.contacts}
            assert not self.in_flight


TestDispatcherMachine = DispatcherMachine.TestCase
TestDispatcherMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)


class _ClaimingRun(Run):
    """A Run whose pages carry used_chats as the worker's store does: the chats of every
    send issued so far (claimed before the next page is read)."""

    def page(self, load: LoadPage) -> PageLoaded:
        loaded = super().page(load)
        used = frozenset((s.integration, s.chat_id) for s in self.sends)
        return PageLoaded(loaded.contacts, loaded.exhausted, used)


@settings(max_examples=100, deadline=None)
@given(
    chats=st.lists(st.integers(0, 12), min_size=0, max_size=60),
    # small pages, so duplicates land pages apart while the pages are read ahead of the sends
    pacing=st.builds(
        PacingPlan,
        page_size=st.integers(5, 12),
        batch_size=st.integers(1, 5),
        concurrent_batches=st.integers(1, 4),
        in_flight_per_batch=st.integers(1, 4),
    ),
    rate=st.sampled_from([0.5, 3.0, 1000.0]),
    seed=st.integers(0, 2**32),
)
def test_one_message_per_chat_however_far_apart_its_duplicates_are(chats, pacing, rate, seed):
    """Contacts sharing a chat, anywhere in the audience, at any pace: the chat gets one
    message (a contact refused and sent again is still one contact)."""
    contacts = [Contact(f"c{i:04d}", chats=(Chat("tg", str(chat)),)) for i, chat in enumerate(chats)]
    channels = {"tg": ChannelSpec("telegram", rate_per_second=rate, burst=2)}
    run = _ClaimingRun(
        BROADCAST, contacts, lambda send, now: (0.3, Delivered("m")), flow=FLOW, channels=channels,
        pacing=pacing, seed=seed,
    ).run()  # fmt: skip
    senders: dict[str, set[str]] = {}
    for send in run.sends:
        senders.setdefault(send.chat_id, set()).add(send.contact_id)
    assert all(len(ids) == 1 for ids in senders.values())
    assert len(run.rows) == len(contacts)
    assert Counter(r.status for r in run.rows)[Status.DEDUP_HIT] == len(contacts) - len(set(chats))
