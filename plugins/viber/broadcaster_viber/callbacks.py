"""Viber webhook POSTs: the content signature and the delivered / seen / failed events.

One callback is one JSON event. ``delivered`` / ``seen`` / ``failed`` name a send by its
``message_token``; everything else (``subscribed``, ``unsubscribed``,
``conversation_started``, ``message``, ``webhook``) is about the user or the bot, not a
dispatch row, so it parses to nothing.

A broadcast shares **one** ``message_token`` across up to 300 receivers, so batch rows
carry ``<message_token>:<user_id>`` as their message id while single sends carry the bare
token. A callback cannot tell which kind of send it is about, so it yields an update for
each spelling; only the one naming a stored row changes anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any, Mapping, Sequence

from broadcaster.core.http import redact
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason, sanitize_reason_text
from broadcaster.core.results import DeliveryUpdate

from .statuses import PROVIDER, message_token

__all__ = ["SIGNATURE_HEADER", "batch_message_id", "parse_event", "signature_is_valid"]

SIGNATURE_HEADER = "X-Viber-Content-Signature"

_STATUS_OF_EVENT = {"delivered": "delivered", "seen": "read", "failed": "failed"}


def batch_message_id(token: str, user_id: str) -> str:
    # ':' never occurs in a (base64) Viber user id nor in a decimal token
    return f"{token}:{user_id}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def signature_is_valid(*, auth_token: str, headers: Mapping[str, str], body: bytes) -> bool:
    """HMAC-SHA256 of the raw body keyed with the bot's auth token, as lowercase hex."""
    given = _header(headers, SIGNATURE_HEADER)
    if not given:
        return False
    expected = hmac.new(auth_token.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def _seconds(timestamp_ms: Any) -> float | None:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, (int, float)):
        return None
    seconds = timestamp_ms / 1000.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_event(body: bytes, *, secrets: Sequence[str]) -> Sequence[DeliveryUpdate]:
    """The row updates one callback carries; never raises on what Viber (or anyone) sent."""
    try:
        event = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return []
    if not isinstance(event, dict):
        return []
    name = event.get("event")
    status = _STATUS_OF_EVENT.get(name) if isinstance(name, str) else None
    token = message_token(event)
    at = _seconds(event.get("timestamp"))
    if status is None or token is None or at is None:
        return []
    reason = kind = None
    if status == "failed":
        desc = event.get("desc")
        text = sanitize_reason_text(redact(desc, secrets) if isinstance(desc, str) else "", fallback="no_description")
        reason = ErrorReason(PROVIDER, "delivery_failed", text)
        # Viber's FAQ: a failed event follows a status-0 send when client-side validation
        # (e.g. of a keyboard) rejects the message: a payload problem, not the contact's.
        kind = ErrorKind.PAYLOAD
    ids = [token]
    user_id = event.get("user_id")
    if isinstance(user_id, str) and user_id:
        ids.append(batch_message_id(token, user_id))
    return [
        DeliveryUpdate(message_id=redact(message_id, secrets), status=status, at=at, reason=reason, kind=kind)
        for message_id in ids
    ]
