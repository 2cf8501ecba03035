"""broadcaster plugin for Instagram Messaging (Meta Graph API Send API).

A pure codec: it builds ``POST {base_url}/{api_version}/{account_id}/messages`` and reads
the Graph reply; the broadcaster runtime does the HTTP. Registered only through the
``broadcaster`` entry point, exactly as a third-party plugin would be.

Integration settings:

``access_token`` (required, secret)
    Page access token (Facebook Login) or Instagram user token (Instagram Login). Sent as
    the ``access_token`` query parameter, the form both login variants document.
``app_secret`` (secret; needed only to accept webhooks)
    Key of the ``X-Hub-Signature-256`` HMAC on webhook POSTs.
``base_url`` (default ``https://graph.facebook.com``; ``https://graph.instagram.com``
    for Instagram Login), ``api_version`` (default ``v21.0``), ``account_id`` (default
    ``me``; a Page or IG account id also works).

Instagram has no templates: a ``TemplateMessage`` reaching :func:`build_call` means a
template route or fallback names an Instagram integration, which is a configuration
mistake, so it raises :class:`~broadcaster.core.errors.ConfigError` (the hook returns a
request or nothing; a failure value is not a request).
"""

from __future__ import annotations

from typing import Mapping, Sequence
from urllib.parse import quote, urlencode

from broadcaster.plugin import (
    ChannelSpec,
    ConfigError,
    Delivered,
    DeliveryConfirmation,
    DeliveryUpdate,
    ErrorReason,
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
from broadcaster.pluginkit import meta_signature_ok

from .errors import PROVIDER, classify_graph_error, malformed_reply, server_error
from .fake import InstagramFake
from .webhooks import parse_seen_events

__all__ = [
    "Instagram",
    "register_providers",
    "CHANNEL",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
]

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

CHANNEL = ChannelSpec(
    provider=PROVIDER,
    kinds=frozenset({MessageKind.TEXT}),
    # Only a user opens a conversation; we may answer for 24 h after their last message.
    window_seconds=24 * 3600.0,
    confirmation=DeliveryConfirmation.NONE,
    # Send API: 300 calls/s per Instagram professional account for text.
    rate_per_second=300.0,
    burst=300,
    # the provider's own word that the window is closed (a retry then tries the contact's other chats)
    window_closed_errors=frozenset({"10:outside_allowed_window"}),
    required_settings=("access_token",),
    secret_settings=("access_token", "app_secret"),
    description="Instagram Messaging via the Meta Graph API Send API (text only, 24 h window).",
)


def _setting(integration: Integration, name: str, default: str | None = None) -> str:
    return require_setting(integration, name, provider=PROVIDER, default=default)


def _secrets(integration: Integration, call: HttpCall | None = None) -> tuple[str, ...]:
    # the URL carries the token percent-encoded: redact every spelling
    return secrets_of(integration, CHANNEL, url_encoded=True, call=call)


class Instagram(Provider):
    """Instagram messaging through the Graph API: text replies to people who wrote first."""

    spec = CHANNEL
    fake = InstagramFake()
    #: Graph auth failures are error code 190 (any status); a bare 401 is not one
    auth_failure_statuses = ()

    def build_call(self, integration: Integration, chat_id: str, message: Message) -> HttpCall:
        if isinstance(message, TemplateMessage):
            raise ConfigError(
                f"integration {integration.name!r} is Instagram, which has no message templates "
                f"(asked to send template {message.name!r})",
                hint="use a flow with a text first card for Instagram, or route templates to a WhatsApp integration",
            )
        if not isinstance(message, TextMessage):
            raise ConfigError(f"instagram cannot send a {type(message).__name__}", hint="send a TextMessage")
        token = _setting(integration, "access_token")
        url = base_url(integration, DEFAULT_BASE_URL)
        version = _setting(integration, "api_version", DEFAULT_API_VERSION)
        version = version if version.startswith("v") else f"v{version}"
        account = quote(_setting(integration, "account_id", "me"), safe="")
        return HttpCall(
            method="POST",
            url=f"{url}/{version}/{account}/messages?{urlencode({'access_token': token})}",
            headers={"Content-Type": "application/json"},
            json={
                "recipient": {"id": chat_id},
                # RESPONSE: a reply inside the 24 h window (the only kind automation may send)
                "messaging_type": "RESPONSE",
                "message": {"text": message.text},
            },
            secrets=_secrets(integration),
        )

    def interpret_reply(self, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        secrets = _secrets(integration, call)
        value, why_not = reply.json_body()
        error = value.get("error") if isinstance(value, dict) else None
        if isinstance(error, dict):
            return classify_graph_error(error, integration=integration.name, http_status=reply.status, secrets=secrets)
        if 200 <= reply.status < 300:
            if why_not is not None:
                return malformed_reply(reply.status, why_not, secrets=secrets)
            message_id = value.get("message_id") if isinstance(value, dict) else None
            if not isinstance(message_id, str) or not message_id:
                return malformed_reply(reply.status, "success reply has no message_id", secrets=secrets)
            # No receipts will follow on Instagram: acceptance is all we will ever know.
            return Delivered(message_id=redact(message_id, secrets), confirmed=True)
        if reply.status >= 500:
            return server_error()
        if reply.status == 429:
            # not a Graph error object (a proxy or an edge throttle): still a slow-down
            return RateLimited(retry_after=None, reason=ErrorReason(PROVIDER, "429", "too_many_requests"))
        return malformed_reply(reply.status, why_not or "no Graph error object in the reply", secrets=secrets)

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        app_secret = integration.settings.get("app_secret")
        if not isinstance(app_secret, str) or not app_secret:
            # Accepting unsigned webhooks would let anyone rewrite rows; refusing them all
            # silently would hide the cause. Say what is missing.
            raise ConfigError(
                f"integration {integration.name!r} (instagram) cannot check webhook signatures: no 'app_secret' setting",
                hint="set app_secret to the Meta app's secret (App Dashboard > Settings > Basic)",
            )
        return meta_signature_ok(app_secret=app_secret, headers=headers, body=body)

    def parse_callback(
        self, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> Sequence[DeliveryUpdate]:
        return parse_seen_events(body, secrets=_secrets(integration))


@hookimpl
def register_providers(register: Register) -> None:
    register(Instagram())
