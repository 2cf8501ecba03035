"""Reading a Cloud API ``/messages`` reply into a SendResult (pure; never raises on input)."""

from __future__ import annotations

import math
from typing import Iterable

from broadcaster.core.http import HttpReply, redact
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason, sanitize_reason_text
from broadcaster.core.results import Delivered, Failed, RateLimited, SendResult

from .errors import PAIR_RATE_RETRY_AFTER, PROVIDER, classify, kind_for_status, read_error

__all__ = ["interpret"]


def _code(status: int) -> str:
    return str(status) if 100 <= status <= 999 else "http"


def _header_hint(reply: HttpReply) -> float | None:
    # Graph rarely sends Retry-After; when it does, a number of seconds is honoured
    header = reply.header("retry-after")
    try:
        seconds = float(header.strip()) if header is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _unreadable(reply: HttpReply, why: str, *, integration_name: str, secrets: Iterable[str]) -> SendResult:
    status = reply.status
    if status == 429:
        return RateLimited(_header_hint(reply), ErrorReason(PROVIDER, "429", "too_many_requests"))
    if status == 401:
        # no error object to read, but the status alone says the token was refused
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration_name))
    if status >= 500:
        return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", sanitize_reason_text(redact(why, secrets))))
    return Failed(
        kind_for_status(status), ErrorReason(PROVIDER, _code(status), sanitize_reason_text(redact(why, secrets)))
    )


def interpret(reply: HttpReply, *, integration_name: str, secrets: Iterable[str]) -> SendResult:
    secrets = tuple(secrets)
    body, problem = reply.json_body()
    if problem is not None:
        return _unreadable(reply, problem, integration_name=integration_name, secrets=secrets)
    if not isinstance(body, dict):
        return _unreadable(reply, "reply is not a JSON object", integration_name=integration_name, secrets=secrets)
    if 200 <= reply.status < 300 and "error" not in body:
        messages = body.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        if isinstance(wamid, str) and wamid:
            # accepted, not delivered: the status webhook confirms or fails it later
            return Delivered(message_id=wamid, confirmed=False)
        return Failed(ErrorKind.UNKNOWN, ErrorReason(PROVIDER, _code(reply.status), "reply without messages[0].id"))
    error = read_error(body.get("error"))
    if error is None:
        return _unreadable(
            reply, "error reply without an integer error.code", integration_name=integration_name, secrets=secrets
        )
    kind, reason = classify(error, integration_name=integration_name, secrets=secrets, status=reply.status)
    if kind is ErrorKind.RATE_LIMITED:
        pair_limit = error.code == 131056
        hint = _header_hint(reply)
        if hint is None and pair_limit:
            hint = PAIR_RATE_RETRY_AFTER
        return RateLimited(hint, reason, scope="contact" if pair_limit else "integration")
    return Failed(kind, reason)
