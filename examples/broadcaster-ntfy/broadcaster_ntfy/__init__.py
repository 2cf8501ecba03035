"""broadcaster plugin for ntfy (https://ntfy.sh): publish a broadcast to ntfy topics.

An example third-party plugin, written only against broadcaster's public API
(``broadcaster.hookimpl``, the values in ``broadcaster.core`` and the helpers in
``broadcaster.pluginkit``). Copy it to start your own.

A contact's chat id on an ntfy integration is a **topic name**. Each send is ntfy's JSON
publish form, ``POST {base_url}/`` with ``{"topic": ..., "message": ...}``, and an
``Authorization: Bearer <token>`` header when the integration has a token.

Integration settings: ``base_url`` (default ``https://ntfy.sh``), ``token`` (optional,
secret: an ntfy access token ``tk_...``), ``title`` (optional notification title).

Like every provider plugin it is a pure codec: hooks build an ``HttpCall`` and read an
``HttpReply``; broadcaster's runtime does the HTTP. A hook answers only for its own
provider (``None`` otherwise) and never raises on what the server sends back.
"""

from __future__ import annotations

from typing import Any, Sequence

from broadcaster.plugin import (
    ChannelSpec,
    ConfigError,
    Delivered,
    DeliveryConfirmation,
    ErrorKind,
    ErrorReason,
    Failed,
    HttpCall,
    HttpReply,
    Integration,
    Message,
    MessageKind,
    Provider,
    RateLimited,
    Register,
    SendResult,
    TextMessage,
    base_url,
    hookimpl,
    malformed_reply,
    reason_from_text,
    redact,
    retry_after_header,
    secrets_of,
)

from .fake import NtfyFake

__all__ = ["Ntfy", "register_providers", "CHANNEL", "PROVIDER"]

PROVIDER = "ntfy"
DEFAULT_BASE_URL = "https://ntfy.sh"

# Step 1: declare what the provider can do. The dispatcher plans and paces with this.
CHANNEL = ChannelSpec(
    provider=PROVIDER,
    kinds=frozenset({MessageKind.TEXT}),  # no templates
    window_seconds=None,  # anyone subscribed to a topic gets it, any time
    confirmation=DeliveryConfirmation.SYNC,  # no receipts: the 200 is all we learn
    # ntfy.sh's default visitor limit: a burst of 60 requests, then one every 5 s
    rate_per_second=0.2,
    burst=60,
    required_settings=(),
    secret_settings=("token",),
    description="ntfy.sh (or self-hosted ntfy) topics; the contact's chat id is the topic.",
)


# Step 2: build the provider's real request. Raise ConfigError only for bad settings.


# Step 3: read the reply into a value. Never raise here, whatever the server sent.


def _failed(kind: ErrorKind, code: str, reason: str, secrets: Sequence[str]) -> Failed:
    # reason_from_text redacts the secrets: a server echoing the token must not put it in a row
    return Failed(kind, reason_from_text(PROVIDER, code, reason, secrets=secrets))


def _retry_after(reply: HttpReply) -> float | None:
    seconds = retry_after_header(reply)  # a number of seconds, finite and >= 0, or None
    return seconds if seconds is not None and seconds < 86400 else None  # a day or more is nonsense


class Ntfy(Provider):
    """ntfy topics: each contact's chat id is a topic name."""

    spec = CHANNEL
    fake = NtfyFake()  # step 4: the simulator can now rehearse ntfy outages

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall:
        if not isinstance(message, TextMessage):
            raise ConfigError(
                f"integration {integration.name!r} is ntfy, which has no templates",
                hint="send ntfy a flow whose first card is text",
            )
        url = base_url(integration, DEFAULT_BASE_URL)  # raises ConfigError unless http(s)
        body: dict[str, Any] = {"topic": chat_id, "message": message.text}
        if title := integration.settings.get("title"):
            body["title"] = title
        headers = {"Content-Type": "application/json"}
        token = integration.settings.get("token")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # List every secret the call carries: the runtime redacts them from logs and rows.
        return HttpCall(
            method="POST", url=f"{url}/", headers=headers, json=body, secrets=secrets_of(integration, CHANNEL)
        )

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        secrets = call.secrets
        value, why_not = reply.json_body()
        body = value if isinstance(value, dict) else {}
        if 200 <= reply.status < 300:
            if why_not is not None or not isinstance(body.get("id"), str) or not body["id"]:
                # The message may well be published: malformed_reply makes its fate UNKNOWN, not failed.
                return malformed_reply(PROVIDER, reply.status, why_not or "no message id", secrets=secrets)
            return Delivered(message_id=redact(body["id"], secrets), confirmed=True)
        if reply.status in (401, 403):
            return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration.name))
        if reply.status == 429:
            return RateLimited(
                retry_after=_retry_after(reply), reason=ErrorReason(PROVIDER, "429", "too_many_requests")
            )
        if reply.status >= 500:
            return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", "server_error"))
        # ntfy's error envelope: {"code": 40009, "http": 400, "error": "invalid request: ...", "link": ...}
        code = body.get("code")
        status_token = str(reply.status) if reply.status >= 0 else "http"
        code_token = str(code) if isinstance(code, int) and not isinstance(code, bool) and code >= 0 else status_token
        error = body.get("error")
        if reply.status == 413:
            return _failed(ErrorKind.PAYLOAD, code_token, "message_too_large", secrets)
        if why_not is not None:
            # not ntfy's envelope (a proxy's page, garbage): says nothing about the message, so transient
            return malformed_reply(PROVIDER, reply.status, why_not, secrets=secrets)
        if isinstance(error, str) and error.strip():
            return _failed(ErrorKind.PAYLOAD, code_token, error, secrets)
        kind = ErrorKind.PAYLOAD if 400 <= reply.status < 500 else ErrorKind.TRANSIENT
        return _failed(kind, code_token, f"malformed_reply: {why_not or 'no error text'}", secrets)


@hookimpl
def register_providers(register: Register) -> None:
    register(Ntfy())
