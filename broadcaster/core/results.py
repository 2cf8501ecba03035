"""What a send came to, as values: a plugin's reading of a provider reply.

Plugins return one of these from ``interpret_reply``; the runtime produces
:class:`NotSent` / :class:`OutcomeUnknown` itself from transport errors. The dispatcher
turns them into rows (or, for rate limiting, into a re-enqueue with backoff).
"""

from __future__ import annotations

import math
from typing import Any, Final, Union

import attrs

from .outcomes import ErrorKind
from .reasons import ErrorReason

__all__ = [
    "Delivered",
    "ChatTaken",
    "DeliveryUpdate",
    "Failed",
    "MAX_RETRY_AFTER",
    "NotSent",
    "OutcomeUnknown",
    "RateState",
    "RateLimited",
    "Rerouted",
    "SendResult",
    "usable_hint",
]


@attrs.frozen
class RateState:
    """What a *successful* reply says about the sender's rate budget.

    Many APIs report it on every reply (``X-RateLimit-Remaining: 0``,
    ``X-RateLimit-Reset-After: 2.5``): a plugin reading them lets pacing wait *before* the
    next request instead of learning only from 429s. ``remaining`` is the requests left in
    the current window, ``reset_after`` the seconds until it refills, ``limit`` its size;
    each is None when the reply does not say.
    """

    remaining: int | None = None
    reset_after: float | None = None
    limit: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("remaining", "limit"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if self.reset_after is not None and not 0 <= self.reset_after < float("inf"):
            raise ValueError(f"reset_after must be finite and >= 0 seconds, got {self.reset_after!r}")

    def pause(self) -> float:
        """Seconds the sender should wait before its next request: the reset time once
        the window is spent, else 0. This is the value pacing consumes."""
        if self.remaining == 0 and self.reset_after is not None:
            return self.reset_after
        return 0.0


@attrs.frozen
class Delivered:
    """The provider accepted the message.

    ``confirmed`` is True when acceptance *is* delivery for this provider (it has no
    later receipt); False when a delivery callback may still confirm or fail it.
    ``rate`` is what the reply said about the sender's rate budget (see
    :class:`RateState`), when the plugin reads it.
    """

    message_id: str | None = None
    confirmed: bool = False
    rate: RateState | None = None


#: the longest pause a provider's hint can impose, in seconds: a hint of 1e308 (or a day)
#: would stall an integration for good; past an hour the batch's retry budget decides
MAX_RETRY_AFTER: Final = 3600.0


def usable_hint(value: Any) -> float | None:
    """A provider's retry hint made safe: None unless it is a number ≥ 0 (not a bool, not
    NaN); larger than :data:`MAX_RETRY_AFTER` (infinity included) it becomes that maximum."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        hint = float(value)
    except OverflowError:  # an integer beyond float range: a very long hint
        return MAX_RETRY_AFTER
    if math.isnan(hint) or hint < 0:
        return None
    return min(hint, MAX_RETRY_AFTER)


@attrs.frozen
class RateLimited:
    """The provider asked us to slow down. ``retry_after`` is its hint in seconds, if any.

    The hint is bounded on the way in (:func:`usable_hint`): negative, NaN or non-numeric
    hints become None (the backoff policy decides alone), huge ones :data:`MAX_RETRY_AFTER`.
    Whatever a plugin passes, a reply can never pause an integration for longer.

    ``scope`` is ``"integration"`` when the whole sender is throttled (Telegram 429,
    WhatsApp 130429) and ``"contact"`` when only this recipient is (WhatsApp 131056).
    """

    retry_after: float | None = attrs.field(default=None, converter=usable_hint)
    reason: ErrorReason | None = None
    scope: str = "integration"

    def __attrs_post_init__(self) -> None:
        if self.scope not in ("integration", "contact"):
            raise ValueError(f"scope must be 'integration' or 'contact', got {self.scope!r}")


@attrs.frozen
class Failed:
    """The provider refused the send; ``kind`` says whether anything can help."""

    kind: ErrorKind
    reason: ErrorReason


@attrs.frozen
class Rerouted:
    """The chat moved (Telegram ``migrate_to_chat_id``): resend at once to ``chat_id``."""

    chat_id: str
    reason: ErrorReason | None = None


@attrs.frozen
class NotSent:
    """The request never left (connection refused, DNS): safe to send again."""

    reason: ErrorReason


@attrs.frozen
class OutcomeUnknown:
    """The request may have left but no reply came (timeout, dropped connection)."""

    reason: ErrorReason


@attrs.frozen
class ChatTaken:
    """Never sent: another contact record of this broadcast holds a claim on the same chat
    (two workers planned both at once; the store's unique chat index let one claim win)."""


SendResult = Union[Delivered, RateLimited, Failed, Rerouted, NotSent, OutcomeUnknown, ChatTaken]


@attrs.frozen
class DeliveryUpdate:
    """A late change to a row, parsed from a provider's delivery callback.

    ``status`` is ``"sent"``, ``"delivered"``, ``"read"`` or ``"failed"``; rows only move
    forward (a ``read`` after ``delivered`` is a no-op, a ``delivered`` after ``failed``
    is ignored). ``message_id`` is the provider's id returned at send time (wamid,
    message_token, ...).
    """

    message_id: str
    status: str
    at: float
    reason: ErrorReason | None = None
    kind: ErrorKind | None = None

    def __attrs_post_init__(self) -> None:
        if self.status not in ("sent", "delivered", "read", "failed"):
            raise ValueError(f"unknown delivery status {self.status!r}")
        if self.status == "failed" and self.reason is None:
            raise ValueError("a failed delivery update needs a reason")
