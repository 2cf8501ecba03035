"""The delivery-callback endpoint: an ASGI app, served by hypercorn on trio.

``POST /callbacks/{integration}``: look the integration up (404 if unknown), let its
plugin verify the signature on the raw body (``verify_callback``; 403 and nothing applied
when it fails), parse it (``parse_callback``) and hand each
:class:`~broadcaster.core.results.DeliveryUpdate` to ``apply(integration, update)``
(the store's ``apply_delivery_update``). Rows only move forward and duplicates are no-ops
— that is the store's rule; this endpoint just never fails on them.

``GET /callbacks/{integration}?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``
answers Meta's one-time subscription handshake: the challenge is echoed when the token
equals the integration's ``verify_token`` setting, else 403.

Status codes are chosen for providers that retry anything but a 2xx (Meta for days,
Viber for about an hour):

* 200 — applied, or an authentic body that carries nothing we can use (a garbage or
  unknown payload never improves on retry, so retrying it would only add load);
* 403 — signature missing or wrong (nothing applied; a forged request gets no 2xx);
* 404 — unknown integration, or a provider whose plugin takes no callbacks;
* 413 — a body over ``max_body`` bytes; 405 — another method;
* 500 — our side failed (a missing ``app_secret``, a plugin bug, the store down), so the
  provider retries and the update is not lost once it is fixed.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Mapping, Protocol, TypeVar
from urllib.parse import parse_qs

import trio

from ..asgi import answer_lifespan, read_body
from ..core.errors import ConfigError, NotFound, PluginError
from ..core.models import Integration
from ..core.results import DeliveryUpdate
from ..plugins import ProviderRegistry

__all__ = ["CALLBACK_PREFIX", "CallbackApp", "DeliveryApplier", "IntegrationLookup", "serve_callbacks"]

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "/callbacks/"
#: Meta batches up to ~1000 statuses per POST; a few MiB is ample and bounds memory
DEFAULT_MAX_BODY = 4 << 20

T = TypeVar("T")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class IntegrationLookup(Protocol):
    """The integration named ``name``, or None (raising NotFound is fine too). May be async."""

    def __call__(self, name: str) -> Integration | None | Awaitable[Integration | None]: ...


class DeliveryApplier(Protocol):
    """Apply one update; True if a row changed, False if it was a duplicate/stale/unknown. May be async."""

    def __call__(self, integration: str, update: DeliveryUpdate) -> bool | Awaitable[bool]: ...


async def _resolve(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


class CallbackApp:
    """The ASGI application receiving providers' delivery callbacks."""

    def __init__(
        self,
        *,
        registry: ProviderRegistry,
        lookup: IntegrationLookup,
        apply: DeliveryApplier,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self._registry = registry
        self._lookup = lookup
        self._apply = apply
        self._max_body = max_body

    @classmethod
    def for_store(cls, store: Any, registry: ProviderRegistry, **options: Any) -> CallbackApp:
        """Wire to a synchronous :class:`~broadcaster.store.base.Store`, called off the event loop."""

        async def lookup(name: str) -> Integration | None:
            return await trio.to_thread.run_sync(store.get_integration, name)

        async def apply(integration: str, update: DeliveryUpdate) -> bool:
            return await trio.to_thread.run_sync(store.apply_delivery_update, integration, update)

        return cls(registry=registry, lookup=lookup, apply=apply, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: refused by closing without accepting
        status, body, content_type = await self._handle(scope, receive)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if status == 405:
            headers.append((b"allow", b"GET, POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, str]:
        path: str = scope["path"]
        name = path[len(CALLBACK_PREFIX) :] if path.startswith(CALLBACK_PREFIX) else ""
        if not name or "/" in name:
            return _json(404, error=f"no such endpoint {path!r}; callbacks go to {CALLBACK_PREFIX}<integration>")
        method = scope["method"]
        if method not in ("GET", "POST"):
            return _json(405, error=f"{method} is not supported here; providers POST their callbacks")
        integration = await self._find(name)
        if integration is None:
            return _json(404, error=f"no integration named {name!r}")
        if method == "GET":
            return self._handshake(integration, scope)
        body = await read_body(scope, receive, self._max_body)
        if body is None:
            return _json(413, error=f"the body is larger than {self._max_body} bytes")
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        return await self._deliver(integration, headers, body)

    async def _find(self, name: str) -> Integration | None:
        try:
            return await _resolve(self._lookup(name))
        except NotFound:
            return None

    def _handshake(self, integration: Integration, scope: Scope) -> tuple[int, bytes, str]:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        mode = query.get("hub.mode", [""])[0]
        given = query.get("hub.verify_token", [""])[0]
        challenge = query.get("hub.challenge", [""])[0]
        if mode != "subscribe":
            return _json(400, error="a GET here is Meta's subscription handshake: hub.mode=subscribe is expected")
        expected = integration.settings.get("verify_token", "")
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            log.warning("%s: subscription handshake with a wrong verify token refused", integration.name)
            return _json(403, error="the verify token does not match the integration's verify_token setting")
        return 200, challenge.encode(), "text/plain; charset=utf-8"

    async def _deliver(self, integration: Integration, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        name = integration.name
        try:
            authentic = self._registry.verify_callback(integration=integration, headers=headers, body=body)
        except PluginError as exc:
            log.warning("%s: callback refused: %s", name, exc)
            return _json(404, error=f"integration {name!r} does not take delivery callbacks")
        except ConfigError as exc:
            log.error("%s: cannot verify callbacks: %s", name, exc)
            return _json(500, error="the integration is not configured to verify callbacks")
        except Exception:
            # a bug in the plugin: nothing is applied, the provider retries later
            log.exception("%s: the plugin failed to verify a callback", name)
            return _json(500, error="the callback could not be verified")
        if not authentic:
            log.warning("%s: callback with a missing or wrong signature refused (%d bytes)", name, len(body))
            return _json(403, error="signature missing or wrong")
        try:
            updates = self._registry.parse_callback(integration=integration, headers=headers, body=body)
        except Exception:
            log.exception("%s: the plugin failed to parse a callback", name)
            return _json(500, error="the callback could not be parsed")
        applied = ignored = 0
        for update in updates:
            try:
                changed = await _resolve(self._apply(name, update))
            except Exception:
                # earlier updates stay applied; the provider's retry re-applies them as no-ops
                log.exception("%s: could not apply the update for message %r", name, update.message_id)
                return _json(500, error="the update could not be stored; retry later")
            if changed:
                applied += 1
            else:
                ignored += 1
        return _json(200, applied=applied, ignored=ignored)


def _json(status: int, **fields: object) -> tuple[int, bytes, str]:
    return status, json.dumps(fields).encode(), "application/json"


def bind_error(exc: BaseException) -> OSError | None:
    """The OSError of a server that could not bind, alone or as the only error of hypercorn's task group."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        found, rest = exc.split(OSError)
        if found is not None and rest is None:
            return bind_error(found.exceptions[0])
    return None


async def serve_callbacks(
    app: CallbackApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` with hypercorn until cancelled; ``task_status`` gets the bound URLs."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = log
    # Meta and Viber time out slow endpoints; no request here should take long
    config.keep_alive_timeout = 30
    try:
        await serve(app, config, mode="asgi", task_status=task_status)  # type: ignore[arg-type]
    except (OSError, BaseExceptionGroup) as caught:
        exc = bind_error(caught)
        if exc is None:
            raise
        # the port is taken, or not ours to use: a configuration fault, said in one line
        raise ConfigError(
            f"cannot listen for delivery callbacks on {host}:{port}: {exc.strerror or exc}",
            hint="set [callbacks] port (or BROADCASTER_CALLBACKS_PORT) to a free port, or stop what holds it",
        ) from None
