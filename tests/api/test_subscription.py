"""broadcastUpdates over graphql-transport-ws (gql's websockets transport) and over SSE,
with rows recorded by another process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from broadcaster.api.ws import PROTOCOL
from broadcaster.core.lifecycle import State

from .conftest import finish

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBE = """
subscription U($id: ID!) {
  broadcastUpdates(broadcastId: $id) {
    rows { contact { id } status }
    broadcast { state delivered }
  }
}"""


def sending(server, cids: list[str]) -> str:
    service = server.service()
    b = service.create(name="Live", flow_id="f1", contact_ids=cids)
    service.store.close()
    finish(server.db, b.id, {}, state=State.SENDING)
    return b.id


def recorder(server, bid: str, *batches: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.api.recorder", str(server.db), bid, *batches],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_websocket_subscriber_gets_rows_from_another_process_within_a_second(server):
    bid = sending(server, ["c1", "c2", "c3", "c4"])

    async def watch() -> tuple[list[tuple[float, dict]], list[str]]:
        url = server.url.replace("http://", "ws://")
        transport = WebsocketsTransport(
            url=url, init_payload={"Authorization": f"Bearer {server.tokens['read']}"}, subprotocols=[PROTOCOL]
        )
        got: list[tuple[float, dict]] = []
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            request = gql(SUBSCRIBE)
            request.variable_values = {"id": bid}
            process = None
            async for update in session.subscribe(request):
                got.append((time.time(), update["broadcastUpdates"]))
                if process is None:
                    process = recorder(server, bid, "c1,c2", "c3", "c4")
        out, _ = process.communicate(timeout=20)
        return got, out.splitlines()

    got, recorded = asyncio.run(watch())
    first, *updates = [u for _, u in got]
    assert first == {"rows": [], "broadcast": {"state": "SENDING", "delivered": 0}}
    rows = [r["contact"]["id"] for u in updates for r in u["rows"]]
    assert rows == ["c2", "c1", "c3", "c4"]  # each update's rows newest first
    assert updates[-1]["broadcast"] == {"state": "COMPLETED", "delivered": 4}
    # each batch reached the subscriber within 1 s of the other process committing it
    for line in recorded:
        at, batch = line.split()
        seen = next(t for t, u in got if {r["contact"]["id"] for r in u["rows"]} & set(batch.split(",")))
        assert seen - float(at) < 1.0


def test_sse_streams_the_same_updates(server):
    bid = sending(server, ["c5", "c6"])
    events = []
    headers = {"Authorization": f"Bearer {server.tokens['read']}", "Accept": "text/event-stream"}
    body = {"query": SUBSCRIBE, "variables": {"id": bid}}
    with httpx.stream("POST", server.url, json=body, headers=headers, timeout=20) as response:
        assert response.headers["content-type"] == "text/event-stream"
        process = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if process is None:
                    process = recorder(server, bid, "c5,c6")
    process.communicate(timeout=20)
    assert events[-1] == "complete"
    payloads = [e["data"]["broadcastUpdates"] for e in events if isinstance(e, dict)]
    assert [r["contact"]["id"] for p in payloads for r in p["rows"]] == ["c6", "c5"]
    assert payloads[-1]["broadcast"] == {"state": "COMPLETED", "delivered": 2}


def test_subscription_refusals(server):
    async def attempt(token: str | None, bid: str) -> str:
        url = server.url.replace("http://", "ws://")
        payload = {} if token is None else {"Authorization": f"Bearer {token}"}
        transport = WebsocketsTransport(url=url, init_payload=payload, subprotocols=[PROTOCOL])
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                request = gql(SUBSCRIBE)
                request.variable_values = {"id": bid}
                async for _ in session.subscribe(request):
                    return "got data"
        except Exception as exc:  # gql raises its transport errors
            return f"{type(exc).__name__}: {exc}"
        return "ended"

    assert asyncio.run(attempt(None, "x")).startswith("TransportConnectionFailed")
    unknown = asyncio.run(attempt(server.tokens["read"], "bnope"))
    assert unknown.startswith("TransportQueryError") and "no broadcast with id 'bnope'" in unknown


def test_the_protocol_close_codes(server):
    """What gql hides: the graphql-transport-ws close codes and their one-line reasons."""
    url = server.url.replace("http://", "ws://")

    async def closed_with(*messages: dict, subprotocols=(PROTOCOL,)) -> tuple[int, str]:
        async with connect(url, subprotocols=list(subprotocols)) as ws:
            for message in messages:
                await ws.send(json.dumps(message))
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError("not closed")

    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {server.tokens['read']}"}}
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"id": "x"}}}
    assert asyncio.run(closed_with({"type": "connection_init", "payload": {}})) == (
        4403,
        "this API needs a token: send 'Authorization: Bearer <token>'",
    )
    assert asyncio.run(closed_with({"type": "connection_init", "payload": {"token": "bct_x"}})) == (
        4403,
        "the token is not valid (unknown or revoked)",
    )
    assert asyncio.run(closed_with(subscribe)) == (4401, "unauthorized")
    assert asyncio.run(closed_with(init, init)) == (4429, "too many initialisation requests")
    assert asyncio.run(closed_with(init, {"type": "what"})) == (4400, "unknown message type 'what'")
