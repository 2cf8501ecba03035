"""The domain model: attrs values, frozen where they can be.

Time is POSIX seconds (UTC) as ``float`` everywhere in the core; the shell converts
at its edges. Serialisation is :mod:`broadcaster.serde`'s single cattrs converter —
models have no ``to_dict``.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable, Mapping, Union

import attrs

from .lifecycle import LifecycleEventKind, State
from .outcomes import ErrorKind, Outcome, Status, outcome_of
from .reasons import ErrorReason

__all__ = [
    "Audience",
    "Broadcast",
    "Chat",
    "Contact",
    "Counters",
    "DispatchRow",
    "FallbackTemplate",
    "FieldValue",
    "Flow",
    "Integration",
    "LifecycleEvent",
    "Message",
    "Mode",
    "Template",
    "TemplateCard",
    "TemplateMessage",
    "TemplateRoute",
    "TextCard",
    "TextMessage",
]

FieldValue = Union[str, int, float, bool, None]


def _as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
    # Not ``converter=tuple``: mypy's attrs plugin cannot resolve tuple's type
    # variable and then rejects every typed tuple passed to the field.
    return tuple(items)


#: Chat, Contact, DispatchRow (and events.Send) are built once per contact of a run, and a
#: frozen attrs class costs 3.5x as much to build (a bound ``object.__setattr__`` call per
#: field): ~1.5 us of a simulated contact's ~8.5. So these four are plain slotted
#: ``attrs.define`` classes, values by contract: nothing in broadcaster changes one after
#: building it (the core builds new ones), and callers must not either.


@attrs.define  # a value, not frozen for speed: see above
class Chat:
    """A contact's conversation on one integration (a value: never changed once built)."""

    integration: str
    chat_id: str
    #: when the contact last wrote to us here (opens messaging windows), or None
    last_inbound_at: float | None = None


# no on_setattr hooks: with them attrs builds through object.__setattr__ again (the
# converter would otherwise run twice), and a value is never set after building anyway
@attrs.define(on_setattr=attrs.setters.NO_OP)  # a value, not frozen for speed: see above
class Contact:
    """Someone in the audience (a value: never changed once built)."""

    id: str
    name: str = ""
    fields: Mapping[str, FieldValue] = attrs.field(factory=dict)
    opted_out: bool = False
    chats: tuple[Chat, ...] = attrs.field(default=(), converter=_as_tuple)

    def chat_on(self, integration: str) -> Chat | None:
        for chat in self.chats:
            if chat.integration == integration:
                return chat
        return None


@attrs.frozen
class Integration:
    """A configured account on a provider: ``name`` is ours, ``provider`` the plugin's."""

    name: str
    provider: str
    settings: Mapping[str, str] = attrs.field(factory=dict)


# -- messages -----------------------------------------------------------------------


@attrs.frozen
class TextMessage:
    """A free-form message (a flow's first card)."""

    text: str


@attrs.frozen
class TemplateMessage:
    """A pre-approved template with its parameters already filled in."""

    name: str
    language: str = "en"
    params: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


Message = Union[TextMessage, TemplateMessage]


@attrs.frozen
class Template:
    """A template known to an integration (WhatsApp templates are approved per account)."""

    name: str
    language: str = "en"
    #: how many ``{{n}}`` parameters its body takes
    param_count: int = 0
    body: str = ""


@attrs.frozen
class TextCard:
    text: str


@attrs.frozen
class TemplateCard:
    template: str
    language: str = "en"
    #: contact field names, in parameter order
    params: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


@attrs.frozen
class Flow:
    id: str
    name: str = ""
    published: bool = True
    first_card: Union[TextCard, TemplateCard] = TextCard("")
    #: contact fields the flow's logic needs; a contact missing one is SKIPPED
    required_fields: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


@attrs.frozen
class TemplateRoute:
    """Template mode: contacts with a chat on ``integration`` get ``template``.

    ``params`` are contact field names filled into the template in order; ``when`` is an
    optional audience-filter expression narrowing the route (e.g. ``language = "es"``).
    """

    integration: str
    template: str
    language: str = "en"
    params: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    when: str | None = None


@attrs.frozen
class FallbackTemplate:
    """Flow mode: what to send on ``integration`` when its messaging window is closed."""

    integration: str
    template: str
    language: str = "en"
    params: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)


class Mode(enum.Enum):
    FLOW = "flow"
    TEMPLATE = "template"


@attrs.frozen
class Audience:
    """Exactly one of a filter expression or an explicit list of contact IDs."""

    filter: str | None = None
    contact_ids: tuple[str, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if (self.filter is None) == (self.contact_ids is None):
            raise ValueError("an audience is either a filter or an explicit contact-ID list, exactly one")

    @property
    def is_explicit(self) -> bool:
        return self.contact_ids is not None


@attrs.frozen
class Counters:
    """The run summary; these never expire (rows do, after 30 days)."""

    audience_size_estimate: int | None = None
    audience_size_actual: int | None = None
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def recorded(self) -> int:
        return self.delivered + self.failed + self.skipped

    @property
    def delivery_rate(self) -> float | None:
        """delivered / audienceSizeActual (None before the audience is resolved or when it is empty)."""
        if not self.audience_size_actual:
            return None
        return self.delivered / self.audience_size_actual

    @property
    def drop_rate(self) -> float | None:
        """(failed + skipped) / audienceSizeActual."""
        if not self.audience_size_actual:
            return None
        return (self.failed + self.skipped) / self.audience_size_actual

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def count(self, outcome: Outcome, n: int = 1) -> Counters:
        if outcome is Outcome.DELIVERED:
            return attrs.evolve(self, delivered=self.delivered + n)
        if outcome is Outcome.FAILED:
            return attrs.evolve(self, failed=self.failed + n)
        return attrs.evolve(self, skipped=self.skipped + n)


@attrs.frozen
class Broadcast:
    id: str
    name: str = ""
    mode: Mode = Mode.FLOW
    flow_id: str | None = None
    #: template mode: tried in order, first matching route wins
    routes: tuple[TemplateRoute, ...] = attrs.field(default=(), converter=_as_tuple)
    #: flow mode: per-integration templates for closed messaging windows
    fallbacks: tuple[FallbackTemplate, ...] = attrs.field(default=(), converter=_as_tuple)
    #: flow mode: integrations to send through, in preference order (empty = any)
    channels: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    audience: Audience = Audience(filter="")
    run_at: float | None = None
    state: State = State.DRAFT
    retry_of: str | None = None
    counters: Counters = Counters()
    created_at: float = 0.0
    cancel_requested: bool = False


@attrs.define  # a value, not frozen for speed: see the note above Chat
class DispatchRow:
    """One contact's record in one broadcast (unique per broadcast and contact; a value:
    never changed once built)."""

    broadcast_id: str
    contact_id: str
    status: Status
    contact_name: str = ""
    #: the integration the dispatch went through (or would have)
    integration: str | None = None
    error_reason: ErrorReason | None = None
    error_kind: ErrorKind | None = None
    used_fallback: bool = False
    sent_at: float | None = None
    delivered_at: float | None = None
    message_id: str | None = None
    recorded_at: float = 0.0
    #: the store's record sequence (a history cursor: newer rows have larger ones); set
    #: only on rows read back from the store, and not part of the row's value
    seq: int | None = attrs.field(default=None, eq=False)

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)


@attrs.frozen
class LifecycleEvent:
    """A broadcast changed phase: scheduled, started, finished or cancelled."""

    kind: LifecycleEventKind
    broadcast: Broadcast
    at: float
