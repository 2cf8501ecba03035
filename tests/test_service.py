"""The library API over a real SQLite store: create, schedule, cancel, edit, retry, lineage, purge."""

from __future__ import annotations

import itertools

import attrs
import pytest

from broadcaster.core.errors import (
    ConfigError,
    EditRefused,
    FilterSyntaxError,
    InvalidTransition,
    NothingToRetry,
    QuotaExceeded,
    RetryNotTerminal,
    RetryPending,
    RowsAgedOut,
)
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import (
    Chat,
    Contact,
    DispatchRow,
    FallbackTemplate,
    Flow,
    Integration,
    Mode,
    Template,
    TemplateRoute,
    TextCard,
)
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.service import BroadcastService
from broadcaster.store.sqlite import open_store

NOW = 1_800_000_000.0
DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env():
    store = open_store(":memory:")
    store.put_integration(Integration("tg", "telegram", {"token": "t"}))
    store.put_integration(Integration("wa", "whatsapp", {"token": "w"}))
    store.put_template("wa", Template("promo", "en", param_count=1))
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
    store.upsert_contacts(
        [
            Contact(f"c{i}", f"N{i}", fields={"city": "Oslo" if i % 2 else "Rome"}, chats=(Chat("tg", str(i)),))
            for i in range(10)
        ]
    )
    clock = Clock()
    ids = (f"b{n}" for n in itertools.count(1))
    service = BroadcastService(store=store, clock=clock, quota=3, new_id=lambda: next(ids))

    def events() -> list:
        """The lifecycle events the store's outbox holds, oldest first."""
        return [item.event for item in store.events()]

    return service, store, clock, events


def finish(store, broadcast_id, rows, *, at=NOW):
    """Simulate a run's end: SENDING, rows recorded, COMPLETED."""
    b = store.get_broadcast(broadcast_id)
    b = store.update_broadcast(attrs.evolve(b, state=State.SENDING), expected_state=b.state)
    store.record(rows)
    b = store.get_broadcast(broadcast_id)
    done = attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=at))
    return store.update_broadcast(done, expected_state=State.SENDING)


def row(bid, cid, status, **kw):
    return DispatchRow(bid, cid, status, integration="tg", recorded_at=NOW, **kw)


FAIL = {"error_reason": ErrorReason("telegram", "5xx", "server_error"), "error_kind": ErrorKind.TRANSIENT}


def test_create_schedules_now_with_an_estimate_and_announces_it(env):
    service, store, clock, events = env
    b = service.create(name="Promo", flow_id="f1", audience_filter='city = "Oslo"')
    assert (b.id, b.state, b.run_at, b.counters.audience_size_estimate) == ("b1", State.SCHEDULED, NOW, 5)
    assert [(e.kind, e.broadcast, e.at) for e in events()] == [(LifecycleEventKind.SCHEDULED, b, NOW)]
    draft = service.create(flow_id="f1", contact_ids=["c1", "c2", "c2", "ghost"], draft=True)
    assert (draft.state, draft.run_at, draft.counters.audience_size_estimate) == (State.DRAFT, None, 2)
    assert draft.audience.contact_ids == ("c1", "c2", "ghost")
    assert len(events()) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"flow_id": "nope", "audience_filter": ""}, ConfigError, "flow 'nope' does not exist"),
        ({"audience_filter": ""}, ConfigError, "needs a flow"),
        ({"flow_id": "f1"}, ConfigError, "exactly one"),
        ({"flow_id": "f1", "audience_filter": "", "contact_ids": ["c1"]}, ConfigError, "exactly one"),
        ({"flow_id": "f1", "contact_ids": []}, ConfigError, "contact-ID list is empty"),
        ({"flow_id": "f1", "audience_filter": "city = "}, FilterSyntaxError, "column"),
        ({"flow_id": "f1", "audience_filter": "", "channels": ["sms"]}, ConfigError, "integration 'sms'"),
        (
            {"flow_id": "f1", "audience_filter": "", "fallbacks": [FallbackTemplate("wa", "nope", "en", ("city",))]},
            ConfigError,
            "template 'nope'",
        ),
        (
            {"flow_id": "f1", "audience_filter": "", "fallbacks": [FallbackTemplate("wa", "promo", "en", ())]},
            ConfigError,
            "takes 1 parameter",
        ),
        ({"mode": Mode.TEMPLATE, "audience_filter": ""}, ConfigError, "at least one template route"),
        (
            {
                "mode": Mode.TEMPLATE,
                "audience_filter": "",
                "routes": [TemplateRoute("viber", "promo", "en", ("city",))],
            },
            ConfigError,
            "route 1 names integration 'viber'",
        ),
    ],
)
def test_create_refuses_bad_input_and_stores_nothing(env, kwargs, error, message):
    service, store, _, events = env
    with pytest.raises(error, match=message):
        service.create(**kwargs)
    assert store.list_broadcasts() == [] and events() == []


