"""Signed lifecycle webhooks: the payload, the signature, endpoints, settings, one attempt,
the delivery log. Workers deliver the store's outbox through them
(:mod:`broadcaster.runtime.outbox_delivery`).

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
from collections import deque
from pathlib import Path
from typing import IO, Any, Iterable, Protocol

import attrs
import httpx
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
    "WebhookSettings",
    "delivery_id",
    "encode_payload",
    "event_payload",
    "post_once",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Broadcaster-Signature"
EVENT_HEADER = "X-Broadcaster-Event"
DELIVERY_HEADER = "X-Broadcaster-Delivery"
#: bumped only on an incompatible change of the payload
SCHEMA_VERSION = 1


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

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1 or self.timeout <= 0:
            raise ValueError("webhook attempts must be >= 1 and timeout > 0")


# -- the delivery log --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DeliveryRecord:
    delivery_id: str
    endpoint: str
    event: str
    broadcast_id: str
    #: ``delivered``, ``retrying`` (this attempt failed, another follows) or ``gave_up``
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


# -- one attempt ------------------------------------------------------------------------


def delivery_id(event_id: str, endpoint: WebhookEndpoint) -> str:
    """The ``X-Broadcaster-Delivery`` id of an event at an endpoint: the same on every retry,
    from any worker (derived, never stored)."""
    return hashlib.sha256(f"{event_id}\0{endpoint.label}".encode()).hexdigest()[:32]


async def post_once(
    client: httpx.AsyncClient, endpoint: WebhookEndpoint, event: LifecycleEvent, delivery: str, *, timeout: float
) -> tuple[int | None, str | None]:
    """POST the signed event once: (status code or None, error or None when it was a 2xx)."""
    body = encode_payload(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "broadcaster-webhooks",
        SIGNATURE_HEADER: sign(endpoint.secret, body),
        EVENT_HEADER: event.kind.value,
        DELIVERY_HEADER: delivery,
    }
    try:
        # httpx's own timeouts are per phase; this bounds the whole attempt
        with trio.fail_after(timeout):
            response = await client.post(endpoint.url, content=body, headers=headers)
    except trio.TooSlowError:
        return None, f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        # the class name only: the message may quote the URL and its token
        return None, type(exc).__name__
    return response.status_code, None if response.is_success else f"HTTP {response.status_code}"
