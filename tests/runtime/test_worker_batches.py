"""Batched sends end to end: the worker, the SQLite store, the real Viber plugin and the
simulator's fake Viber (broadcast_message, failed_list) over MockTransport."""

from __future__ import annotations

import random
from collections import Counter

import broadcaster_viber
import httpx
import trio
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.model import Fates, Latency, Period, PeriodKind, ProviderBehaviour
from broadcaster_simulator.specs import chat_id_for

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.http import HttpCall
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
from broadcaster.core.outcomes import Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.core.results import Delivered
from broadcaster.plugin import Provider
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.context import Runtime, WallClock
from broadcaster.runtime.http import HttpExecutor
from broadcaster.runtime.scheduler import fire_due
from broadcaster.runtime.worker import run_broadcast
from broadcaster.store.sqlite import open_store

EPOCH = 1_800_000_000.0
CONTACTS = 400
PACING = PacingPlan(page_size=200, batch_size=100, concurrent_batches=2, in_flight_per_batch=1)


def viber_fake(**behaviour) -> FakeProvider:
    options = {"limit": 1000.0, "burst": 1000, "latency": Latency(0.05, 0.05), **behaviour}
    return FakeProvider(ProviderBehaviour("vb", "viber", **options), seed=3, clock=trio.current_time)


def prepare(fake: FakeProvider) -> tuple[Runtime, object]:
    store = open_store(":memory:")
    store.put_integration(
        Integration("vb", "viber", {"auth_token": "vb-token", "sender_name": "Shop", "base_url": "https://vb.test/pa"})
    )
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Sale today")))
    store.upsert_contacts(
        [Contact(f"c{i:05d}", f"P{i}", chats=(Chat("vb", chat_id_for("viber", i)),)) for i in range(CONTACTS)]
    )
    store.create_broadcast(
        Broadcast(
            id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH
        )
    )
    pm = make_plugin_manager(autoload=False, plugins=[broadcaster_viber])
    runtime = Runtime(
        store=store,
        registry=ProviderRegistry.from_plugin_manager(pm),
        executor=HttpExecutor(transport=fake.transport(wait=True)),
        clock=WallClock(epoch=EPOCH),
        rng=random.Random(1),
        pacing=PACING,
    )
    return runtime, store


async def run(runtime: Runtime):
    (fired,) = fire_due(runtime)
    with trio.fail_after(3600):
        return await run_broadcast(runtime, fired.id)


async def test_viber_contacts_go_out_in_broadcast_requests_and_failures_land_on_their_rows(autojump_clock):
    fake = viber_fake(fates=Fates(unregistered=0.05))
    runtime, store = prepare(fake)
    done = await run(runtime)
    assert done.state is State.COMPLETED
    rows = {r.contact_id: r for r in store.history("b1", limit=CONTACTS + 1).rows}
    assert len(rows) == CONTACTS
    statuses = Counter(r.status for r in rows.values())
    failed = [r for r in rows.values() if r.status is Status.PROVIDER_ERROR]
    assert statuses == {Status.ACCEPTED: CONTACTS - len(failed), Status.PROVIDER_ERROR: len(failed)}
    assert 0 < len(failed) < 50
    assert {str(r.error_reason) for r in failed} == {"viber:5:receiver_not_registered"}
    # 4 pacing batches of 100, each one broadcast_message request
    assert fake.requests == 4
    accepted = Counter(m.chat_id for m in fake.accepted)
    assert fake.duplicates() == {} and len(accepted) == CONTACTS - len(failed)
    chat_of = {f"c{i:05d}": chat_id_for("viber", i) for i in range(CONTACTS)}
    assert {chat_of[r.contact_id] for r in failed}.isdisjoint(accepted)
    # every accepted row carries the broadcast's token and its own receiver
    row = rows["c00007"] if rows["c00007"].status is Status.ACCEPTED else next(iter(rows.values()))
    assert row.message_id is not None and row.message_id.endswith(chat_of[row.contact_id])
    assert (done.counters.delivered, done.counters.failed) == (CONTACTS - len(failed), len(failed))


