"""Viber's ``status`` catalogue: errors arrive as HTTP 200 with a non-zero integer ``status``.

Keyed on the integer only — the ``status_message`` text varies between Viber's own docs
(``tooManyRequests`` vs ``Too many requests``). Sources: providers.md §4.
"""

from __future__ import annotations

from typing import Any, Final, Mapping

import attrs

from broadcaster import pluginkit
from broadcaster.core.http import HttpReply
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Failed, RateLimited, SendResult
from broadcaster.pluginkit import json_object

__all__ = ["PROVIDER", "read_body", "result_for_status"]

PROVIDER: Final = "viber"

_P, _C, _I = ErrorKind.PAYLOAD, ErrorKind.PERMANENT_CONTACT, ErrorKind.INTEGRATION


@attrs.frozen
class _Rule:
    kind: ErrorKind
    #: None means ``<integration>:auth_failed``
    reason: str | None


_STATUSES: Final[Mapping[int, _Rule]] = {
    1: _Rule(_I, "invalid_url"),  # the webhook URL is not valid
    2: _Rule(_I, None),  # invalidAuthToken
    3: _Rule(_P, "bad_data"),
    4: _Rule(_P, "missing_data"),
    5: _Rule(_C, "receiver_not_registered"),
    6: _Rule(_C, "receiver_not_subscribed"),
    7: _Rule(_I, "account_blocked"),
    8: _Rule(_I, "account_not_found"),
    9: _Rule(_I, "account_suspended"),
    10: _Rule(_I, "webhook_not_set"),  # Viber refuses to send until set_webhook is done
    11: _Rule(_C, "no_suitable_device"),
    # 12 (tooManyRequests) is rate limiting: see result_for_status
    13: _Rule(_C, "api_version_not_supported"),  # every device of this user is too old
    14: _Rule(_P, "incompatible_with_version"),
    15: _Rule(_I, "account_not_authorized"),
    16: _Rule(_P, "inline_not_allowed"),
    17: _Rule(_P, "not_inline"),
    18: _Rule(_P, "no_public_chat"),
    19: _Rule(_I, "cannot_send_broadcast"),  # broadcasting not enabled for this bot
    20: _Rule(_I, "broadcast_not_allowed"),
    # Viber's later codes (its Swift/TS/PHP clients list them alike)
    21: _Rule(_C, "unsupported_country"),  # not supported in this receiver's country
    22: _Rule(_P, "payment_unsupported"),  # this bot cannot send payment messages
    23: _Rule(_I, "free_messages_exceeded"),  # the monthly free out-of-session quota is spent
    24: _Rule(_I, "no_balance"),  # a billable bot past its free quota, with no balance
}

TOO_MANY_REQUESTS: Final = 12


def result_for_status(status: int, *, integration: str) -> SendResult:
    """The result for a non-zero Viber ``status``."""
    if status == TOO_MANY_REQUESTS:
        # Global or the per-user 100/h cap; providers.md §5 advises backing off only the
        # contact. Viber gives no retry hint.
        reason = ErrorReason(PROVIDER, "12", "too_many_requests")
        return RateLimited(retry_after=None, reason=reason, scope="contact")
    rule = _STATUSES.get(status)
    if rule is None:
        # Viber's "general error": unspecified, so possibly a blip; dispatcher caps retries.
        code = str(status) if status >= 0 else f"neg{-status}"
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, code, "general_error"))
    if rule.reason is None:
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration))
    return Failed(rule.kind, ErrorReason(PROVIDER, str(status), rule.reason))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def malformed_reply(http_status: int, why: str, *, secrets: tuple[str, ...]) -> Failed:
    return pluginkit.malformed_reply(PROVIDER, http_status, why, secrets=secrets)


def read_body(reply: HttpReply, *, integration: str, secrets: tuple[str, ...]) -> dict[str, Any] | SendResult:
    """The 200 body of a successful call, or the result that ends the story.

    Viber answers errors as HTTP 200 + non-zero ``status``; an HTTP-level error only comes
    from the transport layer in front of chatapi, so it is transient (providers.md §4).
    """
    if reply.status >= 500:
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", "server_error"))
    value = json_object(reply, not_an_object="the reply is not a JSON object")
    if not 200 <= reply.status < 300:
        if isinstance(value, str):
            # a proxy's page or garbage: transient, and the reason says it was unreadable
            return malformed_reply(reply.status, value, secrets=secrets)
        code = str(reply.status) if reply.status >= 0 else "http"
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, code, "http_error"))
    if isinstance(value, str):
        return malformed_reply(reply.status, value, secrets=secrets)
    status = _int(value.get("status"))
    if status is None:
        return malformed_reply(reply.status, "the reply has no integer status", secrets=secrets)
    if status != 0:
        return result_for_status(status, integration=integration)
    return value


def message_token(body: Mapping[str, Any]) -> str | None:
    """``message_token`` is a 64-bit integer (some proxies stringify it); None if absent."""
    token = body.get("message_token")
    if _int(token) is not None:
        return str(token)
    if isinstance(token, str) and token.strip():
        return token.strip()
    return None
