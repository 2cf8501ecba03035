"""The provider object: one class per channel, carrying its spec and its codec.

A plugin subclasses :class:`Provider`, sets :attr:`Provider.spec` and implements the two
required methods; it registers an instance from its ``register_providers`` hook. The
runtime calls the object directly (no per-send hook dispatch). Every method is a **pure
codec** (sans-io): it builds an :class:`HttpCall` or reads an :class:`HttpReply`, never
performs I/O and never raises on provider input — a garbage reply becomes a value whose
reason says what was wrong.

Required: :meth:`Provider.build_call`, :meth:`Provider.interpret_reply`. Required when
``spec.max_batch > 1``: :meth:`Provider.build_batch_call` and
:meth:`Provider.interpret_batch_reply`. Optional: :meth:`Provider.verify_callback` and
:meth:`Provider.parse_callback` (by default every callback is refused),
:attr:`Provider.fake` (how the simulator plays this provider's server) and
:meth:`Provider.example_replies` (replies your provider really sends and what each must
become: the conformance kit checks every one).
"""

from __future__ import annotations

from typing import ClassVar, Mapping, Sequence

import attrs

from .core.channels import ChannelSpec
from .core.http import HttpCall, HttpReply
from .core.models import Integration, Message
from .core.results import DeliveryUpdate, Failed, SendResult
from .fake import ProviderFake

__all__ = ["REQUIRED_METHODS", "BATCH_METHODS", "CALLBACK_METHODS", "ExampleReply", "Provider", "implemented_methods"]

REQUIRED_METHODS = ("build_call", "interpret_reply")
BATCH_METHODS = ("build_batch_call", "interpret_batch_reply")
CALLBACK_METHODS = ("verify_callback", "parse_callback")


@attrs.frozen
class ExampleReply:
    """A reply the provider really sends (from its documentation or a capture) and the
    exact result :meth:`Provider.interpret_reply` must make of it."""

    reply: HttpReply
    expected: SendResult
    #: what the example shows, for the kit's error message ("unknown recipient")
    note: str = ""


class Provider:
    """Base class of every provider: subclass it, set ``spec``, implement the codec."""

    #: what the channel can do; the dispatcher plans and paces with it (required)
    spec: ChannelSpec

    #: how the simulator plays this provider's server (optional; see :mod:`broadcaster.fake`)
    fake: ClassVar[ProviderFake | None] = None

    #: the status codes that mean "this integration's credentials are refused"; the
    #: conformance kit checks each maps to ``<integration>:auth_failed``
    auth_failure_statuses: ClassVar[tuple[int, ...]] = (401,)

    @property
    def name(self) -> str:
        """The provider name integrations refer to (``spec.provider``)."""
        return self.spec.provider

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall | Failed:
        """Build the provider's real HTTP request sending ``message`` to one chat.

        Called for every contact the dispatcher sends to, just before the send, with the
        ``integration`` (its ``settings`` carry base URL, API version and credentials),
        the contact's ``chat_id`` on it and the rendered ``message`` (``TextMessage`` or
        ``TemplateMessage``). Returns an :class:`HttpCall` listing every secret it embeds
        in ``secrets`` — or a ``Failed`` (usually ``ErrorKind.PAYLOAD``) refusing a
        message the provider is known to reject: nothing is sent and the contact's row
        records the failure. Raise ``ConfigError`` only for missing or malformed
        integration settings (a configuration bug, not a provider failure).
        """
        raise NotImplementedError

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        """Read the provider's reply to a :meth:`build_call` request.

        Called after every reply, whatever its status or body. Returns ``Delivered``
        (with the provider's message id, and the reply's rate headers as
        ``rate=rate_state(reply)`` when the provider sends them: pacing can then wait
        before the budget is spent), ``RateLimited`` (with
        the retry-after hint, never negative), ``Rerouted`` (the chat moved) or
        ``Failed`` (an ``ErrorKind`` and a ``provider:code:reason``; auth failures use
        ``<integration>:auth_failed``). Never raises on provider input: a body that is not
        JSON, truncated or of the wrong shape is a ``Failed`` or an unknown outcome whose
        reason says so.
        """
        raise NotImplementedError

    def build_batch_call(
        self, integration: Integration, recipients: Sequence[tuple[str, str]], message: Message
    ) -> HttpCall | None:
        """Build one request addressing many chats (a native batch, e.g. Viber broadcast).

        Called when ``spec.max_batch > 1``. ``recipients`` are ``(contact_id, chat_id)``
        pairs, at most ``max_batch`` of them. Returns an :class:`HttpCall` whose
        ``recipients`` lists the contact ids, or None when it cannot batch this message
        (the runtime then sends to each recipient with :meth:`build_call`).
        """
        return None

    def interpret_batch_reply(
        self, integration: Integration, call: HttpCall, reply: HttpReply
    ) -> Mapping[str, SendResult]:
        """Read the reply to a :meth:`build_batch_call` request, per recipient.

        Returns a mapping from each contact id in ``call.recipients`` to its result (a
        recipient the provider lists as failed gets a ``Failed``; the rest are
        ``Delivered``). Never raises on provider input.
        """
        raise NotImplementedError

    def example_replies(self, integration: Integration) -> Sequence[ExampleReply]:
        """Replies the provider really sends, each with the result it must become.

        The conformance kit (and ``broadcaster plugins check``) reads every example with
        :meth:`interpret_reply` for ``integration`` (build expected auth failures with
        ``ErrorReason.auth_failed(integration.name)``) and compares the result exactly.
        Give at least the success reply — the kit always checks the success path, from
        these examples or else from :attr:`fake` — and one of each error you map. The
        default gives none.
        """
        return ()

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        """Check a delivery callback's signature against the raw body.

        Called for every callback POST before :meth:`parse_callback`. Returns True if
        authentic, False if not (the runtime then answers 403 and applies nothing).
        Compare in constant time. The default refuses every callback.
        """
        return False

    def parse_callback(
        self, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> Sequence[DeliveryUpdate]:
        """Turn an authentic delivery-callback payload into row updates.

        Returns the ``DeliveryUpdate`` values it carries (delivered at; a late failure
        such as WhatsApp 131047 after a 200), possibly empty for events that change no
        row. Never raises on provider input (a malformed payload yields no updates). The
        default yields none.
        """
        return ()


def implemented_methods(provider: Provider) -> tuple[str, ...]:
    """The codec methods ``provider``'s class defines itself (not inherited defaults)."""
    names = (*REQUIRED_METHODS, *BATCH_METHODS, *CALLBACK_METHODS)
    return tuple(name for name in names if getattr(type(provider), name, None) is not getattr(Provider, name))
