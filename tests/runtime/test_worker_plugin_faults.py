"""A plugin that raises (a bug in it) fails its contacts visibly; the run goes on."""

from __future__ import annotations

import logging
import random
from collections import Counter

import httpx
import trio

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.http import HttpCall
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
from broadcaster.core.outcomes import ErrorKind, Status
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
SECRET = "s3cr3t-token-value"


class _Buggy(Provider):
    """Raises in build_call for chat "2", in interpret_reply for chat "3", and answers
    interpret_reply with a wrong type for chat "4"; batches (chats "b...") fail to be read."""

    def __init__(self, max_batch: int) -> None:
        self.spec = ChannelSpec("buggy", rate_per_second=1000.0, burst=1000, max_batch=max_batch)

    def build_call(self, integration, chat_id, message):
        if chat_id == "2":
            raise KeyError("chat_id")
        return HttpCall("POST", "https://buggy.test/send", json={"to": chat_id}, secrets=[SECRET])

    def interpret_reply(self, integration, call, reply):
        if call.json["to"] == "3":
            raise ValueError("cannot parse")
        if call.json["to"] == "4":
            return "delivered"  # not a SendResult
        return Delivered("m", confirmed=True)

    def build_batch_call(self, integration, recipients, message):
        return HttpCall(
            "POST",
            "https://buggy.test/many",
            json={"to": [c for _, c in recipients]},
            recipients=[r for r, _ in recipients],
        )

    def interpret_batch_reply(self, integration, call, reply):
        if "bad-type" in call.json["to"]:
            return dict.fromkeys(call.recipients, "ok")  # values that are not SendResults
        raise RuntimeError("batch reader bug")


class _Unreadable(_Buggy):
    """Cannot read any reply (the same bug for every contact)."""

    def interpret_reply(self, integration, call, reply):
        return 1 / 0


def run_with(plugin: _Buggy, chats: list[str]):
    store = open_store(":memory:")
    store.put_integration(Integration("bg", "buggy", {"token": SECRET}))
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
    store.upsert_contacts([Contact(f"c{i}", chats=(Chat("bg", chat),)) for i, chat in enumerate(chats)])
    store.create_broadcast(
        Broadcast(
            id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH
        )
    )
    runtime = Runtime(
        store=store,
        registry=ProviderRegistry.from_plugin_manager(make_plugin_manager(autoload=False, plugins=[plugin])),
        executor=HttpExecutor(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={}))),
        clock=WallClock(epoch=EPOCH),
        rng=random.Random(1),
        pacing=PacingPlan(page_size=10, batch_size=10, concurrent_batches=1, in_flight_per_batch=1),
    )
    return runtime, store


async def test_a_plugin_raising_fails_its_contacts_and_the_run_completes(autojump_clock, caplog):
    runtime, store = run_with(_Buggy(max_batch=1), ["1", "2", "3", "4", "5"])
    with caplog.at_level(logging.ERROR, logger="broadcaster.runtime.worker"), trio.fail_after(60):
        (fired,) = fire_due(runtime)
        done = await run_broadcast(runtime, fired.id)
    assert done.state is State.COMPLETED
    rows = {r.contact_id: r for r in store.history("b1", limit=10).rows}
    assert {c: r.status for c, r in rows.items()} == {
        "c0": Status.DELIVERED,
        "c1": Status.PROVIDER_ERROR,
        "c2": Status.OUTCOME_UNKNOWN,
        "c3": Status.OUTCOME_UNKNOWN,
        "c4": Status.DELIVERED,
    }
    assert (str(rows["c1"].error_reason), rows["c1"].error_kind) == (
        "buggy:plugin:build_call_failed",
        ErrorKind.INTEGRATION,
    )
    assert {str(rows[c].error_reason) for c in ("c2", "c3")} == {"buggy:plugin:interpret_reply_failed"}
    faults = [r for r in caplog.records if r.exc_info is not None]
    # the first fault of each hook is logged with its traceback; the second is counted
    assert Counter(r.getMessage().split(" raised in ")[1].split(" ")[0] for r in faults) == {
        "build_call": 1,
        "interpret_reply": 1,
    }
    summaries = [r.getMessage() for r in caplog.records if r.exc_info is None and "raised in" in r.getMessage()]
    assert summaries == [
        "plugin for provider 'buggy' raised in interpret_reply 2 times in broadcast b1"
        " (the first traceback is logged above)"
    ]
    assert SECRET not in caplog.text


async def test_a_hook_raising_for_every_contact_logs_one_traceback_and_a_count(autojump_clock, caplog):
    runtime, store = run_with(_Unreadable(max_batch=1), [f"r{i}" for i in range(60)])
    with caplog.at_level(logging.ERROR, logger="broadcaster.runtime.worker"), trio.fail_after(60):
        (fired,) = fire_due(runtime)
        done = await run_broadcast(runtime, fired.id)
    assert done.state is State.COMPLETED
    errors = [r for r in caplog.records if r.name == "broadcaster.runtime.worker"]
    assert len([r for r in errors if r.exc_info is not None]) == 1
    assert [r.getMessage() for r in errors if r.exc_info is None] == [
        "plugin for provider 'buggy' raised in interpret_reply 60 times in broadcast b1"
        " (the first traceback is logged above)"
    ]
    assert caplog.text.count("Traceback") <= 1 and caplog.text.count("ZeroDivisionError") == 1


async def test_a_batch_reader_raising_leaves_its_recipients_outcome_unknown(autojump_clock):
    runtime, store = run_with(_Buggy(max_batch=10), ["b1", "b2", "b3"])
    with trio.fail_after(60):
        (fired,) = fire_due(runtime)
        done = await run_broadcast(runtime, fired.id)
    assert done.state is State.COMPLETED
    rows = store.history("b1", limit=10).rows
    assert Counter((r.status, str(r.error_reason)) for r in rows) == {
        (Status.OUTCOME_UNKNOWN, "buggy:plugin:interpret_batch_reply_failed"): 3
    }


async def test_a_batch_reader_answering_wrong_values_counts_as_raising(autojump_clock):
    runtime, store = run_with(_Buggy(max_batch=10), ["bad-type", "b2"])
    with trio.fail_after(60):
        (fired,) = fire_due(runtime)
        done = await run_broadcast(runtime, fired.id)
    assert done.state is State.COMPLETED
    assert {str(r.error_reason) for r in store.history("b1", limit=10).rows} == {
        "buggy:plugin:interpret_batch_reply_failed"
    }
