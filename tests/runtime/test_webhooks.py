"""Lifecycle events from the store's outbox: plugin hook, signed webhooks, retries with backoff
in the store, delivery log, a hanging endpoint blocking nothing else, delivery after a crash."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from broadcaster import hookimpl
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Broadcast, Counters, LifecycleEvent
from broadcaster.plugins import make_plugin_manager
from broadcaster.runtime.outbox_delivery import OutboxDelivery
from broadcaster.runtime.webhooks import (
    DeliveryRecord,
    JsonLinesDeliveryLog,
    MemoryDeliveryLog,
    WebhookEndpoint,
    WebhookSettings,
    delivery_id,
    encode_payload,
    sign,
    verify_signature,
)
from broadcaster.store import SQLStore, open_store

SECRET = "whsec-test"
AT = 1_800_000_000.25  # 2027-01-15T08:00:00.250Z
FINISHED = LifecycleEvent(
    kind=LifecycleEventKind.FINISHED,
    broadcast=Broadcast(
        id="b-42",
        name="Spring sale",
        state=State.COMPLETED,
        retry_of="b-41",
        counters=Counters(
            audience_size_estimate=10,
            audience_size_actual=8,
            delivered=6,
            failed=1,
            skipped=1,
            started_at=AT - 60,
            finished_at=AT,
        ),
    ),
    at=AT,
)
STARTED = LifecycleEvent(kind=LifecycleEventKind.STARTED, broadcast=Broadcast(id="b-43", state=State.SENDING), at=AT)
OPS = WebhookEndpoint(url="https://hooks.example/in", secret=SECRET, name="ops")


def clock() -> float:
    """POSIX time on trio's (autojump) clock: AT when the test starts."""
    return AT + trio.current_time()


def stored(*events: LifecycleEvent, store: SQLStore | None = None) -> SQLStore:
    """A store whose outbox holds ``events`` (each broadcast stored with its event)."""
    store = store or open_store(":memory:")
    for event in events:
        store.create_broadcast(event.broadcast, event=event.kind, event_at=event.at)
    return store


def delivery(
    store: SQLStore, handler: Any, *, endpoints: list[WebhookEndpoint] | None = None, **kw: Any
) -> OutboxDelivery:
    return OutboxDelivery(
        store, endpoints=[OPS] if endpoints is None else endpoints, transport=httpx.MockTransport(handler),
        clock=clock, **kw,
    )  # fmt: skip


async def drain(outbox: OutboxDelivery, limit: float = 600) -> None:
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            await nursery.start(outbox.run)
            outbox.close(drain=True)


def outcomes(log: Any) -> list[tuple[str, int, int | None, str | None, float]]:
    return [(e.outcome, e.attempt, e.status_code, e.error, e.at - AT) for e in log.entries]


async def test_payload_headers_and_signature(autojump_clock: trio.abc.Clock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    store = stored(FINISHED)
    outbox = delivery(store, handler)
    await drain(outbox)

    (request,) = seen
    (item,) = store.events()
    assert (request.method, str(request.url)) == ("POST", "https://hooks.example/in")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-broadcaster-event"] == "finished"
    assert request.headers["x-broadcaster-delivery"] == delivery_id(item.event_id, OPS)
    expected_signature = "sha256=" + hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-broadcaster-signature"] == expected_signature
    assert verify_signature(SECRET, request.content, request.headers["x-broadcaster-signature"])
    assert request.content == encode_payload(FINISHED)
    assert json.loads(request.content) == {
        "schema": 1,
        "event": "finished",
        "at": "2027-01-15T08:00:00.250Z",
        "broadcast_id": "b-42",
        "broadcast_name": "Spring sale",
        "state": "COMPLETED",
        "retry_of": "b-41",
        "counters": {
            "audience_size_estimate": 10,
            "audience_size_actual": 8,
            "delivered": 6,
            "failed": 1,
            "skipped": 1,
        },
        "delivery_rate": 0.75,
        "drop_rate": 0.25,
        "started_at": "2027-01-15T07:59:00.250Z",
        "finished_at": "2027-01-15T08:00:00.250Z",
    }
    assert outcomes(outbox.delivery_log) == [("delivered", 1, 204, None, 0.0)]
    assert (item.done_at, item.sent_to, item.attempts) == (AT, ("ops",), 1)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=" + "0" * 64, sign("other-secret", b"{}"), sign(SECRET, b"{} "), "sha256=é"],
)
def test_verify_signature_rejects(header: str | None) -> None:
    assert not verify_signature(SECRET, b"{}", header)
    assert verify_signature(SECRET, b"{}", sign(SECRET, b"{}"))
    assert not verify_signature("", b"{}", sign("", b"{}"))


