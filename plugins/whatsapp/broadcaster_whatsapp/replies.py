"""Reading a Cloud API ``/messages`` reply into a SendResult (pure; never raises on input)."""

from __future__ import annotations

from typing import Iterable

from broadcaster.core.http import HttpReply
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, RateLimited, SendResult
from broadcaster.pluginkit import json_object, malformed_reply, reason_from_text, retry_after_header

from .errors import PAIR_RATE_RETRY_AFTER, PROVIDER, classify, read_error

__all__ = ["interpret"]


def _code(status: int) -> str:
    return str(status) if 100 <= status <= 999 else "http"


def _unreadable(reply: HttpReply, why: str, *, integration_name: str, secrets: Iterable[str]) -> SendResult:
    """A reply with no Graph error object to read (a proxy's page, garbage, a cut body).

    It says nothing about the contact or the payload, so it is never a permanent failure:
    on a 2xx the message may have gone out (UNKNOWN, never resent silently), otherwise
    something in between answered (TRANSIENT); 429 and 401 keep what the status says.
    """
    status = reply.status
    if status == 429:
        return RateLimited(retry_after_header(reply), ErrorReason(PROVIDER, "429", "too_many_requests"))
    if status == 401:
        # no error object to read, but the status alone says the token was refused
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration_name))
    if status >= 500:
        return Failed(ErrorKind.TRANSIENT, reason_from_text(PROVIDER, "5xx", why, secrets=secrets))
    return malformed_reply(PROVIDER, status, why, secrets=secrets)


def interpret(reply: HttpReply, *, integration_name: str, secrets: Iterable[str]) -> SendResult:
    secrets = tuple(secrets)
    body = json_object(reply)
    if isinstance(body, str):
        return _unreadable(reply, body, integration_name=integration_name, secrets=secrets)
    if 200 <= reply.status < 300 and "error" not in body:
        messages = body.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if isinstance(wamid, str) and wamid:
            # accepted, not delivered: the status webhook confirms or fails it later
            return Delivered(message_id=wamid, confirmed=False)
        return malformed_reply(PROVIDER, reply.status, "reply without messages[0].id", secrets=secrets)
    error = read_error(body.get("error"))
    if error is None:
        return _unreadable(
            reply, "error reply without an integer error.code", integration_name=integration_name, secrets=secrets
        )
    kind, reason = classify(error, integration_name=integration_name, secrets=secrets, status=reply.status)
    if kind is ErrorKind.RATE_LIMITED:
        pair_limit = error.code == 131056
        hint = retry_after_header(reply)
        if hint is None and pair_limit:
            hint = PAIR_RATE_RETRY_AFTER
        return RateLimited(hint, reason, scope="contact" if pair_limit else "integration")
    return Failed(kind, reason)
