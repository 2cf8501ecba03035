"""A small pooled HTTP/1.1 client: h11 on trio streams, TLS through ``trio.SSLStream``.

Why not httpx here: on a loopback benchmark httpx and httpcore cost ~1.4 ms of CPU per
request, h11 on a trio stream ~0.2 ms (bench/lean.py), and a provider API needs none of
what the layers add (cookies, redirects, auth flows, HTTP/2). :class:`HttpExecutor` uses
this path for plain ``http``/``https`` when it was given no ``transport=`` (tests' and
the simulator's mocks), which still goes through httpx.

Every failure is a :class:`Failed` carrying the one fact a resend needs — whether any
byte of the request may have reached the provider (``sent``):

* before the request is written (pool wait, connect, DNS, TLS, a request h11 refuses to
  build) -> ``sent=False``;
* once :meth:`trio.abc.Stream.send_all` has begun -> ``sent=True``, whatever follows
  (write or read timeout, the server closing mid-exchange, an undecodable body).

A keep-alive connection the server closed while it sat idle is found *before* anything
is written (its socket is readable: EOF or stray bytes), closed, and the request goes on
another connection; it is never resent once its bytes left.
"""

from __future__ import annotations

import select
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Callable
from typing import Final

import attrs
import h11
import trio

from .causes import causes

__all__ = ["Failed", "H11Pool", "Reply", "Target"]

#: what this client can decode (the provider must not answer anything else compressed)
ACCEPT_ENCODING: Final = "gzip, deflate"
_READ_SIZE: Final = 65536
_FRAMING: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})


