"""Pre-flight: for one contact, either a send plan or the reason it is skipped.

Order of checks (the first that applies wins): opted out; flow requirements; no chat at
all; then channel choice — template routes in template mode, the flow's first card
(or a fallback template when the messaging window is closed) in flow mode.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import attrs

from .channels import ChannelSpec
from .filters import Filter, parse_filter
from .models import (
    Broadcast,
    Chat,
    Contact,
    FallbackTemplate,
    FieldValue,
    Flow,
    Message,
    Mode,
    TemplateCard,
    TemplateMessage,
    TemplateRoute,
    TextCard,
    TextMessage,
)
from .outcomes import Status

__all__ = ["Planned", "Planner", "SendPlan", "Skip"]

#: a send plan as a tuple: (integration, chat_id, message, used_fallback)
Planned = tuple[str, str, Message, bool]


@attrs.frozen
class SendPlan:
    integration: str
    chat_id: str
    message: Message
    used_fallback: bool = False


@attrs.frozen
class Skip:
    status: Status
    #: the integration the contact would have gone through, when there is one
    integration: str | None = None


def _field(contact: Contact, name: str) -> FieldValue:
    if name in contact.fields:
        return contact.fields[name]
    if name == "name":
        return contact.name or None
    if name == "id":
        return contact.id
    return None


def _params(contact: Contact, names: Sequence[str]) -> tuple[str, ...] | None:
    """Template parameters from contact fields; None when one is missing or empty."""
    values = []
    for name in names:
        value = _field(contact, name)
        if value is None or value == "":
            return None
        values.append(value if isinstance(value, str) else str(value))
    return tuple(values)


class Planner:
    """Decides, per contact, what to send and where — or why not.

    Built once per run: route conditions are parsed here, so a bad ``when`` fails the
    run's set-up (with the route named) rather than each contact.
    """

    def __init__(
        self,
        *,
        broadcast: Broadcast,
        flow: Flow | None,
        channels: Mapping[str, ChannelSpec],
        closed_windows: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        """``closed_windows``: (contact id, integration) -> when the provider last said that
        contact's messaging window there was closed (see retry.closed_windows)."""
        self.broadcast = broadcast
        self.closed_windows = closed_windows or {}
        self.flow = flow
        self.channels = channels
        self.routes: tuple[tuple[TemplateRoute, Filter | None], ...] = tuple(
            (route, parse_filter(route.when) if route.when else None) for route in broadcast.routes
        )
        self.route_integrations = frozenset(route.integration for route in broadcast.routes)
        self.fallbacks: dict[str, FallbackTemplate] = {}
        for fallback in broadcast.fallbacks:
            self.fallbacks.setdefault(fallback.integration, fallback)
        self.allowed = broadcast.channels
        # Messages are immutable values: the flow's text card becomes one shared message
        # rather than one per contact.
        card = flow.first_card if flow is not None else None
        self._text_message = TextMessage(card.text) if isinstance(card, TextCard) else None
        # A flow that opens with text, needs no field, sends on the contact's own chat and
        # knows of no window a provider closed: what :meth:`decide_many` plans without the
        # general path for a contact with one chat (most of a large audience).
        self._plain_text_flow = (
            broadcast.mode is Mode.FLOW
            and flow is not None
            and flow.published
            and not flow.required_fields
            and self._text_message is not None
            and not self.allowed
            and not self.closed_windows
        )

    def plan(self, contact: Contact, now: float) -> SendPlan | Skip:
        decision = self.decide(contact, now)
        if type(decision) is Skip:
            return decision
        return SendPlan(*decision)  # type: ignore[misc]

    def decide(self, contact: Contact, now: float) -> Planned | Skip:
        """:meth:`plan`, with a send plan as a plain ``(integration, chat_id, message,
        used_fallback)`` tuple: the dispatcher's per-contact path, spared one object."""
        early = self.before_flow(contact)
        if early is not None:
            return early
        if self.broadcast.mode is Mode.TEMPLATE:
            return self._plan_template(contact)
        return self._plan_flow(contact, now)

    def decide_many(self, contacts: Sequence[Contact], now: float) -> list[Planned | Skip]:
        """``[self.decide(contact, now) for contact in contacts]``, a page at a time: the
        dispatcher's per-contact path. The common contact of a plain text flow (one chat, not
        opted out) is planned here in a few steps; every other goes through :meth:`decide`."""
        decide = self.decide
        if not self._plain_text_flow:
            return [decide(contact, now) for contact in contacts]
        text = self._text_message
        no_fallbacks = not self.fallbacks
        channels = self.channels
        out: list[Planned | Skip] = []
        append = out.append
        for contact in contacts:
            chats = contact.chats
            if contact.opted_out or len(chats) != 1:
                append(decide(contact, now))
                continue
            chat = chats[0]
            spec = channels.get(chat.integration)
            if spec is not None and (no_fallbacks or spec.window_open(chat.last_inbound_at, now)):
                # the window is open, or closed with no fallback to use: the text goes out
                append((chat.integration, chat.chat_id, text, False))  # type: ignore[arg-type]
            else:
                append(decide(contact, now))
        return out

    def before_flow(self, contact: Contact) -> Skip | None:
        """The checks that come before the flow's own (docs/outcomes.md's order): opted
        out, then no chat at all. A contact drained because the flow was unpublished
        still gets these first."""
        if contact.opted_out:
            return Skip(Status.OPTED_OUT, self._first_integration(contact))
        if not contact.chats:
            return Skip(Status.NO_REACHABLE_CHANNEL)
        return None

    def _first_integration(self, contact: Contact) -> str | None:
        return contact.chats[0].integration if contact.chats else None

    # -- template mode -----------------------------------------------------------------

    def _plan_template(self, contact: Contact) -> Planned | Skip:
        on_route_integration: str | None = None
        missing_field_on: str | None = None
        for route, condition in self.routes:
            chat = contact.chat_on(route.integration)
            if chat is None or route.integration not in self.channels:
                continue
            on_route_integration = on_route_integration or route.integration
            if condition is not None and not condition.matches(contact):
                continue
            params = _params(contact, route.params)
            if params is None:
                missing_field_on = missing_field_on or route.integration
                continue
            message = TemplateMessage(route.template, route.language, params)
            return (route.integration, chat.chat_id, message, False)
        if missing_field_on is not None:
            return Skip(Status.MISSING_REQUIRED_FIELD, missing_field_on)
        if on_route_integration is not None:
            return Skip(Status.NO_MATCHING_TEMPLATE_ROUTE, on_route_integration)
        return Skip(Status.CHANNEL_MISMATCH, self._first_integration(contact))

    def _closed_by_provider(self, contact_id: str, chat: Chat) -> bool:
        """The provider refused this chat for a closed window, and the contact has not
        written since (their stored last-inbound time was stale, or is older)."""
        refused_at = self.closed_windows.get((contact_id, chat.integration))
        if refused_at is None:
            return False
        return chat.last_inbound_at is None or chat.last_inbound_at <= refused_at

    # -- flow mode -----------------------------------------------------------------------

    def _candidate_chats(self, contact: Contact) -> Sequence[Chat]:
        if self.allowed:
            found = (contact.chat_on(name) for name in self.allowed)
            return [chat for chat in found if chat is not None and chat.integration in self.channels]
        chats = contact.chats
        if len(chats) == 1:  # the common case: the contact's own tuple, nothing built
            return chats if chats[0].integration in self.channels else ()
        return [chat for chat in chats if chat.integration in self.channels]

    def _plan_flow(self, contact: Contact, now: float) -> Planned | Skip:
        flow = self.flow
        if flow is None or not flow.published:
            return Skip(Status.FLOW_UNPUBLISHED, self._first_integration(contact))
        if flow.required_fields and _params(contact, flow.required_fields) is None:
            return Skip(Status.MISSING_REQUIRED_FIELD, self._first_integration(contact))
        chats = self._candidate_chats(contact)
        if not chats:
            return Skip(Status.CHANNEL_MISMATCH, self._first_integration(contact))
        card = flow.first_card
        if isinstance(card, TemplateCard):
            for chat in chats:
                if self.channels[chat.integration].has_templates:
                    params = _params(contact, card.params)
                    if params is None:
                        return Skip(Status.MISSING_REQUIRED_FIELD, chat.integration)
                    return (
                        chat.integration,
                        chat.chat_id,
                        TemplateMessage(card.template, card.language, params),
                        False,
                    )
            return Skip(Status.CHANNEL_MISMATCH, chats[0].integration)
        text = self._text_message if self._text_message is not None else TextMessage(card.text)
        for chat in chats:
            if self.channels[chat.integration].window_open(chat.last_inbound_at, now) and not (
                self.closed_windows and self._closed_by_provider(contact.id, chat)
            ):
                return (chat.integration, chat.chat_id, text, False)
        # Every window is closed. Without fallbacks the primary goes out anyway and the
        # provider answers (WhatsApp 131047) — that is the seed's "configure a fallback" signal.
        if not self.fallbacks:
            return (chats[0].integration, chats[0].chat_id, text, False)
        for chat in chats:
            fallback = self.fallbacks.get(chat.integration)
            if fallback is None:
                continue
            params = _params(contact, fallback.params)
            if params is None:
                return Skip(Status.MISSING_REQUIRED_FIELD, chat.integration)
            message = TemplateMessage(fallback.template, fallback.language, params)
            return (chat.integration, chat.chat_id, message, True)
        return Skip(Status.CHANNEL_MISMATCH, chats[0].integration)
