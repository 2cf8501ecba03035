"""Lifecycle events to the plugins' hook and to signed webhooks, off the dispatch path.

:meth:`WebhookPublisher.publish` is synchronous and never waits: it puts the event on
bounded in-memory queues (one for the plugin hook, one per webhook endpoint) that
:meth:`WebhookPublisher.run` drains in its own tasks. A slow or failing endpoint only
delays its own queue. When a queue is full the **oldest** waiting event is dropped (and
the drop is written to the delivery log): a queue fills only when an endpoint has been
failing for a long time, and then the newest events describe the current state best.

Each webhook POST carries the JSON body documented in ``docs/webhooks.md`` and the
headers ``X-Broadcaster-Signature: sha256=<hex>`` (HMAC-SHA256 of the raw body keyed
with the endpoint's secret), ``X-Broadcaster-Event`` and ``X-Broadcaster-Delivery`` (one
id per event and endpoint, the same on every retry so receivers can deduplicate). A
non-2xx answer or a transport error is retried with exponential backoff, up to
``attempts`` times; every attempt goes to the delivery log.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections import deque
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Protocol, TypeVar

import attrs
import httpx
import pluggy
import trio

from ..core.backoff import BackoffPolicy
from ..core.lifecycle import LifecycleEventKind
from ..core.models import LifecycleEvent

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SCHEMA_VERSION",
    "SIGNATURE_HEADER",
    "DeliveryLog",
    "DeliveryRecord",
    "JsonLinesDeliveryLog",
    "MemoryDeliveryLog",
    "WebhookEndpoint",
    "WebhookPublisher",
    "WebhookSettings",
    "encode_payload",
    "event_payload",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Broadcaster-Signature"
EVENT_HEADER = "X-Broadcaster-Event"
DELIVERY_HEADER = "X-Broadcaster-Delivery"
#: bumped only on an incompatible change of the payload
SCHEMA_VERSION = 1

T = TypeVar("T")


# -- payload and signature ---------------------------------------------------------------


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    moment = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_payload(event: LifecycleEvent) -> dict[str, Any]:
    """The webhook body of ``event`` as JSON-ready data (schema in docs/webhooks.md)."""
    broadcast = event.broadcast
    counters = broadcast.counters
    return {
        "schema": SCHEMA_VERSION,
        "event": event.kind.value,
        "at": _iso(event.at),
        "broadcast_id": broadcast.id,
        "broadcast_name": broadcast.name,
        "state": broadcast.state.value,
        "retry_of": broadcast.retry_of,
        "counters": {
            "audience_size_estimate": counters.audience_size_estimate,
            "audience_size_actual": counters.audience_size_actual,
            "delivered": counters.delivered,
            "failed": counters.failed,
            "skipped": counters.skipped,
        },
        "delivery_rate": counters.delivery_rate,
        "drop_rate": counters.drop_rate,
        "started_at": _iso(counters.started_at),
        "finished_at": _iso(counters.finished_at),
    }


def encode_payload(event: LifecycleEvent) -> bytes:
    """The exact bytes that are posted and signed (compact, sorted keys, UTF-8)."""
    return json.dumps(event_payload(event), separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Broadcaster-Signature`` value of ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of the raw ``body`` under ``secret`` (constant time)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode("utf-8", "replace"))


# -- configuration -----------------------------------------------------------------------


def _kinds(value: Iterable[LifecycleEventKind | str] | None) -> frozenset[LifecycleEventKind] | None:
    return None if value is None else frozenset(LifecycleEventKind(kind) for kind in value)


@attrs.frozen(kw_only=True)
class WebhookEndpoint:
    url: str
    secret: str = attrs.field(repr=False)
    #: how the delivery log names it (the URL may carry a token); defaults to the host
    name: str = ""
    #: the event kinds it wants; None for all
    events: frozenset[LifecycleEventKind] | None = attrs.field(default=None, converter=_kinds)

    def __attrs_post_init__(self) -> None:
        if not self.secret:
            raise ValueError(f"webhook {self.label!r} needs a secret to sign its payloads")

    @property
    def label(self) -> str:
        return self.name or httpx.URL(self.url).host

    def wants(self, kind: LifecycleEventKind) -> bool:
        return self.events is None or kind in self.events


@attrs.frozen(kw_only=True)
class WebhookSettings:
    #: attempts per delivery, the first included
    attempts: int = 5
    #: delays between attempts: 1, 2, 4, 8 s by default
    backoff: BackoffPolicy = BackoffPolicy(base=1.0, factor=2.0, cap=60.0, jitter=0.0)
    #: one attempt's deadline, connection to last byte of the answer
    timeout: float = 10.0
    #: events waiting per queue before the oldest is dropped
    capacity: int = 1000

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1 or self.capacity < 1 or self.timeout <= 0:
            raise ValueError("webhook attempts and capacity must be >= 1 and timeout > 0")


# -- the delivery log --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeliveryRecord:
    delivery_id: str
    endpoint: str
    event: str
    broadcast_id: str
    #: ``delivered``, ``retrying`` (this attempt failed, another follows), ``gave_up`` or ``dropped``
    outcome: str
    attempt: int = 0
    status_code: int | None = None
    error: str | None = None
    at: float = 0.0


class DeliveryLog(Protocol):
    def record(self, entry: DeliveryRecord) -> None: ...


class MemoryDeliveryLog:
    """The last ``maxlen`` records, in memory."""

    def __init__(self, *, maxlen: int = 10_000) -> None:
        self.entries: deque[DeliveryRecord] = deque(maxlen=maxlen)

    def record(self, entry: DeliveryRecord) -> None:
        self.entries.append(entry)


class JsonLinesDeliveryLog:
    """One JSON object per line, appended to ``path`` (a few hundred bytes per attempt)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._file: IO[str] | None = None

    def record(self, entry: DeliveryRecord) -> None:
        if self._file is None:
            self._file = self._path.open("a", encoding="utf-8")
        self._file.write(json.dumps(attrs.asdict(entry), sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# -- the publisher -----------------------------------------------------------------------


@attrs.frozen
class _Delivery:
    delivery_id: str
    event: LifecycleEvent
    body: bytes


class _DropOldestQueue:
    """A bounded trio memory channel whose ``put`` never waits: a full queue loses its oldest item."""

    def __init__(self, capacity: int) -> None:
        self.send, self.receive = trio.open_memory_channel[Any](capacity)

    def put(self, item: T) -> T | None:
        try:
            self.send.send_nowait(item)
            return None
        except trio.WouldBlock:
            dropped: T = self.receive.receive_nowait()
            self.send.send_nowait(item)
            return dropped


class WebhookPublisher:
    """Delivers lifecycle events to ``plugin_manager``'s hook and to ``endpoints``.

    Call :meth:`publish` from anywhere in the trio run; run :meth:`run` in a nursery.
    :meth:`close` stops intake; ``run`` then returns once the queues are drained.
    """

    def __init__(
        self,
        *,
        endpoints: Iterable[WebhookEndpoint] = (),
        plugin_manager: pluggy.PluginManager | None = None,
        delivery_log: DeliveryLog | None = None,
        settings: WebhookSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._pm = plugin_manager
        self.delivery_log: DeliveryLog = delivery_log if delivery_log is not None else MemoryDeliveryLog()
        self._settings = settings or WebhookSettings()
        self._transport = transport
        self._rng = rng or random.Random()
        self._clock = clock
        self._new_id = new_id
        self._hooks = _DropOldestQueue(self._settings.capacity)
        self._queues = [_DropOldestQueue(self._settings.capacity) for _ in self._endpoints]
        self._closed = False

    def publish(self, event: LifecycleEvent) -> None:
        """Queue ``event`` for the hook and every endpoint that wants it; never blocks."""
        if self._closed:
            log.warning(
                "lifecycle event %s of %s dropped: the publisher is closed", event.kind.value, event.broadcast.id
            )
            return
        if self._pm is not None and self._hooks.put(event) is not None:
            log.warning("plugin hook queue full: the oldest lifecycle event was dropped")
        body = encode_payload(event)
        for endpoint, queue in zip(self._endpoints, self._queues, strict=True):
            if endpoint.wants(event.kind):
                dropped = queue.put(_Delivery(self._new_id(), event, body))
                if dropped is not None:
                    self._record(endpoint, dropped, "dropped", error="queue full")

    def close(self) -> None:
        self._closed = True
        self._hooks.send.close()
        for queue in self._queues:
            queue.send.close()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        timeout = httpx.Timeout(self._settings.timeout)
        async with httpx.AsyncClient(transport=self._transport, timeout=timeout, follow_redirects=False) as client:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._run_hooks)
                for endpoint, queue in zip(self._endpoints, self._queues, strict=True):
                    nursery.start_soon(self._run_endpoint, client, endpoint, queue)
                task_status.started()

    async def _run_hooks(self) -> None:
        async for event in self._hooks.receive:
            self._call_hooks(event)

    def _call_hooks(self, event: LifecycleEvent) -> None:
        if self._pm is None:
            return
        # One call per plugin, so a plugin that raises cannot keep the others from the event.
        plugins = {id(impl.plugin): impl.plugin for impl in self._pm.hook.on_lifecycle_event.get_hookimpls()}
        for plugin in plugins.values():
            others = [p for p in self._pm.get_plugins() if p is not plugin]
            try:
                self._pm.subset_hook_caller("on_lifecycle_event", remove_plugins=others)(event=event)
            except Exception:
                log.exception(
                    "plugin %r failed in on_lifecycle_event (%s of broadcast %s); carrying on",
                    self._pm.get_name(plugin),
                    event.kind.value,
                    event.broadcast.id,
                )

    async def _run_endpoint(
        self, client: httpx.AsyncClient, endpoint: WebhookEndpoint, queue: _DropOldestQueue
    ) -> None:
        async for delivery in queue.receive:
            await self._deliver(client, endpoint, delivery)

    async def _deliver(self, client: httpx.AsyncClient, endpoint: WebhookEndpoint, delivery: _Delivery) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "broadcaster-webhooks",
            SIGNATURE_HEADER: sign(endpoint.secret, delivery.body),
            EVENT_HEADER: delivery.event.kind.value,
            DELIVERY_HEADER: delivery.delivery_id,
        }
        attempts = self._settings.attempts
        for attempt in range(1, attempts + 1):
            status_code: int | None = None
            try:
                # httpx's own timeouts are per phase; this bounds the whole attempt
                with trio.fail_after(self._settings.timeout):
                    response = await client.post(endpoint.url, content=delivery.body, headers=headers)
                status_code = response.status_code
                error = None if response.is_success else f"HTTP {status_code}"
            except trio.TooSlowError:
                error = f"no answer within {self._settings.timeout:g} s"
            except httpx.HTTPError as exc:
                # the class name only: the message may quote the URL and its token
                error = type(exc).__name__
            if error is None:
                self._record(endpoint, delivery, "delivered", attempt=attempt, status_code=status_code)
                return
            if attempt == attempts:
                self._record(endpoint, delivery, "gave_up", attempt=attempt, status_code=status_code, error=error)
                log.warning(
                    "webhook %s: gave up on %s of broadcast %s after %d attempts (%s)",
                    endpoint.label,
                    delivery.event.kind.value,
                    delivery.event.broadcast.id,
                    attempts,
                    error,
                )
                return
            self._record(endpoint, delivery, "retrying", attempt=attempt, status_code=status_code, error=error)
            await trio.sleep(self._settings.backoff.delay(attempt - 1, self._rng))

    def _record(
        self,
        endpoint: WebhookEndpoint,
        delivery: _Delivery,
        outcome: str,
        *,
        attempt: int = 0,
        status_code: int | None = None,
        error: str | None = None,
    ) -> None:
        entry = DeliveryRecord(
            delivery_id=delivery.delivery_id,
            endpoint=endpoint.label,
            event=delivery.event.kind.value,
            broadcast_id=delivery.event.broadcast.id,
            outcome=outcome,
            attempt=attempt,
            status_code=status_code,
            error=error,
            at=self._clock(),
        )
        try:
            self.delivery_log.record(entry)
        except Exception:
            log.exception("could not write the webhook delivery log")
