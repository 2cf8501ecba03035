"""Each provider's real wire format, for the fake servers: how requests are routed and
read, and how a :class:`~broadcaster_simulator.failures.Verdict` is answered.

The bodies follow ``providers.md``: Telegram's ``{"ok": false, "error_code": ...}`` with
``parameters.retry_after`` and a ``Retry-After`` header; Graph error objects for WhatsApp
and Instagram; Viber's HTTP 200 with a non-zero ``status``.
"""

from __future__ import annotations

from .base import Target, Wire, WireReply, WireRequest
from .instagram import InstagramWire
from .telegram import TelegramWire
from .viber import ViberWire
from .whatsapp import WhatsAppWire

__all__ = ["WIRES", "Target", "Wire", "WireReply", "WireRequest", "wire_for"]

WIRES: dict[str, type[Wire]] = {
    "telegram": TelegramWire,
    "whatsapp": WhatsAppWire,
    "instagram": InstagramWire,
    "viber": ViberWire,
}


def wire_for(provider: str) -> Wire:
    return WIRES[provider]()
