"""Meta webhook POSTs for Instagram: the one event we read.

The signature is Meta's (:func:`broadcaster.pluginkit.meta_signature_ok`).

Instagram has **no delivery receipts** (``message_deliveries`` is Messenger-only). The
only webhook that names one of our sends is ``messaging_seen``: ``read.mid`` is the
``message_id`` the Send API returned. Every other event (inbound messages, echoes of our
own sends, reactions, Messenger-style ``read.watermark`` reads that name no message)
changes no dispatch row, so it parses to nothing.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from broadcaster.core.http import redact
from broadcaster.core.results import DeliveryUpdate
from broadcaster.pluginkit import parse_json_object, seconds

__all__ = ["parse_seen_events"]


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def parse_seen_events(body: bytes, *, secrets: Sequence[str] = ()) -> Sequence[DeliveryUpdate]:
    """Every ``read.mid`` in an ``object: instagram`` payload, as a ``read`` update.

    ``secrets`` are redacted from the ids: a forged payload must not smuggle a token into a row.
    """
    payload = parse_json_object(body)
    if payload is None or payload.get("object") != "instagram":
        return []
    updates = []
    for entry in _dicts(payload.get("entry")):
        for event in _dicts(entry.get("messaging")):
            read = event.get("read")
            mid = read.get("mid") if isinstance(read, dict) else None
            at = seconds(event.get("timestamp"), divisor=1000)
            if isinstance(mid, str) and mid and at is not None:
                updates.append(DeliveryUpdate(message_id=redact(mid, secrets), status="read", at=at))
    return updates
