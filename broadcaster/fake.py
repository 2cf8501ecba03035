"""A provider's fake server, for the simulator: the contract a plugin fills in.

``broadcaster simulate``, ``rehearse`` and ``sandbox`` play any installed provider whose
:class:`~broadcaster.provider.Provider` has a ``fake``: an object implementing
:class:`ProviderFake`. The simulator decides *what* happens to each message (a
:class:`Verdict`: accepted, throttled, an outage, a per-contact failure ...) from the
scenario; the fake says *how the provider says it* — which requests it routes, how it
reads the recipients out of a request and the exact reply for each verdict — so a
rehearsal exercises the plugin's real codec against its real wire format.

Chat ids: the simulator invents one per contact with :meth:`ProviderFake.chat_id` and
reads the contact back with :meth:`ProviderFake.chat_index`, so the fake server, which
only sees a request, can find that contact's fate.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Mapping, Protocol, runtime_checkable

import attrs

__all__ = ["ProviderFake", "Target", "Verdict", "WireReply", "WireRequest", "graph_error", "json_reply"]


class Verdict(enum.Enum):
    """What the simulated provider does with one message."""

    ACCEPTED = "accepted"
    #: over the provider's limit: a 429 in its own style (with a hint where it gives one)
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    #: the connection is refused (the simulator raises it; no reply is built)
    REFUSED = "refused"
    #: no answer in time (the simulator raises it; no reply is built)
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    BLOCKED = "blocked"
    UNREGISTERED = "unregistered"
    OPTED_OUT = "opted_out"
    WINDOW_CLOSED = "window_closed"


@attrs.frozen
class WireRequest:
    """A request as the fake server received it."""

    method: str
    path: str
    query: Mapping[str, str]
    #: lower-case names
    headers: Mapping[str, str]
    #: the decoded JSON body, or None
    body: Any


@attrs.frozen
class Target:
    """One message a request asks for: to ``chat_id``, free-form text or a template."""

    chat_id: str
    text: bool
    content: str


@attrs.frozen
class WireReply:
    """What the fake server answers."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def json_reply(status: int, value: Any, headers: Mapping[str, str] | None = None) -> WireReply:
    """A JSON reply with ``content-type: application/json`` (plus ``headers``)."""
    return WireReply(status, {"content-type": "application/json", **(headers or {})}, json.dumps(value).encode())


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    product: str | None = "whatsapp",
) -> WireReply:
    """A Meta Graph API error object reply (WhatsApp Cloud API, Instagram, Messenger)."""
    error: dict[str, object] = {"message": message, "type": error_type, "code": code}
    if details is not None and product is not None:
        error["error_data"] = {"messaging_product": product, "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "ASandboxTrace0000000000"
    return json_reply(status, {"error": error})


@runtime_checkable
class ProviderFake(Protocol):
    """How a provider's server routes, reads and answers requests (see the module doc)."""

    #: endpoints (names :meth:`route` returns) that address many recipients in one request
    batch_endpoints: frozenset[str]
    #: dummy integration settings a rehearsal configures against this fake (no base_url)
    settings: Mapping[str, str]
    #: which of :attr:`settings` is the credential the fake checks (:meth:`credentials`)
    credential_setting: str
    #: the path prefix of the provider's real base URL ("" for none; Viber's is "/pa")
    base_path: str

    def route(self, method: str, path: str) -> str | None:
        """The endpoint a request addresses, or None (the server answers :meth:`not_found`)."""
        ...

    def credentials(self, request: WireRequest) -> str | None:
        """The token the request carries, or None."""
        ...

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        """The messages the request asks for, or the provider's reply to a malformed request."""
        ...

    def not_found(self) -> WireReply:
        """The provider's reply to a request for an endpoint it does not have."""
        ...

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        """The reply to a single-recipient request (or to a whole batch refused at once).

        ``retry_after`` is the hint of a THROTTLED verdict (None: the provider gives
        none); ``message_id`` numbers an ACCEPTED message (0 otherwise).
        """
        ...

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        """The reply to a batch accepted as a request, with each recipient's verdict."""
        ...

    def chat_id(self, index: int) -> str:
        """The chat id of simulated contact ``index`` (0 to 99 999 999), in the provider's shape."""
        ...

    def chat_index(self, chat_id: str) -> int | None:
        """The contact index ``chat_id`` encodes, or None if the simulator did not invent it."""
        ...
