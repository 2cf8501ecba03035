"""graphql-transport-ws on an ASGI WebSocket: the protocol of graphql-ws, Apollo and gql.

The token comes with the upgrade (``Authorization`` header) or in ``connection_init``'s
payload (``{"Authorization": "Bearer ..."}``, for browsers, which cannot set headers on
a WebSocket). Close codes are the protocol's: 4400 bad message, 4401 subscribe before
ack, 4403 refused token, 4408 no init in time, 4409 duplicate id, 4429 second init.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .errors import ApiError
from .operations import Request
from .tokens import ApiToken

if TYPE_CHECKING:
    from .server import GraphQLApp

__all__ = ["INIT_TIMEOUT", "PROTOCOL", "serve_websocket"]

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT = 10.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


async def serve_websocket(app: GraphQLApp, scope: Scope, receive: Receive, send: Send) -> None:
    from .server import bearer

    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if PROTOCOL not in scope.get("subprotocols", []):
        await send({"type": "websocket.close", "code": 4406, "reason": f"use the {PROTOCOL} subprotocol"})
        return
    await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
    lock = asyncio.Lock()
    tasks: dict[str, asyncio.Task[None]] = {}

    async def emit(body: dict[str, Any]) -> None:
        async with lock:
            await send({"type": "websocket.send", "text": json.dumps(body, allow_nan=False)})

    async def run(op_id: str, request: Request, token: ApiToken) -> None:
        try:
            async for result in app.executor.stream(request, token):
                if "data" not in result:
                    await emit({"type": "error", "id": op_id, "payload": result["errors"]})
                    return
                await emit({"type": "next", "id": op_id, "payload": result})
            await emit({"type": "complete", "id": op_id})
        except asyncio.CancelledError:
            raise
        except Exception:
            await emit({"type": "error", "id": op_id, "payload": [{"message": "internal error",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})  # fmt: skip
        finally:
            tasks.pop(op_id, None)

    token: ApiToken | None = None
    upgrade_secret = bearer(scope.get("headers", []))
    try:
        while True:
            try:
                timeout = INIT_TIMEOUT if token is None else None
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise _Closed(4408, "connection initialisation timeout") from None
            if message["type"] == "websocket.disconnect":
                return
            body = _parse(message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace"))
            kind = body.get("type")
            if kind == "connection_init":
                if token is not None:
                    raise _Closed(4429, "too many initialisation requests")
                payload = body.get("payload") or {}
                secret = upgrade_secret or _payload_secret(payload)
                try:
                    token = await app.authenticate(secret)
                except ApiError as exc:
                    raise _Closed(4403, _short(exc.message)) from None
                await emit({"type": "connection_ack"})
            elif kind == "ping":
                await emit({"type": "pong"})
            elif kind == "pong":
                pass
            elif kind == "subscribe":
                if token is None:
                    raise _Closed(4401, "unauthorized")
                op_id = body.get("id")
                if not isinstance(op_id, str) or not op_id:
                    raise _Closed(4400, "subscribe needs an id")
                if op_id in tasks:
                    raise _Closed(4409, f"subscriber for {op_id} already exists")
                try:
                    request = Request.from_json(body.get("payload"))
                except ApiError as exc:
                    raise _Closed(4400, _short(str(exc))) from None
                tasks[op_id] = asyncio.create_task(run(op_id, request, token))
            elif kind == "complete":
                task = tasks.pop(str(body.get("id")), None)
                if task is not None:
                    task.cancel()
            else:
                raise _Closed(4400, f"unknown message type {kind!r}")
    except _Closed as closed:
        await send({"type": "websocket.close", "code": closed.code, "reason": closed.reason})
    finally:
        for task in list(tasks.values()):
            task.cancel()


def _parse(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        raise _Closed(4400, "the message is not JSON") from None
    if not isinstance(body, dict):
        raise _Closed(4400, "the message is not a JSON object")
    return body


def _payload_secret(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in ("Authorization", "authorization"):
        value = payload.get(key)
        if isinstance(value, str):
            scheme, _, secret = value.partition(" ")
            if scheme.lower() == "bearer" and secret.strip():
                return secret.strip()
    value = payload.get("token")
    return value if isinstance(value, str) and value else None


def _short(text: str) -> str:
    # a close reason is at most 123 bytes
    return text.encode()[:120].decode("utf-8", "ignore")
