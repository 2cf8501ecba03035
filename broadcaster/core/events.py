"""The dispatcher's vocabulary: inputs are past-tense facts, actions are imperatives.

The shell feeds inputs to :meth:`Dispatcher.handle` with ``now`` and performs the
actions it gets back, in order.
"""

from __future__ import annotations

from typing import Sequence, Union

import attrs

from .models import Contact, DispatchRow, Message
from .results import SendResult

__all__ = [
    "Action",
    "CancelRequested",
    "Finished",
    "FlowUnpublished",
    "Input",
    "LoadPage",
    "PageLoaded",
    "RecordRows",
    "ReleaseClaims",
    "Send",
    "SendBatch",
    "SendCompleted",
    "StopRequested",
    "Stopped",
    "TimerFired",
]

# -- inputs ---------------------------------------------------------------------------


@attrs.frozen
class PageLoaded:
    """The next page of the audience, in contact-id order (the answer to LoadPage).

    ``exhausted`` says there is nothing after it. ``used_chats`` are (integration,
    chat_id) pairs the store knows were already messaged in this broadcast through
    another contact record (dedup across pages and restarts).
    """

    contacts: Sequence[Contact]
    exhausted: bool
    used_chats: frozenset[tuple[str, str]] = frozenset()


@attrs.frozen
class SendCompleted:
    """The result of the Send for ``contact_id``. ``left_at``: when its request began to
    leave for the provider, if the shell knows (a connection to open, a claim to write and
    a busy event loop put it after the instant the Send was issued); else that instant.
    The send's row and the pacing's measurement of the provider's limit take it."""

    contact_id: str
    result: SendResult
    left_at: float | None = None


@attrs.frozen
class TimerFired:
    """The deadline the dispatcher asked for (``next_deadline()``) has passed."""


@attrs.frozen
class CancelRequested:
    """An operator cancelled the broadcast."""


@attrs.frozen
class FlowUnpublished:
    """The broadcast's flow was unpublished while it was sending."""


@attrs.frozen
class StopRequested:
    """The worker is asked to stop (SIGINT, SIGTERM) but the broadcast goes on later:
    send nothing new, let the sends in flight finish, then answer Stopped."""


Input = Union[PageLoaded, SendCompleted, TimerFired, CancelRequested, FlowUnpublished, StopRequested]

# -- actions --------------------------------------------------------------------------


@attrs.frozen
class LoadPage:
    """Load up to ``limit`` audience members after ``after_id`` (keyset), then feed PageLoaded."""

    after_id: str | None
    limit: int


@attrs.define  # a value, not frozen for speed: see the note above models.Chat
class Send:
    """Claim the contact's row, then send ``message`` to ``chat_id`` through ``integration``.
    (A value: never changed once built.)

    Feed the result back as SendCompleted(contact_id, ...). ``attempt`` counts sends of
    this contact in this run (a reroute or a rate-limit retry sends again).
    """

    contact_id: str
    contact_name: str
    integration: str
    chat_id: str
    message: Message
    used_fallback: bool = False
    attempt: int = 1


@attrs.frozen
class SendBatch:
    """Claim every contact's row, then send one message to all their chats in one request
    (a provider whose ChannelSpec has ``max_batch`` > 1, e.g. Viber's broadcast_message).

    The sends share their integration and message, and there are 2 to ``max_batch`` of
    them. Feed each contact's result back as its own SendCompleted, as for a Send: the
    request counts once against the bucket and the in-flight caps, each contact once in
    the rows. A shell that cannot batch this message may perform the sends one by one.
    """

    sends: tuple[Send, ...]

    @property
    def integration(self) -> str:
        return self.sends[0].integration

    @property
    def message(self) -> Message:
        return self.sends[0].message


@attrs.frozen
class RecordRows:
    """Write these final rows (and their counters) in one transaction."""

    rows: tuple[DispatchRow, ...]


@attrs.frozen
class Finished:
    """Every contact has a row: move the broadcast to COMPLETED (or CANCELLED)."""

    cancelled: bool


@attrs.frozen
class ReleaseClaims:
    """Delete these contacts' pending rows (their claims): the provider refused their send
    (rate limit, not sent, rerouted), so it provably never went out. A contact waiting
    out a backoff then holds no claim that a crash would turn into outcome unknown; its
    next send claims it again. Performed before any Send that follows it."""

    contact_ids: tuple[str, ...]


@attrs.frozen
class Stopped:
    """After StopRequested: nothing is in flight and every send that went out has its row.
    The broadcast stays SENDING; contacts without a row are sent by a later run."""


Action = Union[LoadPage, Send, SendBatch, RecordRows, ReleaseClaims, Finished, Stopped]
