"""A lean HTTP/1.1 server for a fake provider in a process of its own.

The rate-limited fake (:mod:`.limited`) runs beside the workers it paces, on the same
machine: every millisecond of CPU it spends on a request is a millisecond those workers
lack (at 1 000 requests/s on a 2-core machine, uvicorn's ASGI stack took half a core).
So it is served here, straight from ``httptools``' parser on an asyncio protocol: no ASGI
scope, no per-request task, the reply written by a timer after the fake's latency.

A handler takes ``(method, path, query, headers, body)`` (``headers`` lower-cased, the
body undecoded) and returns ``(delay, reply)``: the reply, a
:class:`~broadcaster.fake.WireReply`, is written ``delay`` seconds later (one that says
``connection: close`` closes the connection after it; :meth:`.FakeProvider.answer` is such
a handler). Replies on one connection leave in the order their requests came (a client
that pipelines gets them in order), each when its delay is up.
A request the parser refuses gets a 400 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from http import HTTPStatus
from typing import Callable
from urllib.parse import parse_qsl

import httptools

from broadcaster.fake import WireReply

__all__ = ["Handler", "serve"]

Handler = Callable[[str, str, dict[str, str], dict[str, str], bytes], tuple[float, WireReply]]

_BAD_REQUEST = WireReply(400, {"connection": "close", "content-type": "text/plain"}, b"bad request\n")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _encode(reply: WireReply, keep_alive: bool) -> bytes:
    close = not keep_alive or reply.headers.get("connection") == "close"
    lines = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}"]
    lines += [f"{name}: {value}" for name, value in reply.headers.items() if name != "connection"]
    lines.append(f"content-length: {len(reply.body)}")
    lines.append("connection: close" if close else "connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


class _Connection(asyncio.Protocol):
    """One client connection: parse requests as they arrive, answer each after its delay."""

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop) -> None:
        self._handler = handler
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        #: replies in request order: [bytes or None while its delay runs, close after it]
        self._queue: deque[list[object]] = deque()
        self._closing = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is its own class)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._closing = True
            self._queue.append([_encode(_BAD_REQUEST, False), True])
            self._flush()

    # -- httptools' callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body = b"", {}, []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        url = httptools.parse_url(self._url)
        path = url.path.decode("latin-1") if url.path else "/"
        query = dict(parse_qsl(url.query.decode("latin-1"))) if url.query else {}
        method = parser.get_method().decode("latin-1")
        delay, reply = self._handler(method, path, query, self._headers, b"".join(self._body))
        slot: list[object] = [None, not keep_alive or reply.headers.get("connection") == "close"]
        self._queue.append(slot)
        encoded = _encode(reply, keep_alive)
        if delay > 0:
            self._loop.call_later(delay, self._ready, slot, encoded)
        else:
            self._ready(slot, encoded)

    # -- replies -------------------------------------------------------------------------------

    def _ready(self, slot: list[object], encoded: bytes) -> None:
        slot[0] = encoded
        self._flush()

    def _flush(self) -> None:
        queue = self._queue
        while queue and queue[0][0] is not None:
            encoded, close = queue.popleft()
            transport = self._transport
            if transport is None:
                queue.clear()
                return
            assert isinstance(encoded, bytes)
            transport.write(encoded)
            if close:
                self._closing = True
                queue.clear()
                transport.close()
                return


def serve(handler: Handler, listener: socket.socket) -> None:
    """Answer requests on ``listener`` (already listening) with ``handler`` until killed."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(handler, loop), sock=listener)
        async with server:
            await server.serve_forever()

    import uvloop

    uvloop.run(main())
