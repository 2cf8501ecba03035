"""The one place a provider request becomes real HTTP.

:class:`HttpExecutor` turns a plugin's :class:`~broadcaster.core.http.HttpCall` into an
httpx request on one shared ``httpx.AsyncClient`` per integration (keep-alive
connections are per provider host, and one integration's slow pool never starves
another's) and the response into an :class:`~broadcaster.core.http.HttpReply`.

Transport failures are values, split by the only question that matters for a resend —
*could the provider have received the request?*

* provably never left (connect refused or timed out, DNS, TLS, pool exhausted, a request
  httpx refused to write) -> :class:`~broadcaster.core.results.NotSent` (safe to send again);
* may have left (read/write timeout, connection dropped mid-exchange, a reply that could
  not be read) -> :class:`~broadcaster.core.results.OutcomeUnknown` (never resent
  silently; see DESIGN.md).

Reasons are fixed tokens (``<provider>:conn:connection_refused``,
``<provider>:timeout:outcome_unknown``), so they can never carry a secret; the exception
text goes to the log only, redacted with the call's ``secrets``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
from types import TracebackType
from typing import AsyncGenerator, Callable, Final, cast

import attrs
import httpx

from ..core.http import HttpCall, HttpReply, redact
from ..core.reasons import ErrorReason
from ..core.results import NotSent, OutcomeUnknown
from .causes import causes
from .h11pool import Failed, H11Pool, Limits, Target

__all__ = ["HttpExecutor", "HttpSettings", "classify_transport_error", "shard_limits"]

log = logging.getLogger(__name__)


class _RedactingFilter(logging.Filter):
    """Removes known secrets from the records of httpx's own loggers.

    httpx logs every request's full URL at INFO ("HTTP Request: POST https://…/bot<TOKEN>/…"),
    and Telegram puts its token in the path. The executor registers each call's secrets
    here before sending, so no handler ever sees them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_LIBRARY_LOG_FILTER = _RedactingFilter()
# a logger filter sees only records logged through that very logger, not its children
for _name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy"):
    logging.getLogger(_name).addFilter(_LIBRARY_LOG_FILTER)

#: a reply body larger than this is cut (providers answer a few hundred bytes; a runaway
#: body must not cost unbounded memory — the plugin then reads a truncated body as garbage)
MAX_REPLY_BYTES: Final = 1 << 20


@attrs.frozen(kw_only=True)
class HttpSettings:
    """Timeouts (seconds) and connection limits of every integration's client."""

    #: establishing a connection; a request that times out here never left
    connect_timeout: float = 5.0
    #: waiting for the reply once the request was written
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    #: waiting for a free connection in the pool; nothing was sent yet
    pool_timeout: float = 5.0
    #: the default pacing plan keeps up to 50 sends in flight (10 batches x 5)
    max_connections: int = 50
    #: as many as may be in flight: a smaller pool closes connections after a busy moment
    #: only to open them again a moment later (a loopback benchmark at 1 000/s spent ~10 %
    #: of its CPU connecting and closing with 20)
    max_keepalive_connections: int = 50
    keepalive_expiry: float = 30.0
    max_reply_bytes: int = MAX_REPLY_BYTES

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout, read=self.read_timeout, write=self.write_timeout, pool=self.pool_timeout
        )

    def thin_limits(self) -> Limits:
        return Limits(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            pool_timeout=self.pool_timeout,
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
            max_reply_bytes=self.max_reply_bytes,
        )

    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


def _connect_reason(exc: BaseException) -> str:
    # httpx wraps httpcore's error, which wraps the OSError: the cause says what happened.
    for cause in causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection_refused"
        if isinstance(cause, socket.gaierror):
            return "dns_failed"
        if isinstance(cause, ssl.SSLError):
            return "tls_failed"
    return "connect_failed"


