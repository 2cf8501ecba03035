"""Everything a provider plugin needs, from one module.

::

    from broadcaster.plugin import ChannelSpec, HttpCall, Provider, hookimpl, ...

    class Acme(Provider):
        spec = ChannelSpec(provider="acme", required_settings=("token",), secret_settings=("token",))

        def build_call(self, integration, chat_id, message): ...
        def interpret_reply(self, integration, call, reply): ...

    @hookimpl
    def register_providers(register):
        register(Acme())

The names are imported eagerly (no lazy loading), so mypy in a plugin's own repository
sees their real types. See ``docs/writing-a-plugin.md``.
"""

from __future__ import annotations

from .core.channels import ChannelSpec, DeliveryConfirmation, MessageKind
from .core.errors import ConfigError
from .core.http import HttpCall, HttpReply, redact
from .core.models import Integration, Message, TemplateMessage, TextMessage
from .core.outcomes import ErrorKind
from .core.reasons import ErrorReason
from .core.results import (
    Delivered,
    DeliveryUpdate,
    Failed,
    OutcomeUnknown,
    RateLimited,
    RateState,
    Rerouted,
    SendResult,
)
from .hookspecs import Register, hookimpl
from .pluginkit import (
    base_url,
    header_value,
    json_object,
    malformed_reply,
    rate_state,
    reason_from_text,
    require_setting,
    retry_after_header,
    same_secret,
    secrets_of,
)
from .provider import ExampleReply, Provider

__all__ = [
    "ChannelSpec",
    "ConfigError",
    "Delivered",
    "DeliveryConfirmation",
    "DeliveryUpdate",
    "ErrorKind",
    "ErrorReason",
    "ExampleReply",
    "Failed",
    "HttpCall",
    "HttpReply",
    "Integration",
    "Message",
    "MessageKind",
    "OutcomeUnknown",
    "Provider",
    "RateLimited",
    "RateState",
    "Register",
    "Rerouted",
    "SendResult",
    "TemplateMessage",
    "TextMessage",
    "base_url",
    "header_value",
    "hookimpl",
    "json_object",
    "malformed_reply",
    "rate_state",
    "reason_from_text",
    "redact",
    "require_setting",
    "retry_after_header",
    "same_secret",
    "secrets_of",
]
