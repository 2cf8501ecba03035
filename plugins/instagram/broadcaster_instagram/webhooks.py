"""Meta webhook POSTs for Instagram: the signature check and the one event we read.

Instagram has **no delivery receipts** (``message_deliveries`` is Messenger-only). The
only webhook that names one of our sends is ``messaging_seen``: ``read.mid`` is the
``message_id`` the Send API returned. Every other event (inbound messages, echoes of our
own sends, reactions, Messenger-style ``read.watermark`` reads that name no message)
changes no dispatch row, so it parses to nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any, Iterator, Mapping, Sequence

from broadcaster.core.http import redact
from broadcaster.core.results import DeliveryUpdate

__all__ = ["SIGNATURE_HEADER", "parse_seen_events", "signature_is_valid"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def signature_is_valid(*, app_secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>``: HMAC-SHA256 of the *raw* body, app secret as key."""
    given = _header(headers, SIGNATURE_HEADER)
    if given is None or not given.startswith(_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest refuses non-ASCII str, and a hostile header may hold some.
    return hmac.compare_digest(expected.encode(), given[len(_PREFIX) :].strip().lower().encode("utf-8", "replace"))


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _seconds(timestamp_ms: Any) -> float | None:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, (int, float)):
        return None
    seconds = timestamp_ms / 1000.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_seen_events(body: bytes, *, secrets: Sequence[str] = ()) -> Sequence[DeliveryUpdate]:
    """Every ``read.mid`` in an ``object: instagram`` payload, as a ``read`` update.

    ``secrets`` are redacted from the ids: a forged payload must not smuggle a token into a row.
    """
    try:
        payload = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return []
    if not isinstance(payload, dict) or payload.get("object") != "instagram":
        return []
    updates = []
    for entry in _dicts(payload.get("entry")):
        for event in _dicts(entry.get("messaging")):
            read = event.get("read")
            mid = read.get("mid") if isinstance(read, dict) else None
            at = _seconds(event.get("timestamp"))
            if isinstance(mid, str) and mid and at is not None:
                updates.append(DeliveryUpdate(message_id=redact(mid, secrets), status="read", at=at))
    return updates