def classify_transport_error(exc: httpx.HTTPError, *, label: str) -> NotSent | OutcomeUnknown:
    """The value an httpx transport error stands for; ``label`` prefixes the reason.

    Raises TypeError for an error that is not a transport failure (a bug, not a value).
    """
    # Order matters: ConnectTimeout is a TimeoutException and ConnectError a NetworkError.
    if isinstance(exc, httpx.ConnectTimeout):
        return NotSent(ErrorReason(label, "timeout", "connect_timeout"))
    if isinstance(exc, httpx.PoolTimeout):
        return NotSent(ErrorReason(label, "timeout", "pool_timeout"))
    if isinstance(exc, httpx.ConnectError):
        return NotSent(ErrorReason(label, "conn", _connect_reason(exc)))
    if isinstance(exc, httpx.ProxyError):
        return NotSent(ErrorReason(label, "conn", "proxy_failed"))
    if isinstance(exc, httpx.UnsupportedProtocol):
        return NotSent(ErrorReason(label, "conn", "unsupported_protocol"))
    if isinstance(exc, httpx.LocalProtocolError):
        # h11 refuses to write a malformed request before any of it reaches the wire
        return NotSent(ErrorReason(label, "conn", "invalid_request"))
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return OutcomeUnknown(ErrorReason(label, "timeout", "outcome_unknown"))
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        return OutcomeUnknown(ErrorReason(label, "conn", "connection_lost_outcome_unknown"))
    if isinstance(exc, httpx.DecodingError):
        return OutcomeUnknown(ErrorReason(label, "reply", "undecodable_outcome_unknown"))
    if isinstance(exc, httpx.TransportError):
        # an unfamiliar transport failure: assume the worst, it may have left
        return OutcomeUnknown(ErrorReason(label, "conn", "outcome_unknown"))
    raise TypeError(f"{type(exc).__name__} is not a transport failure") from exc


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    if "content-encoding" not in response.headers:
        # Nothing to decode (the common reply): the transport's own stream, without
        # aiter_bytes' chain of decoder and chunker generators (~10 % of a loopback send).
        async for chunk in response.stream:  # type: ignore[union-attr]
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        return b"".join(chunks)[:limit]
    # closed explicitly: leaving the loop early (an oversized reply) must not leave the
    # stream's generator for the garbage collector to finish
    # (aiter_bytes is an async generator, typed as a plain iterator)
    body = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
    async with contextlib.aclosing(body) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    return b"".join(chunks)[:limit]


#: parsed URLs an executor keeps (see HttpExecutor._urls)
_KEPT_URLS: Final = 256

#: connections per httpcore pool; see :class:`_ShardedTransport`
_CONNECTIONS_PER_SHARD: Final = 4


