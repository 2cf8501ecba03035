"""'Add a fallback template and retry' works even when the stored data said the window was
open: the retry believes the provider's 131047 on the source (real WhatsApp plugin, the
simulator's fake WhatsApp, SQLite, the worker)."""

from __future__ import annotations

import random
from collections import Counter

import broadcaster_whatsapp
import trio
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.model import Latency, ProviderBehaviour
from broadcaster_simulator.specs import chat_id_for

from broadcaster.core.lifecycle import State
from broadcaster.core.models import (
    Audience,
    Broadcast,
    Chat,
    Contact,
    FallbackTemplate,
    Flow,
    Integration,
    Mode,
    TextCard,
)
from broadcaster.core.outcomes import Status
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.context import Runtime, WallClock
from broadcaster.runtime.http import HttpExecutor
from broadcaster.runtime.scheduler import fire_due
from broadcaster.runtime.worker import run_broadcast
from broadcaster.service import BroadcastService
from broadcaster.store.sqlite import open_store

EPOCH = 1_800_000_000.0


async def test_a_retry_sends_the_fallback_where_the_provider_said_the_window_was_closed(autojump_clock):
    # contact 2's window is really closed; our data says they wrote an hour ago (stale)
    behaviour = ProviderBehaviour("wa", "whatsapp", limit=100.0, burst=100, latency=Latency(0.05, 0.05))
    fake = FakeProvider(behaviour, window_closed=lambda index: index == 2, clock=trio.current_time)
    store = open_store(":memory:")
    store.put_integration(
        Integration(
            "wa", "whatsapp", {"token": "wa-token", "phone_number_id": "1055", "base_url": "https://graph.test"}
        )
    )
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Sale today")))
    store.upsert_contacts(
        [
            Contact(f"c{i}", chats=(Chat("wa", chat_id_for("whatsapp", i), last_inbound_at=EPOCH - 3600),))
            for i in range(4)
        ]
    )
    store.create_broadcast(
        Broadcast(
            id="b1",
            mode=Mode.FLOW,
            flow_id="f1",
            audience=Audience(filter=""),
            fallbacks=(FallbackTemplate("wa", "reopen", "en"),),
            state=State.SCHEDULED,
            run_at=EPOCH,
        )
    )
    runtime = Runtime(
        store=store,
        registry=ProviderRegistry.from_plugin_manager(
            make_plugin_manager(autoload=False, plugins=[broadcaster_whatsapp])
        ),
        executor=HttpExecutor(transport=fake.transport(wait=True)),
        clock=WallClock(epoch=EPOCH),
        rng=random.Random(1),
    )
    service = BroadcastService(store=store, clock=runtime.clock.now)

    async def fire_and_run() -> Broadcast:
        (fired,) = fire_due(runtime)
        with trio.fail_after(600):
            return await run_broadcast(runtime, fired.id)

    await fire_and_run()
    first = {r.contact_id: r for r in store.history("b1", limit=10).rows}
    assert (first["c2"].status, str(first["c2"].error_reason), first["c2"].used_fallback) == (
        Status.PROVIDER_ERROR,
        "whatsapp:131047:re_engagement_message_required",
        False,
    )
    retry = service.retry("b1", run_at=runtime.clock.now())
    done = await fire_and_run()
    assert done.id == retry.id and done.counters.delivered == 1 and done.counters.failed == 0
    (row,) = store.history(retry.id, limit=10).rows
    assert (row.contact_id, row.status, row.used_fallback) == ("c2", Status.ACCEPTED, True)
    assert Counter(m.content for m in fake.accepted) == {"Sale today": 3, "template:reopen": 1}