def test_quota_counts_drafts_and_scheduled_including_retries(env):
    service, store, _, _ = env
    for _ in range(3):
        service.create(flow_id="f1", audience_filter="", draft=True)
    with pytest.raises(QuotaExceeded, match="cancel a draft"):
        service.create(flow_id="f1", audience_filter="")
    service.cancel("b1")
    assert service.create(flow_id="f1", audience_filter="").state is State.SCHEDULED


def test_cancel_draft_scheduled_and_sending(env):
    service, store, _, events = env
    draft = service.create(flow_id="f1", audience_filter="", draft=True)
    assert service.cancel(draft.id).state is State.CANCELLED
    scheduled = service.create(flow_id="f1", audience_filter="")
    b = store.update_broadcast(attrs.evolve(scheduled, state=State.SENDING), expected_state=State.SCHEDULED)
    asked = service.cancel(b.id)
    assert (asked.state, asked.cancel_requested) == (State.SENDING, True)  # the worker ends it
    with pytest.raises(InvalidTransition, match="cannot cancel a broadcast that is CANCELLED"):
        service.cancel(draft.id)
    # the draft's cancel is an event; a SENDING one's comes when the worker ends it
    assert [(e.kind, e.broadcast.id, e.broadcast.state) for e in events()] == [
        (LifecycleEventKind.CANCELLED, draft.id, State.CANCELLED),
        (LifecycleEventKind.SCHEDULED, scheduled.id, State.SCHEDULED),
    ]


def test_edit_follows_the_rules(env):
    service, store, clock, _ = env
    b = service.create(flow_id="f1", audience_filter="", draft=True)
    edited = service.edit(b.id, name="New", audience=attrs.evolve(b.audience, filter='city = "Rome"'))
    assert (edited.name, edited.counters.audience_size_estimate) == ("New", 5)
    with pytest.raises(ConfigError, match="'state' cannot be edited"):
        service.edit(b.id, state=State.COMPLETED)
    source = service.create(flow_id="f1", audience_filter="")
    finish(store, source.id, [row(source.id, "c1", Status.PROVIDER_ERROR, **FAIL)])
    # a finished source: configuration only, while its retry has not started
    fallback = FallbackTemplate("wa", "promo", "en", ("city",))
    assert service.edit(source.id, fallbacks=(fallback,)).fallbacks == (fallback,)
    with pytest.raises(ConfigError, match="'run_at' of a finished broadcast"):
        service.edit(source.id, run_at=NOW + 5)
    retry = service.retry(source.id)
    service.edit(source.id, name="still fine")
    store.update_broadcast(
        attrs.evolve(store.get_broadcast(retry.id), state=State.SENDING), expected_state=State.SCHEDULED
    )
    with pytest.raises(EditRefused, match=f"its retry {retry.id} has already started"):
        service.edit(source.id, name="too late")


