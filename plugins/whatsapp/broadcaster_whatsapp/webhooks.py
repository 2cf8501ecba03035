"""WhatsApp status webhooks: ``statuses[]`` -> DeliveryUpdate.

Meta signs every webhook POST (:func:`broadcaster.pluginkit.meta_signature_ok` checks it
on the raw bytes before anything here runs). Meta retries for days and may
deliver out of order, so updates are plain facts; the store moves rows forward only.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate
from broadcaster.pluginkit import parse_json_object

from .errors import PROVIDER, classify, read_error

__all__ = ["parse_statuses"]

_STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _timestamp(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _update(status: dict[str, Any], *, integration_name: str, secrets: Iterable[str]) -> DeliveryUpdate | None:
    message_id, state, at = status.get("id"), status.get("status"), _timestamp(status.get("timestamp"))
    if not isinstance(message_id, str) or not message_id or state not in _STATUSES or at is None:
        return None  # "played" (voice), or a status we cannot attribute: changes no row
    if state != "failed":
        return DeliveryUpdate(message_id=message_id, status=state, at=at)
    error = next((e for e in map(read_error, _dicts(status.get("errors"))) if e is not None), None)
    if error is None:
        return DeliveryUpdate(
            message_id=message_id,
            status="failed",
            at=at,
            reason=ErrorReason(PROVIDER, None, "delivery_failed_without_error"),
            kind=ErrorKind.TRANSIENT,
        )
    kind, reason = classify(error, integration_name=integration_name, secrets=secrets)
    return DeliveryUpdate(message_id=message_id, status="failed", at=at, reason=reason, kind=kind)


def parse_statuses(body: bytes, *, integration_name: str, secrets: Iterable[str]) -> list[DeliveryUpdate]:
    """Every status in ``entry[].changes[].value.statuses[]``; anything malformed is skipped."""
    payload = parse_json_object(body)
    if payload is None:
        return []
    secrets = tuple(secrets)
    updates = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            for status in _dicts(value.get("statuses")):
                update = _update(status, integration_name=integration_name, secrets=secrets)
                if update is not None:
                    updates.append(update)
    return updates
