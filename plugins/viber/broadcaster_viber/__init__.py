"""broadcaster plugin for the Viber REST Bot API (chatapi.viber.com).

A pure codec: it builds ``send_message`` (one receiver) and ``broadcast_message`` (up to
300 receivers) requests and reads Viber's replies; the broadcaster runtime does the HTTP.
Registered only through the ``broadcaster`` entry point, as a third party's would be.

Integration settings:

``auth_token`` (required, secret)
    The bot's token, sent in the ``X-Viber-Auth-Token`` header; it also keys the
    ``X-Viber-Content-Signature`` HMAC on callbacks.
``sender_name`` (required, at most 28 characters)
    Viber requires ``sender.name`` on every message.
``sender_avatar``, ``min_api_version`` (optional), ``base_url`` (default
    ``https://chatapi.viber.com/pa``).

Viber has no templates: a ``TemplateMessage`` is a configuration mistake and raises
:class:`~broadcaster.core.errors.ConfigError`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from broadcaster.plugin import (
    ChannelSpec,
    ConfigError,
    Delivered,
    DeliveryConfirmation,
    DeliveryUpdate,
    HttpCall,
    HttpReply,
    Integration,
    Message,
    MessageKind,
    Provider,
    RateLimited,
    Register,
    SendResult,
    TemplateMessage,
    TextMessage,
    base_url,
    hookimpl,
    redact,
    require_setting,
    secrets_of,
)

from .callbacks import batch_message_id, parse_event, signature_is_valid
from .fake import ViberFake
from .statuses import PROVIDER, malformed_reply, message_token, read_body, result_for_status

__all__ = [
    "Viber",
    "register_providers",
    "CHANNEL",
    "DEFAULT_BASE_URL",
    "MAX_BROADCAST",
]

DEFAULT_BASE_URL = "https://chatapi.viber.com/pa"
MAX_BROADCAST = 300
_MAX_SENDER_NAME = 28

CHANNEL = ChannelSpec(
    provider=PROVIDER,
    kinds=frozenset({MessageKind.TEXT}),
    # No hard window: sends outside the 24 h session succeed (and are billed).
    window_seconds=None,
    confirmation=DeliveryConfirmation.CALLBACK,
    # broadcast_message allows 500 requests per 10 s; with a bucket of 50, 45/s keeps any
    # 10 s window at or under 50 + 10 * 45 = 500. send_message has no published global rate.
    rate_per_second=45.0,
    burst=50,
    max_batch=MAX_BROADCAST,
    required_settings=("auth_token", "sender_name"),
    secret_settings=("auth_token",),
    description="Viber REST Bot API (text; broadcast_message batches of up to 300; delivery callbacks).",
)


def _setting(integration: Integration, name: str) -> str:
    return require_setting(integration, name, provider=PROVIDER)


def _secrets(integration: Integration, call: HttpCall | None = None) -> tuple[str, ...]:
    return secrets_of(integration, CHANNEL, call=call)


def _text_of(integration: Integration, message: Message) -> str:
    if isinstance(message, TemplateMessage):
        raise ConfigError(
            f"integration {integration.name!r} is Viber, which has no message templates "
            f"(asked to send template {message.name!r})",
            hint="use a flow with a text first card for Viber, or route templates to a WhatsApp integration",
        )
    if not isinstance(message, TextMessage):
        raise ConfigError(f"viber cannot send a {type(message).__name__}", hint="send a TextMessage")
    return message.text


def _common_body(integration: Integration, text: str) -> dict[str, Any]:
    name = _setting(integration, "sender_name")
    if len(name) > _MAX_SENDER_NAME:
        raise ConfigError(
            f"integration {integration.name!r}: sender_name is {len(name)} characters; Viber allows {_MAX_SENDER_NAME}",
            hint="shorten sender_name",
        )
    sender = {"name": name}
    avatar = integration.settings.get("sender_avatar")
    if isinstance(avatar, str) and avatar.strip():
        sender["avatar"] = avatar.strip()
    body: dict[str, Any] = {"type": "text", "text": text, "sender": sender}
    version = integration.settings.get("min_api_version")
    if version is not None:
        if not str(version).strip().isdigit():
            raise ConfigError(
                f"integration {integration.name!r}: min_api_version {version!r} is not a whole number",
                hint="e.g. 1, or leave it unset",
            )
        body["min_api_version"] = int(str(version).strip())
    return body


def _call(integration: Integration, endpoint: str, body: dict[str, Any], recipients: Sequence[str]) -> HttpCall:
    token = _setting(integration, "auth_token")
    return HttpCall(
        method="POST",
        url=f"{base_url(integration, DEFAULT_BASE_URL)}/{endpoint}",
        headers={"X-Viber-Auth-Token": token, "Content-Type": "application/json"},
        json=body,
        secrets=(token,),
        recipients=recipients,
    )


def _chats_of(call: HttpCall) -> list[tuple[str, str]]:
    chats = call.json.get("broadcast_list") if isinstance(call.json, dict) else None
    if not isinstance(chats, list) or len(chats) != len(call.recipients):
        raise ValueError("interpret_batch_reply needs the HttpCall that build_batch_call returned")
    return list(zip(call.recipients, chats, strict=True))


class Viber(Provider):
    """The Viber REST Bot API: send_message, broadcast_message batches of up to 300, delivery callbacks."""

    spec = CHANNEL
    fake = ViberFake()
    #: Viber refuses a bad token with HTTP 200 and status 2, not a 401
    auth_failure_statuses = ()

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall:
        body = {"receiver": chat_id, **_common_body(integration, _text_of(integration, message))}
        return _call(integration, "send_message", body, ())

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        secrets = _secrets(integration, call)
        body = read_body(reply, integration=integration.name, secrets=secrets)
        if not isinstance(body, dict):
            return body
        token = message_token(body)
        if token is None:
            return malformed_reply(reply.status, "status 0 without a message_token", secrets=secrets)
        # Accepted, not delivered: the delivered / failed callback settles it later.
        return Delivered(message_id=redact(token, secrets), confirmed=False)

    def build_batch_call(
        self, integration: Integration, recipients: Sequence[tuple[str, str]], message: Message
    ) -> HttpCall:
        if not 1 <= len(recipients) <= MAX_BROADCAST:
            raise ConfigError(
                f"a Viber broadcast addresses 1 to {MAX_BROADCAST} receivers, not {len(recipients)}",
                hint="split the batch (ChannelSpec.max_batch says how far)",
            )
        # broadcast_list[i] is the chat of call.recipients[i]: that order is the whole mapping
        # interpret_batch_reply needs to route failed_list entries back to contacts.
        body = {
            "broadcast_list": [chat_id for _, chat_id in recipients],
            **_common_body(integration, _text_of(integration, message)),
        }
        return _call(integration, "broadcast_message", body, [contact_id for contact_id, _ in recipients])

    def interpret_batch_reply(
        self, integration: Integration, call: HttpCall, reply: HttpReply
    ) -> Mapping[str, SendResult]:
        pairs = _chats_of(call)
        secrets = _secrets(integration, call)
        body = read_body(reply, integration=integration.name, secrets=secrets)
        if not isinstance(body, dict):
            if isinstance(body, RateLimited):
                # The whole broadcast refused: that is the request rate (500 per 10 s), which
                # the integration's bucket must slow down for, not one receiver's hourly cap.
                body = RateLimited(body.retry_after, body.reason, "integration")
            return {contact_id: body for contact_id, _ in pairs}
        token = message_token(body)
        failed_list = body.get("failed_list", [])
        if token is None or not isinstance(failed_list, list):
            why = "status 0 without a message_token" if token is None else "failed_list is not a list"
            unknown = malformed_reply(reply.status, why, secrets=secrets)
            return {contact_id: unknown for contact_id, _ in pairs}
        failures: dict[str, SendResult] = {}
        for entry in failed_list:
            receiver = entry.get("receiver") if isinstance(entry, dict) else None
            status = entry.get("status") if isinstance(entry, dict) else None
            if isinstance(receiver, str) and isinstance(status, int) and not isinstance(status, bool) and status != 0:
                failures[receiver] = result_for_status(status, integration=integration.name)
        token = redact(token, secrets)
        return {
            contact_id: failures.get(chat_id)
            or Delivered(message_id=redact(batch_message_id(token, chat_id), secrets), confirmed=False)
            for contact_id, chat_id in pairs
        }

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        return signature_is_valid(auth_token=_setting(integration, "auth_token"), headers=headers, body=body)

    def parse_callback(
        self, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> Sequence[DeliveryUpdate]:
        return parse_event(body, secrets=_secrets(integration))


@hookimpl
def register_providers(register: Register) -> None:
    register(Viber())
