"""The hooks a broadcaster plugin can implement.

Provider hooks are **pure codecs** (sans-io): they build an :class:`HttpCall` and read an
:class:`HttpReply`; they never perform I/O and never raise on provider input — a garbage
reply becomes a ``Failed`` value whose reason says what was wrong. The runtime is the one
place that talks HTTP.

Provider-keyed hooks are ``firstresult``: every plugin is asked, each answers only for the
``provider`` it declared (returning ``None`` otherwise), and the first answer wins.
Call every hook with keyword arguments.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pluggy

from .core.channels import ChannelSpec
from .core.http import HttpCall, HttpReply
from .core.models import Integration, LifecycleEvent, Message
from .core.results import DeliveryUpdate, SendResult

__all__ = ["hookimpl", "hookspec", "PROJECT_NAME"]

PROJECT_NAME = "broadcaster"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- declaring providers ---------------------------------------------------------------


@hookspec
def provide_channels() -> Sequence[ChannelSpec]:
    """Declare the providers this plugin implements and their capabilities.

    Fires: once, when the plugin manager is built (and again by ``broadcaster plugins``).
    Returns: a sequence of :class:`ChannelSpec` (usually one). Not firstresult: results of
    all plugins are collected; two plugins declaring one provider name is a
    ``PluginConflictError``.
    """


# -- sending ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def build_call(provider: str, integration: Integration, chat_id: str, message: Message) -> HttpCall | None:
    """Build the provider's real HTTP request sending ``message`` to one chat.

    Fires: for every contact the dispatcher sends to, just before the send.
    Arguments: ``provider`` (answer only if it is yours), the ``integration`` (its
    ``settings`` carry base URL, API version and credentials), the contact's ``chat_id``
    on that integration, and the rendered ``message`` (``TextMessage`` or
    ``TemplateMessage``).
    Returns: an :class:`HttpCall` listing every secret it embeds in ``secrets``, or None
    when ``provider`` is not yours. firstresult. Raise ``ConfigError`` only for missing or
    malformed integration settings (a configuration bug, not a provider failure).
    """


@hookspec(firstresult=True)
def build_batch_call(
    provider: str, integration: Integration, recipients: Sequence[tuple[str, str]], message: Message
) -> HttpCall | None:
    """Build one request addressing many chats (a native batch, e.g. Viber broadcast).

    Fires: when the runtime sends a batch through a provider whose ChannelSpec has
    ``max_batch > 1``. ``recipients`` are ``(contact_id, chat_id)`` pairs, at most
    ``max_batch`` of them. Returns: an :class:`HttpCall` whose ``recipients`` lists the
    contact ids, or None when ``provider`` is not yours or it cannot batch this
    message. firstresult.
    """


@hookspec(firstresult=True)
def interpret_reply(provider: str, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult | None:
    """Read the provider's reply to a :func:`build_call` request.

    Fires: after every reply, whatever its status or body.
    Returns: ``Delivered`` (with the provider's message id), ``RateLimited`` (with the
    retry-after hint, never negative), ``Rerouted`` (the chat moved), or ``Failed`` (an
    ``ErrorKind`` and a ``provider:code:reason``; auth failures use
    ``<integration>:auth_failed``). Never raises on provider input: a body that is not
    JSON, truncated, or of the wrong shape is a ``Failed`` whose reason says so. None
    when ``provider`` is not yours. firstresult.
    """


@hookspec(firstresult=True)
def interpret_batch_reply(
    provider: str, integration: Integration, call: HttpCall, reply: HttpReply
) -> Mapping[str, SendResult] | None:
    """Read the reply to a :func:`build_batch_call` request, per recipient.

    Fires: after every batch reply. Returns: a mapping from each contact id in
    ``call.recipients`` to its result (a recipient the provider lists as failed gets a
    ``Failed``; the rest are ``Delivered``), or None when ``provider`` is not yours.
    Never raises on provider input. firstresult.
    """


# -- delivery callbacks ------------------------------------------------------------------


@hookspec(firstresult=True)
def verify_callback(provider: str, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool | None:
    """Check a delivery callback's signature (Meta ``X-Hub-Signature-256``, Viber
    ``X-Viber-Content-Signature``) against the raw body.

    Fires: for every callback POST, before :func:`parse_callback`. Returns: True if
    authentic, False if not (the runtime then answers 403 and applies nothing), None
    when ``provider`` is not yours. Compare in constant time. firstresult.
    """


@hookspec(firstresult=True)
def parse_callback(
    provider: str, integration: Integration, headers: Mapping[str, str], body: bytes
) -> Sequence[DeliveryUpdate] | None:
    """Turn a provider's delivery-callback payload into row updates.

    Fires: for every authentic callback POST. Returns: the ``DeliveryUpdate`` values it
    carries (delivered at; a late failure such as WhatsApp 131047 after a 200), possibly
    empty for events that change no row; None when ``provider`` is not yours. Never
    raises on provider input (a malformed payload yields no updates). firstresult.
    """


# -- lifecycle ---------------------------------------------------------------------------


@hookspec
def on_lifecycle_event(event: LifecycleEvent) -> None:
    """Observe a broadcast changing phase (scheduled, started, finished, cancelled), or
    found overdue (SCHEDULED, its run-at passed more than the worker's max lateness ago:
    the worker will not fire it; reported once per worker start).

    Fires: after the change is stored. Arguments: the :class:`LifecycleEvent` (its
    ``broadcast`` is the stored state after the change). Returns nothing; an exception
    here is logged and never stops a run. Not firstresult. A plugin can use it, for
    example, to chain a retry when a broadcast finishes with failures.
    """