async def test_retries_with_exponential_backoff_then_delivers(autojump_clock: trio.abc.Clock) -> None:
    attempts: list[tuple[float, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append((trio.current_time(), request.headers["x-broadcaster-delivery"]))
        if len(attempts) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(500 if len(attempts) < 4 else 200)

    store = stored(FINISHED)
    outbox = delivery(store, handler)
    await drain(outbox)
    # 1, 2, 4 s between attempts (the schedule is in the store); one delivery id throughout
    (item,) = store.events()
    did = delivery_id(item.event_id, OPS)
    assert attempts == [(0.0, did), (1.0, did), (3.0, did), (7.0, did)]
    assert outcomes(outbox.delivery_log) == [
        ("retrying", 1, None, "ConnectError", 0.0),
        ("retrying", 2, 500, "HTTP 500", 1.0),
        ("retrying", 3, 500, "HTTP 500", 3.0),
        ("delivered", 4, 200, None, 7.0),
    ]


async def test_gives_up_after_the_last_attempt_and_logs_it(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        return httpx.Response(503)

    store = stored(FINISHED)
    outbox = delivery(store, handler, settings=WebhookSettings(attempts=5))
    await drain(outbox)
    assert times == [0.0, 1.0, 3.0, 7.0, 15.0]
    entries = list(outbox.delivery_log.entries)  # type: ignore[attr-defined]
    assert [e.outcome for e in entries] == ["retrying"] * 4 + ["gave_up"]
    (item,) = store.events()
    assert entries[-1] == DeliveryRecord(
        delivery_id=delivery_id(item.event_id, OPS),
        endpoint="ops",
        event="finished",
        broadcast_id="b-42",
        outcome="gave_up",
        attempt=5,
        status_code=503,
        error="HTTP 503",
        at=AT + 15.0,
    )
    assert (item.done_at, item.sent_to, item.attempts) == (AT + 15.0, (), 5)
    assert "webhook ops: gave up on finished of broadcast b-42 after 5 attempts (HTTP 503)" in caplog.text


async def test_a_hanging_webhook_blocks_neither_other_endpoints_nor_other_events(
    autojump_clock: trio.abc.Clock,
) -> None:
    fine: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "hangs.example":
            await trio.sleep_forever()
        fine.append(trio.current_time())
        return httpx.Response(200)

    endpoints = [
        WebhookEndpoint(url="https://hangs.example/in", secret=SECRET, name="hangs"),
        WebhookEndpoint(url="https://fine.example/in", secret=SECRET, name="fine"),
    ]
    events = [LifecycleEvent(STARTED.kind, Broadcast(id=f"b{n}", state=State.SENDING), AT) for n in range(20)]
    store = stored(*events)
    outbox = delivery(store, handler, endpoints=endpoints, settings=WebhookSettings(attempts=2, timeout=10))
    await drain(outbox)
    # every event reached the healthy endpoint at once, however long the other one hung
    assert fine == [0.0] * 20
    entries = list(outbox.delivery_log.entries)  # type: ignore[attr-defined]
    hanging = sorted((e.outcome, e.error, e.at - AT) for e in entries if e.endpoint == "hangs")
    assert (
        hanging
        == [("gave_up", "no answer within 10 s", 21.0)] * 20 + [("retrying", "no answer within 10 s", 10.0)] * 20
    )
    assert {item.sent_to for item in store.events()} == {("fine",)}


async def test_endpoint_event_filter(autojump_clock: trio.abc.Clock) -> None:
    events: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        events.append(request.headers["x-broadcaster-event"])
        return httpx.Response(200)

    endpoint = WebhookEndpoint(url="https://h.example/", secret=SECRET, events=["finished"])
    store = stored(STARTED, FINISHED)
    await drain(delivery(store, handler, endpoints=[endpoint]))
    assert events == ["finished"]
    assert endpoint.label == "h.example"
    assert all(item.done_at is not None for item in store.events())  # nothing owed for the other one


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    @hookimpl
    def on_lifecycle_event(self, event: LifecycleEvent) -> None:
        self.events.append((event.kind.value, event.broadcast.id))


class Exploder:
    @hookimpl(tryfirst=True)
    def on_lifecycle_event(self, event: LifecycleEvent) -> None:
        raise RuntimeError("plugin bug")


async def test_plugin_hooks_get_every_event_once_and_a_raising_one_stops_nothing(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    pm = make_plugin_manager(autoload=False, plugins=[Exploder(), recorder])
    delivered: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        delivered.append(request.headers["x-broadcaster-event"])
        return httpx.Response(500 if delivered.count("started") == 1 and delivered[-1] == "started" else 200)

    store = stored(STARTED, FINISHED)
    await drain(delivery(store, handler, plugin_manager=pm))
    # the first POST of `started` failed and was retried: the hook still saw it once
    assert recorder.events == [("started", "b-43"), ("finished", "b-42")]
    assert sorted(delivered) == ["finished", "started", "started"]
    assert caplog.text.count("failed in on_lifecycle_event") == 2
    assert "RuntimeError: plugin bug" in caplog.text


async def test_an_event_left_by_a_crashed_worker_is_delivered_after_restart(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = tmp_path / "crash.db"
    first = stored(STARTED, FINISHED, store=open_store(db, worker_id="killed"))
    first.start_worker(AT, lease=30)
    started, _ = first.claim_events(AT, lease=60, limit=5)  # both claimed; then the process dies:
    first.mark_hooked(started.seq, AT)  # the hook saw `started`, no webhook went out
    first.engine.close()  # (no settle, no retire)

    recorder = Recorder()
    delivered: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        delivered.append(request.headers["x-broadcaster-event"])
        return httpx.Response(200)

    restarted = open_store(db, worker_id="restarted")
    restarted.start_worker(clock(), lease=30)  # the one SQLite worker: the killed one is gone, its claims freed
    pm = make_plugin_manager(autoload=False, plugins=[recorder])
    await drain(delivery(restarted, handler, plugin_manager=pm))
    assert trio.current_time() < 1  # at once, not after the killed worker's lease
    assert sorted(delivered) == ["finished", "started"]
    assert recorder.events == [("finished", "b-42")]  # `started` had been hooked before the crash
    restarted.close()


async def test_json_lines_log(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    path = tmp_path / "webhooks.jsonl"
    sink = JsonLinesDeliveryLog(path)
    store = stored(FINISHED)
    await drain(delivery(store, lambda r: httpx.Response(500), delivery_log=sink, settings=WebhookSettings(attempts=2)))
    sink.close()
    did = delivery_id(store.events()[0].event_id, OPS)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    common = {"broadcast_id": "b-42", "delivery_id": did, "endpoint": "ops", "error": "HTTP 500", "event": "finished"}
    assert lines == [
        {**common, "at": AT, "attempt": 1, "outcome": "retrying", "status_code": 500},
        {**common, "at": AT + 1.0, "attempt": 2, "outcome": "gave_up", "status_code": 500},
    ]


def test_an_endpoint_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a secret"):
        WebhookEndpoint(url="https://h.example/", secret="")


def test_memory_log_keeps_the_last_records() -> None:
    log = MemoryDeliveryLog(maxlen=2)
    for n in range(3):
        log.record(
            DeliveryRecord(delivery_id=str(n), endpoint="e", event="started", broadcast_id="b", outcome="delivered")
        )
    assert [e.delivery_id for e in log.entries] == ["1", "2"]