async def test_a_refused_broadcast_is_sent_again_after_backing_off(autojump_clock):
    # the provider takes 1 broadcast every 2 s: most requests are refused (status 12) at first
    storm = Period(PeriodKind.RATE_LIMIT, 0.0, limit=0.5, burst=1)
    fake = viber_fake(timeline=(storm,))
    runtime, store = prepare(fake)
    done = await run(runtime)
    rows = store.history("b1", limit=CONTACTS + 1).rows
    assert done.state is State.COMPLETED
    assert Counter(r.status for r in rows) == {Status.ACCEPTED: CONTACTS}
    refused = sum(n for verdict, n in fake.answers.items() if verdict.value == "throttled")
    assert refused > 0
    assert fake.duplicates() == {} and len(fake.accepted) == CONTACTS


class _Multi(Provider):
    """A provider that batches up to 3 recipients, except messages it cannot batch (text
    starting "solo"), and whose batch reader forgets the last recipient of each request."""

    SPEC = ChannelSpec("multi", rate_per_second=1000.0, burst=1000, max_batch=3)

    def __init__(self) -> None:
        self.calls: list[HttpCall] = []

    @property
    def spec(self) -> ChannelSpec:
        return self.SPEC

    def build_call(self, integration, chat_id, message):
        return HttpCall("POST", "https://multi.test/one", json={"to": chat_id}, recipients=())

    def build_batch_call(self, integration, recipients, message):
        if message.text.startswith("solo"):
            return None
        return HttpCall(
            "POST",
            "https://multi.test/many",
            json={"to": [c for _, c in recipients]},
            recipients=[r for r, _ in recipients],
        )

    def interpret_reply(self, integration, call, reply):
        return Delivered("m1", confirmed=True)

    def interpret_batch_reply(self, integration, call, reply):
        return {contact: Delivered(f"m-{contact}", confirmed=True) for contact in call.recipients[:-1]}


def multi_runtime(text: str, seen: list[str]) -> tuple[Runtime, object]:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"ok": True})

    store = open_store(":memory:")
    store.put_integration(Integration("mu", "multi", {}))
    store.put_flow(Flow("f1", "promo", first_card=TextCard(text)))
    store.upsert_contacts([Contact(f"c{i}", chats=(Chat("mu", str(i)),)) for i in range(6)])
    store.create_broadcast(
        Broadcast(
            id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH
        )
    )
    pm = make_plugin_manager(autoload=False, plugins=[_Multi()])
    runtime = Runtime(
        store=store,
        registry=ProviderRegistry.from_plugin_manager(pm),
        executor=HttpExecutor(transport=httpx.MockTransport(answer)),
        clock=WallClock(epoch=EPOCH),
        rng=random.Random(1),
        pacing=PacingPlan(page_size=10, batch_size=6, concurrent_batches=1, in_flight_per_batch=1),
    )
    return runtime, store


async def test_a_message_the_plugin_cannot_batch_goes_out_one_request_per_contact(autojump_clock):
    seen: list[str] = []
    runtime, store = multi_runtime("solo offer", seen)
    await run(runtime)
    assert seen == ["/one"] * 6
    assert Counter(r.status for r in store.history("b1", limit=10).rows) == {Status.DELIVERED: 6}


async def test_a_recipient_the_batch_reply_says_nothing_about_is_outcome_unknown(autojump_clock):
    seen: list[str] = []
    runtime, store = multi_runtime("offer", seen)
    await run(runtime)
    assert seen == ["/many", "/many"]
    rows = {r.contact_id: r for r in store.history("b1", limit=10).rows}
    unknown = sorted(c for c, r in rows.items() if r.status is Status.OUTCOME_UNKNOWN)
    assert unknown == ["c2", "c5"]
    assert {str(rows[c].error_reason) for c in unknown} == {"multi:batch:no_result_for_recipient"}
    assert Counter(r.status for r in rows.values())[Status.DELIVERED] == 4
