"""broadcaster-telegram: the Telegram Bot API as a broadcaster provider plugin.

A pure codec: :func:`build_call` writes a ``sendMessage`` request, :func:`interpret_reply`
reads Telegram's answer (see :mod:`broadcaster_telegram.errors`). Found by broadcaster
through the ``broadcaster`` entry point, like any third-party plugin.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from broadcaster import hookimpl
from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation, MessageKind
from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import Integration, Message, TextMessage
from broadcaster.core.results import DeliveryUpdate, SendResult
from broadcaster.pluginkit import base_url, header_value, require_setting, same_secret, secrets_of

from .errors import PROVIDER, interpret

__all__ = [
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "SPEC",
    "build_call",
    "interpret_reply",
    "parse_callback",
    "provide_channels",
    "verify_callback",
]

DEFAULT_BASE_URL = "https://api.telegram.org"
SECRET_SETTINGS = ("token", "secret_token")

SPEC = ChannelSpec(
    provider=PROVIDER,
    kinds=frozenset({MessageKind.TEXT}),
    window_seconds=None,
    confirmation=DeliveryConfirmation.SYNC,
    # the Bot FAQ's ~30 messages/s for bulk notifications, per bot token
    rate_per_second=30.0,
    burst=30,
    required_settings=("token",),
    secret_settings=SECRET_SETTINGS,
    description="Telegram Bot API (sendMessage); text only, no delivery receipts",
)


def _token(integration: Integration) -> str:
    require_setting(integration, "token", provider=PROVIDER, hint="set it to the token @BotFather gave you")
    token = integration.settings["token"]
    if token != token.strip() or any(ch in token for ch in "/?# "):
        # never echo the value: it is (a mistyped) secret
        raise ConfigError(
            f"integration {integration.name!r}: the Telegram bot token contains whitespace, '/', '?' or '#'",
            hint="copy the token again from @BotFather (it looks like 123456:ABC-DEF...)",
        )
    return token


def _chat_id(chat_id: str) -> int | str:
    # numeric ids go out as JSON integers (they need up to 52 bits); '@channel' stays a string
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


@hookimpl
def provide_channels() -> Sequence[ChannelSpec]:
    return [SPEC]


@hookimpl
def build_call(provider: str, integration: Integration, chat_id: str, message: Message) -> HttpCall | None:
    if provider != PROVIDER:
        return None
    if not isinstance(message, TextMessage):
        raise ConfigError(
            f"integration {integration.name!r}: Telegram cannot send a {type(message).__name__}",
            hint="Telegram has no templates; send a text message (a flow's text card) instead",
        )
    token = _token(integration)
    return HttpCall(
        method="POST",
        url=f"{base_url(integration, DEFAULT_BASE_URL)}/bot{token}/sendMessage",
        headers={"content-type": "application/json"},
        json={"chat_id": _chat_id(chat_id), "text": message.text},
        secrets=secrets_of(integration, SPEC),
    )


@hookimpl
def interpret_reply(provider: str, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult | None:
    if provider != PROVIDER:
        return None
    return interpret(reply, integration_name=integration.name, secrets=secrets_of(integration, SPEC, call=call))


@hookimpl
def verify_callback(provider: str, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool | None:
    """Telegram echoes setWebhook's ``secret_token`` in a header; without one, refuse all."""
    if provider != PROVIDER:
        return None
    expected = integration.settings.get("secret_token", "")
    if not expected:
        return False
    return same_secret(expected, header_value(headers, "X-Telegram-Bot-Api-Secret-Token"))


@hookimpl
def parse_callback(
    provider: str, integration: Integration, headers: Mapping[str, str], body: bytes
) -> Sequence[DeliveryUpdate] | None:
    """Telegram has no delivery receipts: no update ever changes a row."""
    if provider != PROVIDER:
        return None
    return []
