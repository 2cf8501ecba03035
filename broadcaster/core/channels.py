"""What a provider plugin declares about its channel (pure data the core plans with)."""

from __future__ import annotations

import enum
from typing import Iterable

import attrs

__all__ = ["ChannelSpec", "DeliveryConfirmation", "MessageKind"]


class MessageKind(enum.Enum):
    TEXT = "text"
    TEMPLATE = "template"


class DeliveryConfirmation(enum.Enum):
    #: acceptance is all the provider ever says (Telegram): a 2xx is final
    SYNC = "sync"
    #: the provider posts delivery/failure callbacks later (WhatsApp, Viber)
    CALLBACK = "callback"
    #: no receipts at all beyond acceptance (Instagram)
    NONE = "none"


# Typed converters, not ``converter=frozenset`` / ``tuple``: mypy's attrs plugin cannot
# resolve their type variable and would reject every plugin's (correct) ChannelSpec.
def _kinds(items: Iterable[MessageKind]) -> frozenset[MessageKind]:
    return frozenset(items)


def _names(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _codes(items: Iterable[str]) -> frozenset[str]:
    return frozenset(items)


@attrs.frozen
class ChannelSpec:
    """A provider's capabilities, as its plugin declares them.

    ``window_seconds`` is the messaging window after the contact's last inbound message
    (WhatsApp 24 h) outside which free-form messages are refused; None means no window.
    ``rate_per_second`` / ``burst`` are the default send pacing for one integration.
    ``max_batch`` > 1 means the provider can address many recipients in one request
    (Viber's broadcast endpoint, 300). ``window_closed_errors`` are the ``code:reason``
    parts of this provider's errors that mean "the messaging window is closed" (WhatsApp
    ``131047:re_engagement_message_required``): a retry then treats that contact's window
    as closed whatever its stored last-inbound time says.
    """

    provider: str
    kinds: frozenset[MessageKind] = attrs.field(default=frozenset({MessageKind.TEXT}), converter=_kinds)
    window_seconds: float | None = None
    confirmation: DeliveryConfirmation = DeliveryConfirmation.SYNC
    rate_per_second: float = 30.0
    burst: int = 30
    max_batch: int = 1
    window_closed_errors: frozenset[str] = attrs.field(default=frozenset(), converter=_codes)
    #: names of Integration.settings the plugin needs (e.g. "token")
    required_settings: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: names of settings whose values are secrets (never shown)
    secret_settings: tuple[str, ...] = attrs.field(default=(), converter=_names)
    description: str = ""

    @property
    def has_templates(self) -> bool:
        return MessageKind.TEMPLATE in self.kinds

    def window_open(self, last_inbound_at: float | None, now: float) -> bool:
        if self.window_seconds is None:
            return True
        if last_inbound_at is None:
            return False
        return now - last_inbound_at < self.window_seconds
