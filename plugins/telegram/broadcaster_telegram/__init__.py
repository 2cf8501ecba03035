"""broadcaster-telegram: the Telegram Bot API as a broadcaster provider plugin.

A pure codec: :meth:`Telegram.build_call` writes a ``sendMessage`` request,
:meth:`Telegram.interpret_reply` reads Telegram's answer (see
:mod:`broadcaster_telegram.errors`). Found by broadcaster through the ``broadcaster``
entry point, like any third-party plugin.
"""

from __future__ import annotations

from typing import Mapping

from broadcaster.plugin import (
    ChannelSpec,
    ConfigError,
    DeliveryConfirmation,
    HttpCall,
    HttpReply,
    Integration,
    Message,
    MessageKind,
    Provider,
    Register,
    SendResult,
    TextMessage,
    base_url,
    header_value,
    hookimpl,
    require_setting,
    same_secret,
    secrets_of,
)

from .errors import PROVIDER, interpret
from .fake import TelegramFake

__all__ = [
    "Telegram",
    "register_providers",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "SPEC",
    "Telegram",
    "register_providers",
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


class Telegram(Provider):
    """The Telegram Bot API: ``sendMessage``, text only, no receipts."""

    spec = SPEC
    fake = TelegramFake()

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall:
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

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        return interpret(reply, integration_name=integration.name, secrets=secrets_of(integration, SPEC, call=call))

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        """Telegram echoes setWebhook's ``secret_token`` in a header; without one, refuse all."""
        expected = integration.settings.get("secret_token", "")
        if not expected:
            return False
        return same_secret(expected, header_value(headers, "X-Telegram-Bot-Api-Secret-Token"))

    # Telegram has no delivery receipts: the inherited parse_callback yields no update.


@hookimpl
def register_providers(register: Register) -> None:
    register(Telegram())
