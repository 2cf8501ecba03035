"""HttpExecutor's thin path (runtime/h11pool.py) against real loopback servers on trio.

Each server is scripted per connection, so a test says exactly what the provider did
(answered, closed while idle, died mid-reply, stalled) and asserts both the value the
executor returned and what the server saw (how many connections, how many requests) —
the resend rules are about the second as much as the first.

Real sockets: no autojump_clock here, it would jump the clock while the kernel works.
"""

from __future__ import annotations

import functools
import gzip
import json
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trustme

from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import NotSent, OutcomeUnknown
from broadcaster.runtime.http import HttpExecutor, HttpSettings

TOKEN = "123:SECRET"


@attrs.define
class Request:
    line: bytes
    headers: dict[str, str]
    body: bytes


class Peer:
    """The server's side of one connection."""

    def __init__(self, stream: trio.abc.Stream, seen: list[Request]) -> None:
        self.stream = stream
        self.buffer = b""
        self.seen = seen

    async def request(self) -> Request | None:
        """The next whole request, or None when the client closed."""
        while b"\r\n\r\n" not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        line, *fields = head.split(b"\r\n")
        headers = {}
        for field in fields:
            name, value = field.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self.buffer += await self.stream.receive_some(65536)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        request = Request(line, headers, body)
        self.seen.append(request)
        return request

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)


def response(body: bytes = b'{"ok":true}', *, headers: str = "") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), headers.encode(), body)


async def answer_all(peer: Peer, index: int = 0) -> None:
    while await peer.request() is not None:
        await peer.send(response())


@attrs.define
class Server:
    port: int
    seen: list[Request]
    connections: list[int]  # one entry per accepted connection
    scheme: str = "http"

    def call(self, path: str = "/send", json_body: object = None) -> HttpCall:
        body = {"chat_id": "1", "text": "hi"} if json_body is None else json_body
        return HttpCall(
            method="POST", url=f"{self.scheme}://localhost:{self.port}/bot{TOKEN}{path}", json=body, secrets=(TOKEN,)
        )


Script = Callable[[Peer, int], Awaitable[None]]