def shard_limits(limits: httpx.Limits, *, per_shard: int = _CONNECTIONS_PER_SHARD) -> list[httpx.Limits]:
    """``limits`` divided between pools of at most ``per_shard`` connections (sums kept)."""
    total = limits.max_connections or per_shard
    keepalive = total if limits.max_keepalive_connections is None else min(limits.max_keepalive_connections, total)
    count = -(-total // per_shard)

    def part(amount: int, i: int) -> int:
        return amount // count + (i < amount % count)

    return [
        httpx.Limits(
            max_connections=part(total, i),
            max_keepalive_connections=part(keepalive, i),
            keepalive_expiry=limits.keepalive_expiry,
        )
        for i in range(count)
    ]


class _ShardedTransport(httpx.AsyncBaseTransport):
    """One client's connections split over several small httpcore pools, used in turn.

    httpcore's pool re-examines every connection it holds on each request start and end
    (a poll of each idle socket, and a scan of all connections per idle one), so its cost
    per request grows with the square of its size. At the 50 connections a paced run at
    1 000/s keeps busy, that scan was the largest single cost of a send (bench/runtime.py);
    pools of 4 keep it small. The limits are the client's, divided between the pools.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        # one TLS context for all the pools: building one costs milliseconds
        tls = httpx.create_ssl_context()
        self._shards = [httpx.AsyncHTTPTransport(verify=tls, limits=part) for part in shard_limits(limits)]
        self._turn = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = self._shards[self._turn]
        self._turn = (self._turn + 1) % len(self._shards)
        return await shard.handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: a provider API authenticates every request by its
    token, and a Set-Cookie it sends (a load balancer's stickiness) must not tie one
    send to the next. httpx would otherwise parse every reply's headers for cookies
    through the standard library's cookie jar (~5 % of a loopback send)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _ProviderClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose cookie jar is always :class:`_NoCookies`."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        pass  # httpx's constructor sets an empty jar; nothing is ever kept


_NO_COOKIES: Final = _NoCookies()


class HttpExecutor:
    """Performs :class:`HttpCall` values, one shared ``AsyncClient`` per integration.

    ``transport`` (e.g. ``httpx.MockTransport``) replaces the network for every client —
    tests and the simulator use it; connection limits then are the transport's business.
    Without one, plain ``http``/``https`` calls go through :class:`~.h11pool.H11Pool`
    (h11 on trio streams, a sixth of httpx's CPU per request); ``ssl_context``
    replaces the trust store of the thin path (httpx's certifi context by default).
    Clients are created on first use and closed by :meth:`aclose` (or ``async with``).
    """

    def __init__(
        self,
        *,
        settings: HttpSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings or HttpSettings()
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}
        # Parsed URLs by their text: a plugin sends to the same few endpoints again and
        # again, and httpx parses a URL string anew on every request (~5 % of a send).
        self._urls: dict[str, httpx.URL] = {}
        self._closed = False
        # The thin path (runtime/h11pool.py) serves plain http/https; a mock transport keeps
        # httpx. (Proxies from the environment were never used: httpx ignores them when
        # given a transport, and the executor always gave it its sharded one.)
        self._thin = transport is None
        self._pools: dict[str, H11Pool] = {}
        self._tls: ssl.SSLContext | None = ssl_context

    @property
    def settings(self) -> HttpSettings:
        return self._settings

    def client(self, integration: str) -> httpx.AsyncClient:
        """The integration's shared client (created on first use)."""
        if self._closed:
            raise RuntimeError("this HttpExecutor is closed; create a new one to send again")
        client = self._clients.get(integration)
        if client is None:
            client = _ProviderClient(
                timeout=self._settings.timeout(),
                transport=self._transport or _ShardedTransport(self._settings.limits()),
                # a provider's redirect is a misconfigured base URL, not something to follow with a token
                follow_redirects=False,
            )
            self._clients[integration] = client
        return client

    async def perform(
        self,
        integration: str,
        call: HttpCall,
        *,
        provider: str | None = None,
        on_send: Callable[[], object] | None = None,
    ) -> HttpReply | NotSent | OutcomeUnknown:
        """Send ``call`` for ``integration``; reasons are prefixed with ``provider`` (or the
        integration). ``on_send`` is called when the request leaves: just before its first
        byte is written (on a mock transport, when it is handed over)."""
        if self._closed:
            raise RuntimeError("this HttpExecutor is closed; create a new one to send again")
        try:
            url = self._urls.get(call.url)
            if url is None:
                url = httpx.URL(call.url)
                if len(self._urls) >= _KEPT_URLS:
                    self._urls.clear()  # a plugin with endless URLs: start again, never grow
                self._urls[call.url] = url
        except httpx.InvalidURL as exc:
            return self._invalid_url(exc, integration=integration, provider=provider, call=call)
        if self._thin and url.scheme in ("http", "https") and url.raw_host:
            return await self._perform_thin(integration, call, url, provider=provider, on_send=on_send)
        client = self.client(integration)
        if call.secrets:
            _LIBRARY_LOG_FILTER.secrets.update(call.secrets)
        kwargs = {} if call.json is None else {"json": call.json}
        try:
            request = client.build_request(call.method, url, headers=list(call.headers), **kwargs)
        except httpx.InvalidURL as exc:
            return self._invalid_url(exc, integration=integration, provider=provider, call=call)
        if on_send is not None:
            on_send()
        try:
            response = await client.send(request, stream=True)
            try:
                body = await _read_capped(response, self._settings.max_reply_bytes)
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            return self._failure(exc, integration=integration, provider=provider, call=call)
        except httpx.DecodingError as exc:
            return self._failure(exc, integration=integration, provider=provider, call=call)
        return HttpReply(status=response.status_code, headers=list(response.headers.multi_items()), body=body)

    async def _perform_thin(
        self,
        integration: str,
        call: HttpCall,
        url: httpx.URL,
        *,
        provider: str | None,
        on_send: Callable[[], object] | None,
    ) -> HttpReply | NotSent | OutcomeUnknown:
        pool = self._pools.get(integration)
        if pool is None:
            pool = self._pools[integration] = H11Pool(self._settings.thin_limits(), self._tls_context)
        headers = list(call.headers)
        body = b""
        if call.json is not None:
            # exactly the bytes httpx's json= sends
            body = json.dumps(call.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            if call.header("content-type") is None:
                headers.append(("content-type", "application/json"))
        scheme = url.scheme
        target = Target(
            scheme, url.raw_host.decode("ascii"), url.port or (443 if scheme == "https" else 80), url.raw_path
        )
        try:
            reply = await pool.request(call.method, target, headers, body, on_send=on_send)
        except Failed as exc:
            label = provider or integration
            reason = ErrorReason(label, exc.kind, exc.code)
            result: NotSent | OutcomeUnknown = OutcomeUnknown(reason) if exc.sent else NotSent(reason)
            log.warning(
                "%s: %s failed (%s): %s", integration, call.redacted(), result.reason, redact(str(exc), call.secrets)
            )
            return result
        return HttpReply(status=reply.status, headers=reply.headers, body=reply.body)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            # one context for every pool, the trust store httpx uses: building one costs milliseconds
            self._tls = httpx.create_ssl_context()
        return self._tls

    def _invalid_url(self, exc: httpx.InvalidURL, *, integration: str, provider: str | None, call: HttpCall) -> NotSent:
        log.warning(
            "%s: not sending an invalid URL %s: %s", integration, call.redacted(), redact(str(exc), call.secrets)
        )
        return NotSent(ErrorReason(provider or integration, "conn", "invalid_url"))

    def _failure(
        self, exc: httpx.HTTPError, *, integration: str, provider: str | None, call: HttpCall
    ) -> NotSent | OutcomeUnknown:
        result = classify_transport_error(exc, label=provider or integration)
        log.warning(
            "%s: %s failed (%s): %s: %s",
            integration,
            call.redacted(),
            result.reason,
            type(exc).__name__,
            redact(str(exc), call.secrets),
        )
        return result

    async def aclose(self) -> None:
        """Close every client (idempotent)."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    async def __aenter__(self) -> HttpExecutor:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
