"""The lean HTTP/1.1 server the rate-limited fake runs on (``broadcaster_simulator.wire_server``)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from broadcaster_simulator import limited, wire_server

from broadcaster.fake import WireReply


@pytest.fixture
def served():
    """A server answering each request with its path, after the delay its query asks for
    (``?delay=S``); ``/none`` has the fake provider's no answer (a bare 503 closing the
    connection). Yields (url, the requests it was given)."""
    seen: list[tuple[str, str, dict[str, str], dict[str, str], bytes]] = []

    def handle(method, path, query, headers, body):
        seen.append((method, path, query, headers, body))
        if path == "/none":
            return 0.0, WireReply(503, {"connection": "close", "content-type": "text/plain"}, b"")
        return float(query.get("delay", 0)), WireReply(
            201, {"content-type": "text/plain", "x-path": path}, path.encode()
        )

    listener = limited.loopback_listener()
    host, port = listener.getsockname()
    threading.Thread(target=wire_server.serve, args=(handle, listener), daemon=True).start()
    yield f"http://{host}:{port}", seen


def test_a_request_is_handed_over_whole_and_answered_as_the_handler_says(served):
    url, seen = served
    with httpx.Client(timeout=5) as client:
        reply = client.post(f"{url}/bot1:T/sendMessage?a=1&b=two", json={"chat_id": 7}, headers={"X-Trace": "t1"})
        again = client.get(f"{url}/second")  # the same connection, kept alive
    assert (reply.status_code, reply.text, reply.headers["x-path"]) == (
        201,
        "/bot1:T/sendMessage",
        "/bot1:T/sendMessage",
    )
    assert reply.headers["connection"] == "keep-alive" and reply.headers["content-length"] == "19"
    method, path, query, headers, body = seen[0]
    assert (method, path, query, body) == ("POST", "/bot1:T/sendMessage", {"a": "1", "b": "two"}, b'{"chat_id":7}')
    assert headers["x-trace"] == "t1" and headers["content-type"] == "application/json"
    assert again.text == "/second" and seen[1][:3] == ("GET", "/second", {})


def test_no_answer_is_a_bare_503_that_closes_the_connection(served):
    url, _ = served
    with httpx.Client(timeout=5) as client:
        reply = client.get(f"{url}/none")
    assert (reply.status_code, reply.content, reply.headers["connection"]) == (503, b"", "close")


def _raw(url: str, data: bytes, *, expect: int) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        got = b""
        deadline = time.monotonic() + 5
        while got.count(b"HTTP/1.1") < expect and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_pipelined_requests_are_answered_in_their_order_whatever_their_delays(served):
    url, _ = served
    got = _raw(
        url,
        b"GET /slow?delay=0.2 HTTP/1.1\r\nhost: x\r\n\r\nGET /fast HTTP/1.1\r\nhost: x\r\n\r\n",
        expect=2,
    )
    first, second = got.index(b"/slow"), got.index(b"/fast", got.index(b"/slow") + 5)
    assert got.startswith(b"HTTP/1.1 201 Created\r\n") and first < second


def test_a_request_the_parser_refuses_gets_a_400_and_the_connection_closes(served):
    url, seen = served
    got = _raw(url, b"NOT HTTP AT ALL\r\n\r\n", expect=1)
    assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close" in got
    assert seen == []