@asynccontextmanager
async def serving(script: Script, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A loopback server running ``script(peer, connection_index)`` per connection."""
    seen: list[Request] = []
    connections: list[int] = []

    async def handle(stream: trio.SocketStream) -> None:
        index = len(connections)
        connections.append(index)
        wrapped: trio.abc.Stream = stream
        if tls is not None:
            wrapped = trio.SSLStream(stream, tls, server_side=True, https_compatible=True)
        try:
            await script(Peer(wrapped, seen), index)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(wrapped)

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        yield Server(listener.socket.getsockname()[1], seen, connections, "https" if tls else "http")
        nursery.cancel_scope.cancel()


async def perform(executor: HttpExecutor, call: HttpCall) -> HttpReply | NotSent | OutcomeUnknown:
    with trio.fail_after(10):
        return await executor.perform("tg", call, provider="telegram")


LOST = OutcomeUnknown(ErrorReason("telegram", "conn", "connection_lost_outcome_unknown"))


async def test_sends_the_json_body_and_reuses_one_keep_alive_connection() -> None:
    async with serving(answer_all) as server, HttpExecutor() as executor:
        replies = [await perform(executor, server.call(json_body={"chat_id": str(i), "text": "é"})) for i in range(3)]
    assert replies == [HttpReply(200, (("content-length", "11"),), b'{"ok":true}')] * 3
    assert server.connections == [0]
    assert [r.body for r in server.seen] == [b'{"chat_id":"%d","text":"\xc3\xa9"}' % i for i in range(3)]
    first = server.seen[0]
    assert first.line == f"POST /bot{TOKEN}/send HTTP/1.1".encode()
    assert first.headers["host"] == f"localhost:{server.port}"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["accept-encoding"] == "gzip, deflate"


async def test_an_idle_connection_the_server_closed_is_replaced_before_anything_is_sent() -> None:
    closed = trio.Event()

    async def once_then_close(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(response())  # keep-alive, then the server drops it anyway
        if index == 0:
            await peer.stream.aclose()
            closed.set()
        else:
            await answer_all(peer)

    async with serving(once_then_close) as server, HttpExecutor() as executor:
        first = await perform(executor, server.call())
        await closed.wait()
        await trio.sleep(0.05)  # the FIN reaches the client's socket
        second = await perform(executor, server.call())
    assert isinstance(first, HttpReply) and isinstance(second, HttpReply)
    assert second.status == 200
    # two connections, each carrying one request: the second went out once, on the new one
    assert server.connections == [0, 1]
    assert len(server.seen) == 2


async def test_a_reused_connection_closed_after_the_request_left_is_never_resent() -> None:
    async def answer_one_then_swallow_one(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(response())
        await peer.request()  # the whole second request arrives; no answer

    async with serving(answer_one_then_swallow_one) as server, HttpExecutor() as executor:
        assert isinstance(await perform(executor, server.call()), HttpReply)
        result = await perform(executor, server.call())
    assert result == LOST
    assert server.connections == [0]
    assert len(server.seen) == 2


async def test_a_server_dying_mid_reply_is_outcome_unknown() -> None:
    async def half_a_reply(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"ok":')

    async with serving(half_a_reply) as server, HttpExecutor() as executor:
        result = await perform(executor, server.call())
    assert result == LOST
    assert len(server.seen) == 1


async def test_a_stalled_body_is_the_read_timeout() -> None:
    async def stall(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
        await trio.sleep_forever()

    async with serving(stall) as server, HttpExecutor(settings=HttpSettings(read_timeout=0.2)) as executor:
        result = await perform(executor, server.call())
    assert result == OutcomeUnknown(ErrorReason("telegram", "timeout", "outcome_unknown"))


async def test_connection_refused_is_not_sent() -> None:
    async with serving(answer_all) as server:
        port = server.port
    async with HttpExecutor() as executor:
        result = await perform(executor, HttpCall(method="POST", url=f"http://127.0.0.1:{port}/x", json={}))
    assert result == NotSent(ErrorReason("telegram", "conn", "connection_refused"))


async def test_on_send_is_called_once_as_the_request_leaves_and_never_for_one_not_sent() -> None:
    # the dispatcher measures the provider's limit from when a request really left
    left: list[tuple[float, int]] = []
    async with serving(answer_all) as server, HttpExecutor() as executor:
        before = trio.current_time()
        reply = await executor.perform(
            "tg",
            server.call(),
            provider="telegram",
            on_send=lambda: left.append((trio.current_time(), len(server.seen))),
        )
        port = server.port
    assert isinstance(reply, HttpReply) and reply.status == 200
    assert len(left) == 1 and left[0][0] >= before and left[0][1] == 0  # before the server had read it
    async with HttpExecutor() as executor:
        refused = await executor.perform(
            "tg",
            HttpCall(method="POST", url=f"http://127.0.0.1:{port}/x", json={}),
            on_send=lambda: left.append((0.0, 0)),
        )
    assert isinstance(refused, NotSent) and len(left) == 1


async def test_an_oversized_reply_is_capped_and_its_connection_not_reused() -> None:
    big = b"x" * 5000

    async def huge(peer: Peer, index: int) -> None:
        while await peer.request() is not None:
            await peer.send(response(big))

    async with serving(huge) as server, HttpExecutor(settings=HttpSettings(max_reply_bytes=1000)) as executor:
        first = await perform(executor, server.call())
        second = await perform(executor, server.call())
    assert isinstance(first, HttpReply) and isinstance(second, HttpReply)
    assert first.body == second.body == b"x" * 1000
    # the rest of the first body was never read: that connection could not carry another exchange
    assert server.connections == [0, 1]


async def test_a_chunked_reply_is_joined_and_the_connection_reused() -> None:
    async def chunked(peer: Peer, index: int) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for piece in (b'{"ok"', b":tr", b"ue}"):
                await peer.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            await peer.send(b"0\r\n\r\n")

    async with serving(chunked) as server, HttpExecutor() as executor:
        replies = [await perform(executor, server.call()) for _ in range(2)]
    assert [r.body for r in replies if isinstance(r, HttpReply)] == [b'{"ok":true}'] * 2
    assert server.connections == [0]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_a_compressed_reply_is_decoded(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    payload = json.dumps({"ok": True, "result": "y" * 3000}).encode()

    async def compressed(peer: Peer, index: int) -> None:
        while await peer.request() is not None:
            await peer.send(response(encode(payload), headers=f"content-encoding: {encoding}\r\n"))

    async with serving(compressed) as server, HttpExecutor() as executor:
        result = await perform(executor, server.call())
    assert isinstance(result, HttpReply)
    assert result.body == payload


async def test_a_compressed_reply_is_capped_after_decoding() -> None:
    async def bomb(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(response(gzip.compress(b"z" * 100_000), headers="content-encoding: gzip\r\n"))

    async with serving(bomb) as server, HttpExecutor(settings=HttpSettings(max_reply_bytes=1000)) as executor:
        result = await perform(executor, server.call())
    assert isinstance(result, HttpReply)
    assert result.body == b"z" * 1000


async def test_a_corrupt_gzip_reply_is_outcome_unknown() -> None:
    async def corrupt(peer: Peer, index: int) -> None:
        await peer.request()
        await peer.send(response(b"not gzip at all", headers="content-encoding: gzip\r\n"))

    async with serving(corrupt) as server, HttpExecutor() as executor:
        result = await perform(executor, server.call())
    assert result == OutcomeUnknown(ErrorReason("telegram", "reply", "undecodable_outcome_unknown"))


def holding(release: trio.Event, open_now: list[int]) -> Script:
    """A server that answers each request only once ``release`` is set; ``open_now`` is
    [connections open, the most ever open at once]."""

    async def held(peer: Peer, index: int) -> None:
        open_now[0] += 1
        open_now[1] = max(open_now)
        try:
            while await peer.request() is not None:
                await release.wait()
                await peer.send(response())
        finally:
            open_now[0] -= 1

    return held


async def test_at_most_max_connections_per_host() -> None:
    release, open_now = trio.Event(), [0, 0]
    results: list[object] = []
    settings = HttpSettings(max_connections=2, max_keepalive_connections=2)
    async with serving(holding(release, open_now)) as server, HttpExecutor(settings=settings) as executor:

        async def one() -> None:
            results.append(await perform(executor, server.call()))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(one)
            while len(server.seen) < 2:
                await trio.sleep(0.01)
            await trio.sleep(0.1)  # time enough for a third connection, were one allowed
            assert open_now == [2, 2]
            release.set()
    assert len(results) == 5 and all(isinstance(r, HttpReply) for r in results)
    assert server.connections == [0, 1]
    assert open_now[1] == 2


async def test_waiting_past_the_pool_timeout_is_not_sent() -> None:
    release, open_now = trio.Event(), [0, 0]
    settings = HttpSettings(max_connections=1, pool_timeout=0.2)
    async with serving(holding(release, open_now)) as server, HttpExecutor(settings=settings) as executor:
        async with trio.open_nursery() as nursery:
            first: list[object] = []

            async def hold_the_only_connection() -> None:
                first.append(await perform(executor, server.call()))

            nursery.start_soon(hold_the_only_connection)
            while not server.seen:
                await trio.sleep(0.01)
            waited = await perform(executor, server.call())
            release.set()
    assert waited == NotSent(ErrorReason("telegram", "timeout", "pool_timeout"))
    assert isinstance(first[0], HttpReply)
    assert len(server.seen) == 1


async def test_https_against_a_local_tls_server() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def tls_answers(peer: Peer, index: int) -> None:
        await answer_all(peer)

    async with serving(tls_answers, tls=server_context) as server:
        async with HttpExecutor(ssl_context=client_context) as executor:
            replies = [await perform(executor, server.call()) for _ in range(2)]
        assert [r.body for r in replies if isinstance(r, HttpReply)] == [b'{"ok":true}'] * 2
        assert server.connections == [0]
        # the default trust store does not know the test CA: the handshake fails, nothing was sent
        async with HttpExecutor() as executor:
            untrusted = await perform(executor, server.call())
    assert untrusted == NotSent(ErrorReason("telegram", "conn", "tls_failed"))
    assert len(server.seen) == 2
