"""Reading a Telegram Bot API reply into a SendResult (pure; never raises on input).

Telegram says its ``error_code`` is "subject to change", so errors are keyed on the HTTP
status plus the ``description`` text (providers.md §1). The Bot API server turns a 403
whose text is a raw UPPER_CASE MTProto error into a 400, which is why
``CHAT_WRITE_FORBIDDEN`` is listed under 400 and 403 alike.
"""

from __future__ import annotations

from typing import Any, Final, Iterable

from broadcaster.core.http import HttpReply
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, RateLimited, Rerouted, SendResult
from broadcaster.pluginkit import json_object, malformed_reply, reason_from_text, retry_after_header, seconds

__all__ = ["PROVIDER", "DESCRIPTIONS", "interpret", "retry_after_hint"]

PROVIDER: Final = "telegram"

_C, _P = ErrorKind.PERMANENT_CONTACT, ErrorKind.PAYLOAD

#: (statuses, lower-cased description prefix) -> (kind, canonical reason token); first match wins
DESCRIPTIONS: Final[tuple[tuple[frozenset[int], str, ErrorKind, str], ...]] = (
    (frozenset({403}), "forbidden: bot was blocked by the user", _C, "blocked_by_user"),
    (frozenset({403}), "forbidden: user is deactivated", _C, "user_deactivated"),
    (frozenset({403}), "forbidden: bot was kicked from the", _C, "bot_kicked"),
    (frozenset({403}), "forbidden: bot is not a member of the", _C, "bot_not_member"),
    (frozenset({403}), "forbidden: the group chat was deleted", _C, "chat_deleted"),
    (frozenset({403}), "forbidden: bot can't initiate conversation with a user", _C, "cant_initiate_conversation"),
    (frozenset({403}), "forbidden: bot can't send messages to bots", _C, "recipient_is_bot"),
    (frozenset({400}), "bad request: chat not found", _C, "chat_not_found"),
    (frozenset({400}), "bad request: group chat was upgraded to a supergroup chat", _C, "chat_migrated"),
    (frozenset({400}), "bad request: message text is empty", _P, "message_text_empty"),
    (frozenset({400}), "bad request: message is too long", _P, "message_too_long"),
    (frozenset({400}), "bad request: can't parse entities", _P, "cant_parse_entities"),
    (frozenset({400, 403}), "bad request: chat_write_forbidden", _C, "no_write_rights"),
    (frozenset({400, 403}), "forbidden: chat_write_forbidden", _C, "no_write_rights"),
    (frozenset({400, 403}), "bad request: have no rights to send a message", _C, "no_write_rights"),
)


def _code(status: int) -> str:
    return str(status) if 100 <= status <= 999 else "http"


def _reason(status: int, text: str, secrets: Iterable[str]) -> ErrorReason:
    return reason_from_text(PROVIDER, _code(status), text, secrets=secrets)


def _kind_for_status(status: int) -> ErrorKind:
    """For a *readable* Telegram error (ok: false + description) nobody catalogued."""
    if status == 403:
        return ErrorKind.PERMANENT_CONTACT
    if 400 <= status < 500:
        return ErrorKind.PAYLOAD
    if status >= 500:
        return ErrorKind.TRANSIENT
    # a 2xx/3xx we could not read: the message may well have gone out
    return ErrorKind.UNKNOWN


def retry_after_hint(body_parameters: Any, reply: HttpReply) -> float | None:
    """The body's ``parameters.retry_after`` if usable, else a numeric ``Retry-After`` header."""
    if isinstance(body_parameters, dict):
        hint = seconds(body_parameters.get("retry_after"))
        if hint is not None:
            return hint
    return retry_after_header(reply)


def _chat_id(value: Any) -> str | None:
    """A usable chat id to move to: a non-zero integer (or its digits); else None.

    Chat 0 does not exist: rerouting to it would fail every contact of the group twice.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.lstrip("-").isdigit() and value.count("-") <= 1:
        value = int(value)
    if isinstance(value, int) and value != 0:
        return str(value)
    return None


def _unreadable(reply: HttpReply, parameters: Any, why: str, secrets: Iterable[str]) -> SendResult:
    """A reply that is not Telegram's ``{"ok": ...}`` shape (a proxy's page, garbage).

    A 429 is a slow-down whatever the body (its ``Retry-After`` header still counts); a 5xx
    a server blip; anything else says nothing about the contact or the payload, so it is
    never a permanent failure: on a 2xx the message may have gone out (UNKNOWN), otherwise
    something in between answered (TRANSIENT).
    """
    status = reply.status
    if status == 429:
        return RateLimited(retry_after_hint(parameters, reply), ErrorReason(PROVIDER, "429", "too_many_requests"))
    if status >= 500:
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", "server_error"))
    return malformed_reply(PROVIDER, status, why, secrets=secrets)


def interpret(reply: HttpReply, *, integration_name: str, secrets: Iterable[str]) -> SendResult:
    """Map one sendMessage reply to a SendResult."""
    secrets = tuple(secrets)
    status = reply.status
    if status in (401, 404):
        # a bad or revoked token (404 is what a malformed token in the URL gives)
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration_name))
    body = json_object(reply)
    if isinstance(body, str):
        return _unreadable(reply, None, body, secrets)
    parameters = body.get("parameters")
    ok = body.get("ok")
    if ok is True:
        if not 200 <= status < 300:
            return _unreadable(reply, parameters, f"ok reply with HTTP status {status}", secrets)
        result = body.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if isinstance(message_id, int) and not isinstance(message_id, bool):
            return Delivered(message_id=str(message_id), confirmed=True)
        return malformed_reply(PROVIDER, status, "ok reply without result.message_id", secrets=secrets)
    if ok is not False:
        return _unreadable(reply, parameters, "reply has no boolean 'ok'", secrets)
    # aiogram's order: a flood-wait hint first, then a migration, then the status
    flood_wait = isinstance(parameters, dict) and seconds(parameters.get("retry_after")) is not None
    if status == 429 or flood_wait:
        return RateLimited(retry_after_hint(parameters, reply), ErrorReason(PROVIDER, "429", "too_many_requests"))
    if isinstance(parameters, dict) and "migrate_to_chat_id" in parameters:
        new_chat = _chat_id(parameters.get("migrate_to_chat_id"))
        if new_chat is not None:
            return Rerouted(chat_id=new_chat, reason=ErrorReason(PROVIDER, "400", "chat_migrated"))
    if status >= 500:
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", "server_error"))
    description = body.get("description")
    if not isinstance(description, str):
        return _unreadable(reply, parameters, "error reply without a description", secrets)
    lowered = " ".join(description.lower().split())
    for statuses, prefix, kind, token in DESCRIPTIONS:
        if status in statuses and lowered.startswith(prefix):
            return Failed(kind, ErrorReason(PROVIDER, str(status), token))
    if 200 <= status < 300:
        # ok:false with a 2xx is not something Telegram sends; don't guess it failed for good
        return Failed(ErrorKind.UNKNOWN, _reason(status, description, secrets))
    return Failed(_kind_for_status(status), _reason(status, description, secrets))
