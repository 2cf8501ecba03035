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

from typing import Mapping, Sequence

from broadcaster.core.http import redact
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.results import DeliveryUpdate
from broadcaster.pluginkit import header_value, parse_json_object, reason_from_text, seconds, verify_hmac_sha256

from .statuses import PROVIDER, message_token

__all__ = ["SIGNATURE_HEADER", "batch_message_id", "parse_event", "signature_is_valid"]

SIGNATURE_HEADER = "X-Viber-Content-Signature"

_STATUS_OF_EVENT = {"delivered": "delivered", "seen": "read", "failed": "failed"}


def batch_message_id(token: str, user_id: str) -> str:
    # ':' never occurs in a (base64) Viber user id nor in a decimal token
    return f"{token}:{user_id}"


def signature_is_valid(*, auth_token: str, headers: Mapping[str, str], body: bytes) -> bool:
    """HMAC-SHA256 of the raw body keyed with the bot's auth token, as lowercase hex."""
    return verify_hmac_sha256(auth_token, body, header_value(headers, SIGNATURE_HEADER))


def parse_event(body: bytes, *, secrets: Sequence[str]) -> Sequence[DeliveryUpdate]:
    """The row updates one callback carries; never raises on what Viber (or anyone) sent."""
    event = parse_json_object(body)
    if event is None:
        return []
    name = event.get("event")
    status = _STATUS_OF_EVENT.get(name) if isinstance(name, str) else None
    token = message_token(event)
    at = seconds(event.get("timestamp"), divisor=1000)
    if status is None or token is None or at is None:
        return []
    reason = kind = None
    if status == "failed":
        desc = event.get("desc")
        text = desc if isinstance(desc, str) else ""
        reason = reason_from_text(PROVIDER, "delivery_failed", text, secrets=secrets, fallback="no_description")
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