class Failed(Exception):
    """A request that did not complete; ``kind``/``code`` make the reason token."""

    def __init__(self, *, sent: bool, kind: str, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.sent, self.kind, self.code = sent, kind, code


@attrs.frozen
class Target:
    """Where a request goes: ``scheme`` is ``http`` or ``https``; ``path`` includes the query."""

    scheme: str
    host: str
    port: int
    path: bytes


@attrs.frozen
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@attrs.frozen(kw_only=True)
class Limits:
    connect_timeout: float
    read_timeout: float
    write_timeout: float
    pool_timeout: float
    #: per host (scheme, host, port)
    max_connections: int
    max_keepalive_connections: int
    keepalive_expiry: float
    max_reply_bytes: int


class _Connection:
    __slots__ = ("stream", "h11", "idle_since")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def dropped(self) -> bool:
        """Whether the server closed (or wrote to) this idle connection: readable at rest."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        sock = getattr(stream, "socket", None)
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class _HostPool:
    def __init__(self, limits: Limits) -> None:
        self.slots = trio.Semaphore(limits.max_connections)
        #: most recently used last: reuse the warmest, let the coldest expire
        self.idle: deque[_Connection] = deque()


def _connect_code(exc: BaseException) -> str:
    for cause in causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(cause, socket.gaierror):
            return "dns_failed"
        if isinstance(cause, (ssl.SSLError, ssl.CertificateError, trio.BrokenResourceError)):
            return "tls_failed"
    return "connect_failed"


def _decoder(encoding: str) -> zlib._Decompress | None:
    if encoding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


class H11Pool:
    """Keep-alive HTTP/1.1 connections per host, at most ``max_connections`` each."""

    def __init__(self, limits: Limits, tls: Callable[[], ssl.SSLContext]) -> None:
        """``tls`` gives the context for https, asked only when one is first needed
        (loading a trust store costs ~0.1 s of CPU)."""
        self._limits = limits
        self._tls = tls
        self._hosts: dict[tuple[str, str, int], _HostPool] = {}
        self._closed = False

    async def request(
        self,
        method: str,
        target: Target,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        on_send: Callable[[], object] | None = None,
    ) -> Reply:
        """Send the request on a pooled connection (a new one if none is idle) and read
        its reply. ``on_send`` is called just before its first byte is written: when the
        request really leaves, after any wait for a slot or a connection."""
        limits = self._limits
        if self._closed:
            raise RuntimeError("this H11Pool is closed")
        host_header = f"[{target.host}]" if ":" in target.host else target.host
        if target.port != (443 if target.scheme == "https" else 80):
            host_header = f"{host_header}:{target.port}"
        try:
            head = h11.Request(
                method=method,
                target=target.path,
                headers=[
                    ("host", host_header),
                    ("accept", "*/*"),
                    ("accept-encoding", ACCEPT_ENCODING),
                    ("user-agent", "broadcaster"),
                    # the framing is this client's: a caller's own would contradict it
                    *(item for item in headers if item[0].lower() not in _FRAMING),
                    *([("content-length", str(len(body)))] if body or method in _WITH_BODY else []),
                ],
            )
        except h11.LocalProtocolError as exc:
            raise Failed(sent=False, kind="conn", code="invalid_request", detail=str(exc)) from exc
        key = (target.scheme, target.host, target.port)
        pool = self._hosts.get(key)
        if pool is None:
            pool = self._hosts[key] = _HostPool(limits)
        with trio.move_on_after(limits.pool_timeout) as waited:
            await pool.slots.acquire()
        if waited.cancelled_caught:
            raise Failed(sent=False, kind="timeout", code="pool_timeout")
        try:
            conn = await self._connection(pool, target)
            try:
                reply, reusable = await self._exchange(conn, head, body, on_send)
            except BaseException:
                # cancelled or failed mid-exchange: its state is unknown, never reuse it
                await trio.aclose_forcefully(conn.stream)
                raise
            if reusable and not self._closed and len(pool.idle) < limits.max_keepalive_connections:
                conn.h11.start_next_cycle()
                conn.idle_since = trio.current_time()
                pool.idle.append(conn)
            else:
                await trio.aclose_forcefully(conn.stream)
            return reply
        finally:
            pool.slots.release()

    async def _connection(self, pool: _HostPool, target: Target) -> _Connection:
        """An idle connection still open (the newest first), or a new one."""
        expired_before = trio.current_time() - self._limits.keepalive_expiry
        while pool.idle:
            conn = pool.idle.pop()
            if conn.idle_since > expired_before and not conn.dropped():
                return conn
            # closed by the server while idle, or kept too long: nothing of this request
            # was written to it, so going on with another connection is safe
            await trio.aclose_forcefully(conn.stream)
        return _Connection(await self._connect(target))

    async def _connect(self, target: Target) -> trio.abc.Stream:
        stream: trio.abc.Stream | None = None
        try:
            with trio.move_on_after(self._limits.connect_timeout):
                stream = await trio.open_tcp_stream(target.host, target.port)
                if target.scheme == "https":
                    stream = trio.SSLStream(stream, self._tls(), server_hostname=target.host, https_compatible=True)
                    await stream.do_handshake()
                return stream
        except (OSError, trio.BrokenResourceError) as exc:
            if stream is not None:
                await trio.aclose_forcefully(stream)
            raise Failed(sent=False, kind="conn", code=_connect_code(exc), detail=repr(exc)) from exc
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise Failed(sent=False, kind="timeout", code="connect_timeout")

    async def _exchange(
        self, conn: _Connection, head: h11.Request, body: bytes, on_send: Callable[[], object] | None
    ) -> tuple[Reply, bool]:
        """Write the request, read the reply; ``True`` when the connection may be reused."""
        limits = self._limits
        machine = conn.h11
        try:
            events: list[h11.Event] = (
                [head, h11.Data(data=body), h11.EndOfMessage()] if body else [head, h11.EndOfMessage()]
            )
            data = b"".join(machine.send(event) or b"" for event in events)
        except h11.LocalProtocolError as exc:
            raise Failed(sent=False, kind="conn", code="invalid_request", detail=str(exc)) from exc
        # from here on any byte may have reached the provider
        if on_send is not None:
            on_send()
        try:
            with trio.move_on_after(limits.write_timeout) as waited:
                await conn.stream.send_all(data)
            if waited.cancelled_caught:
                raise Failed(sent=True, kind="timeout", code="outcome_unknown", detail="write timed out")
            status, headers = 0, []
            chunks: list[bytes] = []
            size, decoder = 0, None
            while True:
                event = machine.next_event()
                if event is h11.NEED_DATA:
                    with trio.move_on_after(limits.read_timeout) as waited:
                        received = await conn.stream.receive_some(_READ_SIZE)
                    if waited.cancelled_caught:
                        raise Failed(sent=True, kind="timeout", code="outcome_unknown", detail="read timed out")
                    machine.receive_data(received)  # type: ignore[arg-type]  # bytes from a socket
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers]
                    for name, value in event.headers:
                        if name == b"content-encoding":
                            decoder = _decoder(value.decode("latin-1").strip().lower())
                elif isinstance(event, h11.Data):
                    piece = event.data
                    if decoder is not None:
                        # max_length bounds the memory a small compressed bomb can take
                        piece = decoder.decompress(piece, limits.max_reply_bytes - size + 1)
                    chunks.append(piece)
                    size += len(piece)
                    if size >= limits.max_reply_bytes:
                        break  # the rest is left unread: h11 is mid-body, the connection is not reused
                elif isinstance(event, h11.EndOfMessage):
                    if decoder is not None:
                        tail = decoder.flush()
                        chunks.append(tail)
                        size += len(tail)
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise Failed(sent=True, kind="conn", code="connection_lost_outcome_unknown", detail="closed")
                # an InformationalResponse (100 Continue) is skipped
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError) as exc:
            raise Failed(sent=True, kind="conn", code="connection_lost_outcome_unknown", detail=repr(exc)) from exc
        except zlib.error as exc:
            raise Failed(sent=True, kind="reply", code="undecodable_outcome_unknown", detail=str(exc)) from exc
        reusable = machine.our_state is h11.DONE and machine.their_state is h11.DONE
        return Reply(status, headers, b"".join(chunks)[: limits.max_reply_bytes]), reusable

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their request ends."""
        self._closed = True
        hosts, self._hosts = list(self._hosts.values()), {}
        for pool in hosts:
            while pool.idle:
                await trio.aclose_forcefully(pool.idle.pop().stream)
