"""The channels of the four simulated providers, and the chat ids the simulator invents.

The specs mirror what the real plugins declare (a test compares them when the plugins
are installed), but the simulator keeps its own copy: a rehearsal must not change
because a plugin happens to be installed or not.

Chat ids follow each provider's real shape and encode the contact's index, so a fake
server that only sees a chat id can still find that contact's traits (its fate, whether
its window is closed).
"""

from __future__ import annotations

from typing import Callable

from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation, MessageKind

from .draws import stream_id

__all__ = ["PROVIDERS", "SIM_SPECS", "chat_id_for", "chat_id_maker", "chat_index"]

_DAY = 24 * 3600.0

SIM_SPECS: dict[str, ChannelSpec] = {
    "telegram": ChannelSpec(
        "telegram",
        kinds={MessageKind.TEXT},
        confirmation=DeliveryConfirmation.SYNC,
        rate_per_second=30.0,
        burst=30,
        description="simulated Telegram Bot API",
    ),
    "whatsapp": ChannelSpec(
        "whatsapp",
        kinds={MessageKind.TEXT, MessageKind.TEMPLATE},
        window_seconds=_DAY,
        confirmation=DeliveryConfirmation.CALLBACK,
        rate_per_second=80.0,
        burst=80,
        window_closed_errors={"131047:re_engagement_message_required"},
        description="simulated WhatsApp Cloud API",
    ),
    "instagram": ChannelSpec(
        "instagram",
        kinds={MessageKind.TEXT},
        window_seconds=_DAY,
        confirmation=DeliveryConfirmation.NONE,
        rate_per_second=300.0,
        burst=300,
        window_closed_errors={"10:outside_allowed_window"},
        description="simulated Instagram Messaging",
    ),
    "viber": ChannelSpec(
        "viber",
        kinds={MessageKind.TEXT},
        confirmation=DeliveryConfirmation.CALLBACK,
        rate_per_second=45.0,
        burst=50,
        max_batch=300,
        description="simulated Viber REST Bot API",
    ),
}

PROVIDERS = tuple(SIM_SPECS)

_TELEGRAM_BASE = 700_000_000
_INSTAGRAM_BASE = 17_841_400_000_000_000
_VIBER_SUFFIX = "SimUser8=="


def chat_id_for(provider: str, index: int) -> str:
    """The chat id of contact ``index`` on a ``provider`` integration."""
    if provider == "telegram":
        return str(_TELEGRAM_BASE + index)
    if provider == "whatsapp":
        return f"3519{index:08d}"
    if provider == "instagram":
        return str(_INSTAGRAM_BASE + index)
    return f"Vb{index:012d}{_VIBER_SUFFIX}"


def chat_id_maker(provider: str) -> Callable[[int], str]:
    """``chat_id_for`` with the provider fixed (the audience generator calls it per contact)."""
    if provider == "telegram":
        return lambda index: str(_TELEGRAM_BASE + index)
    if provider == "whatsapp":
        return lambda index: f"3519{index:08d}"
    if provider == "instagram":
        return lambda index: str(_INSTAGRAM_BASE + index)
    return lambda index: f"Vb{index:012d}{_VIBER_SUFFIX}"


def chat_index(provider: str, chat_id: str) -> int:
    """The contact index a simulator chat id encodes; any other id gets a stable
    pseudo-index (so a fake server answers consistently for chats it did not invent)."""
    try:
        if provider == "telegram":
            index = int(chat_id) - _TELEGRAM_BASE
        elif provider == "whatsapp":
            index = int(chat_id[4:]) if chat_id.startswith("3519") and len(chat_id) == 12 else -1
        elif provider == "instagram":
            index = int(chat_id) - _INSTAGRAM_BASE
        else:
            index = int(chat_id[2:14]) if chat_id.startswith("Vb") and chat_id.endswith(_VIBER_SUFFIX) else -1
    except ValueError:
        index = -1
    if 0 <= index < 100_000_000:
        return index
    return 100_000_000 + stream_id(chat_id) % 1_000_000_000
