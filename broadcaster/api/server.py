"""The ASGI application behind ``broadcaster serve``: ``/graphql`` over HTTP, SSE and WebSocket.

* ``POST /graphql`` with a JSON body runs a query or mutation (``application/json``).
* The same request with ``Accept: text/event-stream`` streams a subscription as GraphQL
  over SSE ("distinct connections" mode: ``next`` events, then ``complete``).
* A WebSocket on ``/graphql`` speaks graphql-transport-ws (the protocol of graphql-ws,
  Apollo and gql); the token goes in the upgrade's header or ``connection_init``'s payload.
* ``GET /`` serves the operator console (:mod:`broadcaster.console`, its files under
  ``/console/``).
* ``GET /graphiql`` (also ``GET /graphql`` from a browser) is GraphiQL's sign-in; GraphiQL
  itself is served from the package below ``/graphiql/static/`` (:mod:`.graphiql`).
* ``GET /broadcasts/<id>/history.csv`` is the history as the CLI's formula-safe CSV
  (:mod:`.export`).

Every request needs ``Authorization: Bearer <token>``, GraphiQL's files too; only the
sign-in page is public, and it sends the token it is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from .. import console
from ..asgi import answer_lifespan, read_body
from ..core.errors import BroadcasterError, StoreError
from .errors import ApiError, code_of
from .export import export_history_csv, export_target
from .graphiql import ASSET_PREFIX, PAGE_CSP, asset, signin_page
from .operations import Executor, Request, refusal
from .tokens import ApiToken, Tokens
from .ws import serve_websocket

__all__ = ["MAX_BODY_BYTES", "GraphQLApp"]

log = logging.getLogger("broadcaster.api")

#: the largest request body accepted
MAX_BODY_BYTES = 256 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: the console's pages may load only its own files and talk only to this server
_CONSOLE_HEADERS = (
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-cache"),
)
#: the HTTP status of a refusal, by its code
_STATUS = {"NOT_FOUND": 404, "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "STORE_UNAVAILABLE": 503}


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for key, value in headers:
        if key.lower() == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return secret.strip()
    return None


class GraphQLApp:
    def __init__(self, executor: Executor, tokens: Tokens) -> None:
        self.executor = executor
        self.tokens = tokens

    async def authenticate(self, secret: str | None) -> ApiToken:
        if secret is None:
            raise ApiError(
                "this API needs a token: send 'Authorization: Bearer <token>'",
                code="UNAUTHENTICATED",
                hint="create one with `broadcaster tokens create NAME --scope read`",
            )
        # read from the store on every request: a token revoked by any process is refused at once
        try:
            token = await asyncio.to_thread(self.tokens.check, secret)
        except StoreError as exc:
            raise ApiError(str(exc), code="STORE_UNAVAILABLE") from None
        if token is None:
            raise ApiError(
                "the token is not valid (unknown or revoked)",
                code="UNAUTHENTICATED",
                hint="see `broadcaster tokens list`",
            )
        return token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await answer_lifespan(receive, send)
        elif kind == "websocket":
            await serve_websocket(self, scope, receive, send)
        elif kind == "http":
            try:
                await self._http(scope, receive, send)
            except _Refused as refused:
                await _respond(send, refused.status, refused.body)
            except Exception:  # a fault of ours: logged, never shown
                log.exception("internal error serving %s", scope.get("path"))
                await _respond(send, 500, refusal("internal error", "INTERNAL_SERVER_ERROR"))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        headers = scope["headers"]
        accept = _header(headers, b"accept")
        if method == "GET" and (path == "/graphiql" or (path == "/graphql" and "text/html" in accept)):
            page_headers = ((b"content-security-policy", PAGE_CSP), (b"cache-control", b"no-cache"))
            await _respond_raw(send, 200, signin_page(), b"text/html; charset=utf-8", page_headers)
            return
        if path.startswith(ASSET_PREFIX):
            await self._asset(path, method, headers, send)
            return
        if method == "GET" and (path == "/" or path.startswith("/console/")):
            found = console.asset(console.INDEX if path == "/" else path.removeprefix("/console/"))
            if found is None:
                raise _Refused(404, refusal(f"no such console file {path}", "NOT_FOUND"))
            await _respond_raw(send, 200, found[0], found[1].encode(), _CONSOLE_HEADERS)
            return
        broadcast_id = export_target(path)
        if broadcast_id is not None and method == "GET":
            await self._export(broadcast_id, scope.get("query_string", b""), headers, send)
            return
        if path != "/graphql":
            raise _Refused(404, refusal(f"no such path {path}: the API is at /graphql", "NOT_FOUND"))
        if method != "POST":
            raise _Refused(405, refusal("send GraphQL requests as POST with a JSON body", "BAD_REQUEST"))
        try:
            token = await self.authenticate(bearer(headers))
        except ApiError as exc:
            raise _Refused(_STATUS[exc.code], refusal(str(exc), exc.code)) from None
        request = await _read_request(scope, receive)
        if "text/event-stream" in accept:
            await self._sse(request, token, send)
            return
        await _respond(send, 200, await self.executor.run(request, token))

    async def _asset(self, path: str, method: str, headers: list[tuple[bytes, bytes]], send: Send) -> None:
        if method != "GET":
            raise _Refused(405, refusal("GraphiQL's files are fetched with GET", "BAD_REQUEST"))
        try:
            await self.authenticate(bearer(headers))
        except ApiError as exc:
            raise _Refused(_STATUS[exc.code], refusal(str(exc), exc.code)) from None
        found = asset(path)
        if found is None:
            raise _Refused(404, refusal(f"no such file {path}", "NOT_FOUND"))
        content, content_type, etag = found
        # revalidated on every load (the URLs carry no version), a 304 when unchanged
        cache = ((b"cache-control", b"private, no-cache"), (b"etag", etag))
        if _header(headers, b"if-none-match") == etag.decode():
            await send({"type": "http.response.start", "status": 304, "headers": list(cache)})
            await send({"type": "http.response.body", "body": b""})
            return
        await _respond_raw(send, 200, content, content_type, cache)

    async def _export(self, broadcast_id: str, query: bytes, headers: list[tuple[bytes, bytes]], send: Send) -> None:
        try:
            await self.authenticate(bearer(headers))
            body = await export_history_csv(self.executor.service, broadcast_id, query)
        except BroadcasterError as exc:
            code = code_of(exc)
            raise _Refused(_STATUS.get(code, 400), refusal(" ".join(str(exc).split()), code)) from None
        disposition = f'attachment; filename="history-{_safe_name(broadcast_id)}.csv"'.encode()
        await _respond_raw(send, 200, body, b"text/csv; charset=utf-8", ((b"content-disposition", disposition),))

    async def _sse(self, request: Request, token: ApiToken, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        async for result in self.executor.stream(request, token):
            data = json.dumps(result, allow_nan=False)
            await send(
                {"type": "http.response.body", "body": f"event: next\ndata: {data}\n\n".encode(), "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"event: complete\ndata:\n\n", "more_body": False})


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def _read_request(scope: Scope, receive: Receive) -> Request:
    if "application/json" not in _header(scope["headers"], b"content-type"):
        raise _Refused(415, refusal("send the request as Content-Type: application/json", "BAD_REQUEST"))
    body = await read_body(scope, receive, MAX_BODY_BYTES)
    if body is None:
        raise _Refused(413, refusal(f"the request body is larger than {MAX_BODY_BYTES} bytes", "BAD_REQUEST"))
    try:
        return Request.from_json(json.loads(body))
    except ValueError:
        raise _Refused(400, refusal("the request body is not valid JSON", "BAD_REQUEST")) from None
    except BroadcasterError as exc:
        raise _Refused(400, refusal(str(exc), "BAD_REQUEST")) from None


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, allow_nan=False).encode()
    await _respond_raw(send, status, payload, b"application/json")


def _safe_name(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


async def _respond_raw(
    send: Send, status: int, payload: bytes, content_type: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