def test_retry_targets_exactly_the_failed_contacts(env):
    service, store, clock, events = env
    source = service.create(name="Promo", flow_id="f1", audience_filter="")
    rows = [
        row(source.id, "c1", Status.PROVIDER_ERROR, **FAIL),
        row(source.id, "c2", Status.DELIVERED),
        row(source.id, "c3", Status.OPTED_OUT),
        row(source.id, "c4", Status.RATE_LIMIT_EXHAUSTED, error_reason=ErrorReason.rate_limit_exhausted("telegram")),
    ]
    finish(store, source.id, rows)
    assert service.retryable_count(source.id) == 2
    clock.now = NOW + 50
    retry = service.retry(source.id)
    assert retry.audience.contact_ids == ("c1", "c4")
    assert (retry.state, retry.retry_of, retry.run_at, retry.name) == (
        State.SCHEDULED,
        source.id,
        NOW + 170,
        "Promo (retry)",
    )
    assert (retry.flow_id, retry.mode) == ("f1", Mode.FLOW)
    assert retry.counters.audience_size_estimate == 2
    assert events()[-1].kind is LifecycleEventKind.SCHEDULED and events()[-1].broadcast == retry
    with pytest.raises(RetryPending, match=f"already has retry {retry.id}"):
        service.retry(source.id)  # both would send to c1 and c4
    service.cancel(retry.id)  # once the first retry is terminal, another may be made
    at = service.retry(source.id, run_at=NOW + 3 * DAY)
    assert at.run_at == NOW + 3 * DAY
    service.retry(source.id, contact_ids=["c9"])  # an explicit list overrides the pending check
    service.retry(source.id, contact_ids=["c8"])  # the third SCHEDULED broadcast: at the cap of 3
    with pytest.raises(QuotaExceeded, match="3 of 3"):
        service.retry(source.id, contact_ids=["c7"])


def test_retry_refusals_are_distinct(env):
    service, store, clock, _ = env
    pending = service.create(flow_id="f1", audience_filter="")
    with pytest.raises(RetryNotTerminal, match="is SCHEDULED"):
        service.retry(pending.id)
    clean = service.create(flow_id="f1", audience_filter="")
    finish(store, clean.id, [row(clean.id, "c1", Status.DELIVERED), row(clean.id, "c2", Status.OPTED_OUT)])
    with pytest.raises(NothingToRetry, match="no FAILED contacts"):
        service.retry(clean.id)
    old = service.create(flow_id="f1", audience_filter="")
    finish(store, old.id, [row(old.id, "c1", Status.PROVIDER_ERROR, **FAIL)], at=NOW)
    clock.now = NOW + 31 * DAY
    assert service.purge() == 3  # every row of the three broadcasts is older than 30 days
    assert store.get_broadcast(old.id).counters.failed == 1  # counters never expire
    with pytest.raises(RowsAgedOut, match="no failed contacts to look up") as refused:
        service.retry(old.id)
    assert refused.value.code == "BAD_USER_INPUT"


def test_override_ids_bypass_the_failed_lookup_but_not_the_lifecycle(env):
    service, store, _, _ = env
    source = service.create(flow_id="f1", audience_filter="")
    with pytest.raises(RetryNotTerminal):
        service.retry(source.id, contact_ids=["c5"])
    finish(store, source.id, [row(source.id, "c1", Status.DELIVERED)])
    retry = service.retry(source.id, contact_ids=["c5", "c6", "c5"])
    assert retry.audience.contact_ids == ("c5", "c6")


def test_lineage_and_the_attempt_that_reached_a_contact(env):
    service, store, clock, _ = env
    service.quota = 10
    original = service.create(flow_id="f1", audience_filter="")
    finish(
        store,
        original.id,
        [row(original.id, "c1", Status.PROVIDER_ERROR, **FAIL), row(original.id, "c2", Status.DELIVERED)],
    )
    first = service.retry(original.id)
    finish(store, first.id, [row(first.id, "c1", Status.PROVIDER_ERROR, **FAIL)])
    second = service.retry(first.id)
    finish(store, second.id, [row(second.id, "c1", Status.DELIVERED)])
    assert [b.id for b in service.lineage(second.id)] == [original.id, first.id, second.id]
    assert [b.id for b in service.descendants(original.id)] == [first.id, second.id]
    assert service.reached_on_attempt(second.id, "c1") == 3
    assert service.reached_on_attempt(second.id, "c2") == 1
    assert service.reached_on_attempt(second.id, "c9") is None
    summary = service.summary(first.id)
    assert summary.lineage == (original.id, first.id) and summary.retries == (second.id,)
