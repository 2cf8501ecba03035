"""Domain values as the GraphQL types' fields (camelCase), computed lazily where costly.

graphql-core's default resolver reads a mapping's key and calls it when it is callable,
so a field that needs the store (lineage, eligibility, ...) is a function run only when
the query asks for it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable

from ..core.errors import ConfigError, NothingToRetry, RetryNotTerminal, RetryPending, RowsAgedOut
from ..core.models import Broadcast, Contact, DispatchRow, Flow, Template
from ..service import BroadcastService
from ..store.base import IntegrationHealth

__all__ = [
    "broadcast_view",
    "contact_view",
    "decode_cursor",
    "encode_cursor",
    "flow_view",
    "health_view",
    "iso",
    "parse_time",
    "row_view",
    "template_view",
]

View = dict[str, Any]


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, field: str) -> float:
    """An ISO-8601 time with an offset (``2026-12-02T09:00:00Z``) as POSIX seconds."""
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{field}: {text!r} is not an ISO-8601 time", hint="write e.g. 2026-12-02T09:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{field}: {text!r} has no timezone", hint="end it with Z or an offset such as +01:00")
    return parsed.timestamp()


def encode_cursor(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def decode_cursor(text: str | None, field: str = "after") -> int | None:
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise ConfigError(f"{field}: {text!r} is not a cursor this API gave out", hint="pass a page's endCursor back")
    return int(text)


_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (RetryNotTerminal, "NOT_TERMINAL"),
    (NothingToRetry, "NOTHING_TO_RETRY"),
    (RowsAgedOut, "ROWS_AGED_OUT"),
    (RetryPending, "RETRY_PENDING"),
)


def _eligibility(service: BroadcastService, broadcast_id: str) -> View:
    preview = service.retry_preview(broadcast_id)
    refusal = preview.refusal
    kind = next((name for cls, name in _REFUSALS if isinstance(refusal, cls)), None)
    return {
        "retryable": preview.retryable,
        "refusal": kind,
        "message": None if refusal is None else " ".join(str(refusal).split()),
        "contactsToRetry": preview.contacts_to_retry,
        "outcomeUnknown": preview.outcome_unknown,
        "pendingRetryId": preview.pending_retry,
    }


def _lazy(fn: Callable[[], Any]) -> Callable[..., Any]:
    return lambda info, **args: fn()


def broadcast_view(service: BroadcastService, b: Broadcast) -> View:
    c = b.counters

    def used_fallback() -> int:
        return service.store.count_used_fallback(b.id)

    def share() -> float | None:
        return used_fallback() / c.recorded if c.recorded else None

    def views(items: list[Broadcast]) -> list[View]:
        return [broadcast_view(service, item) for item in items]

    return {
        "id": b.id,
        "name": b.name,
        "state": b.state.value,
        "mode": b.mode.name,
        "flowId": b.flow_id,
        "routes": [
            {
                "integration": r.integration,
                "template": r.template,
                "language": r.language,
                "params": list(r.params),
                "when": r.when,
            }  # fmt: skip
            for r in b.routes
        ],
        "fallbacks": [
            {"integration": f.integration, "template": f.template, "language": f.language, "params": list(f.params)}
            for f in b.fallbacks
        ],
        "channels": list(b.channels),
        "audience": {
            "filter": b.audience.filter,
            "contactIds": None if b.audience.contact_ids is None else list(b.audience.contact_ids),
        },
        "runAt": iso(b.run_at),
        "createdAt": iso(b.created_at),
        "cancelRequested": b.cancel_requested,
        "audienceSizeEstimate": c.audience_size_estimate,
        "audienceSizeActual": c.audience_size_actual,
        "delivered": c.delivered,
        "failed": c.failed,
        "skipped": c.skipped,
        "startedAt": iso(c.started_at),
        "finishedAt": iso(c.finished_at),
        "deliveryRate": c.delivery_rate,
        "dropRate": c.drop_rate,
        "usedFallback": _lazy(used_fallback),
        "usedFallbackShare": _lazy(share),
        "retryOfBroadcastId": b.retry_of,
        "lineage": _lazy(lambda: views(service.lineage(b.id))),
        "retries": _lazy(lambda: views(service.store.retries_of(b.id))),
        "descendants": _lazy(lambda: views(service.descendants(b.id))),
        "retryEligibility": _lazy(lambda: _eligibility(service, b.id)),
        "overdueBy": _lazy(lambda: service.summary(b.id).overdue_by),
        "stalledFor": _lazy(lambda: service.stalled_for(b)),
    }


def row_view(row: DispatchRow) -> View:
    return {
        "contact": {"id": row.contact_id, "name": row.contact_name},
        "channel": row.integration,
        "outcome": row.outcome.value,
        "status": row.status.value,
        "errorReason": None if row.error_reason is None else str(row.error_reason),
        "usedFallback": row.used_fallback,
        "sentAt": iso(row.sent_at),
        "deliveredAt": iso(row.delivered_at),
        "recordedAt": iso(row.recorded_at),
        "cursor": encode_cursor(row.seq),
    }


def contact_view(contact: Contact) -> View:
    return {
        "id": contact.id,
        "name": contact.name,
        "optedOut": contact.opted_out,
        "fieldsJson": json.dumps(dict(contact.fields), sort_keys=True, ensure_ascii=False),
        "chats": [
            {"integration": chat.integration, "chatId": chat.chat_id, "lastInboundAt": iso(chat.last_inbound_at)}
            for chat in contact.chats
        ],
    }


def health_view(health: IntegrationHealth | None) -> View | None:
    if health is None:
        return None
    return {
        "status": health.status.name,
        "detail": health.detail,
        "updatedAt": iso(health.updated_at or None),
        "allowsMore": health.allows_more,
    }


def flow_view(flow: Flow) -> View:
    return {"id": flow.id, "name": flow.name, "published": flow.published, "requiredFields": list(flow.required_fields)}


def template_view(integration: str, template: Template) -> View:
    return {
        "integration": integration,
        "name": template.name,
        "language": template.language,
        "paramCount": template.param_count,
        "body": template.body,
    }
