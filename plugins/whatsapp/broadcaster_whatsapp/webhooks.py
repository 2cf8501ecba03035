"""WhatsApp status webhooks: signature check and ``statuses[]`` -> DeliveryUpdate.

Meta signs every webhook POST with ``X-Hub-Signature-256: sha256=<hex>``, the
HMAC-SHA256 of the raw body keyed with the app secret; the check runs on the raw bytes
(re-serialised JSON would differ for non-ASCII text). Meta retries for days and may
deliver out of order, so updates are plain facts; the store moves rows forward only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any, Iterable, Iterator, Mapping

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate

from .errors import PROVIDER, classify, read_error

__all__ = ["SIGNATURE_HEADER", "parse_statuses", "signature_is_valid"]

SIGNATURE_HEADER = "x-hub-signature-256"
_STATUSES = frozenset({"sent", "delivered", "read", "failed"})


def signature_is_valid(*, app_secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    given = next((str(v) for k, v in headers.items() if str(k).lower() == SIGNATURE_HEADER), None)
    if not given or not given.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    # compare bytes: compare_digest refuses non-ASCII str, and a header may hold anything
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


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
    try:
        payload = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return []
    if not isinstance(payload, dict):
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
