"""Lifecycle events: plugin hook, signed webhooks, retries with backoff, delivery log, never blocking."""

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
from broadcaster.runtime.webhooks import (
    DeliveryRecord,
    JsonLinesDeliveryLog,
    MemoryDeliveryLog,
    WebhookEndpoint,
    WebhookPublisher,
    WebhookSettings,
    encode_payload,
    sign,
    verify_signature,
)

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


def ids() -> Any:
    counter = iter(range(1, 10_000))
    return lambda: f"d{next(counter)}"


def publisher(handler: Any, *, endpoints: list[WebhookEndpoint] | None = None, **kwargs: Any) -> WebhookPublisher:
    return WebhookPublisher(
        endpoints=endpoints or [WebhookEndpoint(url="https://hooks.example/in", secret=SECRET, name="ops")],
        transport=httpx.MockTransport(handler),
        clock=trio.current_time,
        new_id=ids(),
        **kwargs,
    )


async def run_until_drained(pub: WebhookPublisher, *events: LifecycleEvent, limit: float = 600) -> None:
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            await nursery.start(pub.run)
            for event in events:
                pub.publish(event)
            pub.close()


def outcomes(log: MemoryDeliveryLog) -> list[tuple[str, str, int, int | None, str | None, float]]:
    return [(e.delivery_id, e.outcome, e.attempt, e.status_code, e.error, e.at) for e in log.entries]


async def test_payload_headers_and_signature(autojump_clock: trio.abc.Clock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    pub = publisher(handler)
    await run_until_drained(pub, FINISHED)

    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "https://hooks.example/in")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-broadcaster-event"] == "finished"
    assert request.headers["x-broadcaster-delivery"] == "d1"
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
    assert outcomes(pub.delivery_log) == [("d1", "delivered", 1, 204, None, 0.0)]  # type: ignore[arg-type]


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

    pub = publisher(handler)
    await run_until_drained(pub, FINISHED)
    # 1, 2, 4 s between attempts; the delivery id is the same on every retry
    assert attempts == [(0.0, "d1"), (1.0, "d1"), (3.0, "d1"), (7.0, "d1")]
    assert outcomes(pub.delivery_log) == [  # type: ignore[arg-type]
        ("d1", "retrying", 1, None, "ConnectError", 0.0),
        ("d1", "retrying", 2, 500, "HTTP 500", 1.0),
        ("d1", "retrying", 3, 500, "HTTP 500", 3.0),
        ("d1", "delivered", 4, 200, None, 7.0),
    ]


async def test_gives_up_after_the_last_attempt_and_logs_it(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(trio.current_time())
        return httpx.Response(503)

    pub = publisher(handler, settings=WebhookSettings(attempts=5))
    await run_until_drained(pub, FINISHED)
    assert times == [0.0, 1.0, 3.0, 7.0, 15.0]
    log = pub.delivery_log
    assert [e.outcome for e in log.entries] == ["retrying"] * 4 + ["gave_up"]  # type: ignore[attr-defined]
    assert log.entries[-1] == DeliveryRecord(  # type: ignore[attr-defined]
        delivery_id="d1",
        endpoint="ops",
        event="finished",
        broadcast_id="b-42",
        outcome="gave_up",
        attempt=5,
        status_code=503,
        error="HTTP 503",
        at=15.0,
    )
    assert "webhook ops: gave up on finished of broadcast b-42 after 5 attempts (HTTP 503)" in caplog.text


async def test_a_hanging_webhook_never_blocks_publish_or_other_endpoints(autojump_clock: trio.abc.Clock) -> None:
    healthy: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "hangs.example":
            await trio.sleep_forever()
        healthy.append(request.headers["x-broadcaster-delivery"])
        return httpx.Response(200)

    endpoints = [
        WebhookEndpoint(url="https://hangs.example/in", secret=SECRET, name="hangs"),
        WebhookEndpoint(url="https://fine.example/in", secret=SECRET, name="fine"),
    ]
    pub = publisher(handler, endpoints=endpoints, settings=WebhookSettings(attempts=2, timeout=10, capacity=3))
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(pub.run)
            start = trio.current_time()
            for _ in range(20):
                pub.publish(STARTED)  # synchronous: cannot wait, even with both queues full
            assert trio.current_time() == start
            await trio.sleep(1)
            pub.close()

    entries = list(pub.delivery_log.entries)  # type: ignore[attr-defined]
    hanging = [(e.outcome, e.error) for e in entries if e.endpoint == "hangs"]
    # The sender may or may not have taken the first event before the other 19 arrived
    # (scheduling order): either way the queue kept its capacity of 3 and dropped the rest.
    dropped = hanging.count(("dropped", "queue full"))
    assert dropped in (16, 17)
    assert hanging.count(("gave_up", "no answer within 10 s")) == 20 - dropped
    # the healthy endpoint got every event its queue could hold, within the first second
    fine_dropped = [e for e in entries if e.endpoint == "fine" and e.outcome == "dropped"]
    assert len(healthy) + len(fine_dropped) == 20
    assert all(e.at < 1 for e in entries if e.endpoint == "fine")


async def test_endpoint_event_filter(autojump_clock: trio.abc.Clock) -> None:
    events: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        events.append(request.headers["x-broadcaster-event"])
        return httpx.Response(200)

    endpoint = WebhookEndpoint(url="https://h.example/", secret=SECRET, events=["finished"])
    await run_until_drained(publisher(handler, endpoints=[endpoint]), STARTED, FINISHED)
    assert events == ["finished"]
    assert endpoint.label == "h.example"


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


async def test_plugin_hooks_get_every_event_and_a_raising_one_stops_nothing(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    pm = make_plugin_manager(autoload=False, plugins=[Exploder(), recorder])
    delivered: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        delivered.append(request.headers["x-broadcaster-event"])
        return httpx.Response(200)

    await run_until_drained(publisher(handler, plugin_manager=pm), STARTED, FINISHED)
    assert recorder.events == [("started", "b-43"), ("finished", "b-42")]
    assert delivered == ["started", "finished"]
    assert caplog.text.count("failed in on_lifecycle_event") == 2
    assert "RuntimeError: plugin bug" in caplog.text


async def test_publish_after_close_is_dropped_and_logged(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    pub = publisher(lambda r: httpx.Response(200))
    pub.close()
    pub.publish(FINISHED)
    assert "dropped: the publisher is closed" in caplog.text


async def test_json_lines_log(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    path = tmp_path / "webhooks.jsonl"
    sink = JsonLinesDeliveryLog(path)
    pub = publisher(lambda r: httpx.Response(500), delivery_log=sink, settings=WebhookSettings(attempts=2))
    await run_until_drained(pub, FINISHED)
    sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [
        {
            "at": 0.0,
            "attempt": 1,
            "broadcast_id": "b-42",
            "delivery_id": "d1",
            "endpoint": "ops",
            "error": "HTTP 500",
            "event": "finished",
            "outcome": "retrying",
            "status_code": 500,
        },
        {
            "at": 1.0,
            "attempt": 2,
            "broadcast_id": "b-42",
            "delivery_id": "d1",
            "endpoint": "ops",
            "error": "HTTP 500",
            "event": "finished",
            "outcome": "gave_up",
            "status_code": 500,
        },
    ]


def test_an_endpoint_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a secret"):
        WebhookEndpoint(url="https://h.example/", secret="")
