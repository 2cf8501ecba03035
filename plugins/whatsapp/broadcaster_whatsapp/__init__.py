"""broadcaster-whatsapp: the WhatsApp Business Cloud API as a broadcaster provider plugin.

A pure codec. :func:`build_call` writes ``POST {base_url}/{api_version}/{phone_number_id}/messages``
for free-form text (inside the 24 h window) or an approved template;
:func:`interpret_reply` reads the Graph API answer — a 200 only means *accepted*, so
deliveries and late failures (131047 ...) arrive later through :func:`parse_callback`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from broadcaster.plugin import (
    ChannelSpec,
    ConfigError,
    DeliveryConfirmation,
    DeliveryUpdate,
    HttpCall,
    HttpReply,
    Integration,
    Message,
    MessageKind,
    Provider,
    Register,
    SendResult,
    TemplateMessage,
    TextMessage,
    base_url,
    hookimpl,
    require_setting,
    secrets_of,
)
from broadcaster.pluginkit import meta_signature_ok

from .errors import PROVIDER
from .fake import WhatsAppFake
from .replies import interpret
from .webhooks import parse_statuses

__all__ = [
    "WhatsApp",
    "register_providers",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "SPEC",
]

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
SECRET_SETTINGS = ("token", "app_secret")

SPEC = ChannelSpec(
    provider=PROVIDER,
    kinds=frozenset({MessageKind.TEXT, MessageKind.TEMPLATE}),
    # the customer-service window: free-form text only within 24 h of the user's last message
    window_seconds=24 * 3600.0,
    confirmation=DeliveryConfirmation.CALLBACK,
    # Cloud API default throughput per business number (upgrades to 1000/s are automatic)
    rate_per_second=80.0,
    burst=80,
    # the provider's own word that the window is closed (a retry then sends the fallback)
    window_closed_errors=frozenset({"131047:re_engagement_message_required"}),
    required_settings=("token", "phone_number_id"),
    secret_settings=SECRET_SETTINGS,
    description="WhatsApp Business Cloud API; text within 24 h, templates any time, status webhooks",
)


def _setting(integration: Integration, name: str, *, hint: str) -> str:
    return require_setting(integration, name, provider=PROVIDER, hint=hint)


def _url(integration: Integration) -> str:
    url = base_url(integration, DEFAULT_BASE_URL)
    version = (integration.settings.get("api_version") or DEFAULT_API_VERSION).strip("/ ")
    phone = _setting(integration, "phone_number_id", hint="set it to the phone number ID from the WhatsApp Manager")
    if not phone.isdigit():
        raise ConfigError(
            f"integration {integration.name!r}: phone_number_id must be digits, got {phone!r}",
            hint="it is the numeric ID of the business phone number, not the phone number itself",
        )
    return f"{url}/{version}/{phone}/messages"


def _body(chat_id: str, message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id}
    if isinstance(message, TextMessage):
        return {**body, "type": "text", "text": {"preview_url": False, "body": message.text}}
    template: dict[str, Any] = {
        "name": message.name,
        "language": {"policy": "deterministic", "code": message.language},
    }
    if message.params:
        parameters = [{"type": "text", "text": param} for param in message.params]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {**body, "type": "template", "template": template}


class WhatsApp(Provider):
    """The WhatsApp Business Cloud API: text in the 24 h window, templates any time, status webhooks."""

    spec = SPEC
    fake = WhatsAppFake()

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall:
        if not isinstance(message, (TextMessage, TemplateMessage)):
            raise ConfigError(f"integration {integration.name!r}: WhatsApp cannot send a {type(message).__name__}")
        token = _setting(
            integration, "token", hint="set 'token' to a system-user access token with whatsapp_business_messaging"
        )
        return HttpCall(
            method="POST",
            url=_url(integration),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            json=_body(chat_id, message),
            secrets=secrets_of(integration, SPEC),
        )

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        return interpret(reply, integration_name=integration.name, secrets=secrets_of(integration, SPEC, call=call))

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        app_secret = _setting(
            integration, "app_secret", hint="set 'app_secret' to the Meta app secret so status webhooks can be verified"
        )
        return meta_signature_ok(app_secret=app_secret, headers=headers, body=body)

    def parse_callback(
        self, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> Sequence[DeliveryUpdate]:
        return parse_statuses(body, integration_name=integration.name, secrets=secrets_of(integration, SPEC))


@hookimpl
def register_providers(register: Register) -> None:
    register(WhatsApp())
