"""Instagram's Graph API error catalogue, keyed on ``(code, error_subcode)``.

Meta documents ``code`` + ``error_subcode`` as the stable part of a Graph error; the
``message`` text is for humans and changes. Code 10 is overloaded: with a window subcode
it means "the 24 h window is closed" (this contact, for now), with any other subcode it
means "permission denied" (the whole integration). Sources and confidence for every row
are in ``providers.md`` §3.
"""

from __future__ import annotations

import re
from typing import Any, Final, Mapping

import attrs

from broadcaster import pluginkit
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Failed, RateLimited, SendResult
from broadcaster.pluginkit import reason_from_text

__all__ = ["PROVIDER", "classify_graph_error", "malformed_reply", "server_error"]

PROVIDER: Final = "instagram"


@attrs.frozen
class _Rule:
    kind: ErrorKind
    #: the reason token; None means ``<integration>:auth_failed``
    reason: str | None
    #: for RATE_LIMITED: who is throttled (the whole account, or only this recipient)
    scope: str = "integration"


def _auth() -> _Rule:
    return _Rule(ErrorKind.INTEGRATION, None)


def _throttled(reason: str, *, scope: str = "integration") -> _Rule:
    return _Rule(ErrorKind.RATE_LIMITED, reason, scope)


_WINDOW_CLOSED: Final = _Rule(ErrorKind.PERMANENT_CONTACT, "outside_allowed_window")

#: exact (code, subcode) rows win over code-only rows
_BY_CODE_AND_SUBCODE: Final[Mapping[tuple[int, int], _Rule]] = {
    (10, 2534022): _WINDOW_CLOSED,  # Instagram Login API
    (10, 2018278): _WINDOW_CLOSED,  # Messenger-style subcode, also seen through Page tokens
    (10, 2018108): _WINDOW_CLOSED,  # outside window, needs News Messaging permission
    # "No matching user found": the subcode is low-confidence (providers.md), but when it
    # does come it names the recipient, not the payload.
    (100, 2018001): _Rule(ErrorKind.PERMANENT_CONTACT, "no_matching_user"),
    (9, 2018352): _throttled("too_many_actions"),
    # minimum delay between two marketing notifications to the same person
    (4, 2018354): _throttled("notification_frequency", scope="contact"),
    # "Received invalid JSON reply": Meta says the message was sent all the same, so its
    # fate is unknown to us — recorded as outcome_unknown, never resent silently
    (1, 1357046): _Rule(ErrorKind.UNKNOWN, "received_invalid_json_reply"),
}

_BY_CODE: Final[Mapping[int, _Rule]] = {
    10: _auth(),  # permission denied (every subcode not listed above)
    551: _Rule(ErrorKind.PERMANENT_CONTACT, "user_unavailable"),
    100: _Rule(ErrorKind.PAYLOAD, "invalid_parameter"),
    190: _auth(),  # token invalid / expired / revoked, whatever the subcode
    102: _auth(),  # API session expired
    3: _auth(),  # capability missing
    4: _throttled("app_rate_limit"),
    17: _throttled("user_rate_limit"),
    32: _throttled("page_rate_limit"),
    613: _throttled("rate_limit"),
    341: _throttled("app_limit"),
    368: _Rule(ErrorKind.INTEGRATION, "policy_blocked"),
    1200: _Rule(ErrorKind.TRANSIENT, "temporary_failure"),
    # Meta: "unexpected error, retry later" (it can also hide a block: the dispatcher's
    # capped retries are what turn a persistent one into a failure)
    2: _Rule(ErrorKind.TRANSIENT, "service_error"),
    1: _Rule(ErrorKind.TRANSIENT, "unknown"),
}

_PERMISSION_CODES: Final = range(200, 300)  # 200-299: a permission is missing (e.g. 230)

#: Graph prefixes messages with "(#<code>) "; the code is already in the string
_CODE_PREFIX: Final = re.compile(r"^\(#\d+\)\s*")


def _int(value: Any) -> int | None:
    # bool is an int subclass; a `true` code is a malformed body, not code 1
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rule_for(code: int, subcode: int | None) -> _Rule | None:
    if subcode is not None and (code, subcode) in _BY_CODE_AND_SUBCODE:
        return _BY_CODE_AND_SUBCODE[(code, subcode)]
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code in _PERMISSION_CODES:
        return _auth()
    return None


def _code_token(code: int) -> str:
    # a reason code cannot start with '-'; Graph has been seen to answer code -1
    return str(code) if code >= 0 else f"neg{-code}"


def classify_graph_error(
    error: Mapping[str, Any], *, integration: str, http_status: int, secrets: tuple[str, ...]
) -> SendResult:
    """Map one Graph ``error`` object to a result; never raises on its contents."""
    code = _int(error.get("code"))
    if code is None:
        return malformed_reply(http_status, "the error object has no integer code", secrets=secrets)
    rule = _rule_for(code, _int(error.get("error_subcode")))
    if rule is None:
        return _unmapped(error, code=code, http_status=http_status, secrets=secrets)
    if rule.reason is None:
        return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration))
    reason = ErrorReason(PROVIDER, str(code), rule.reason)
    if rule.kind is ErrorKind.RATE_LIMITED:
        # Graph errors carry no retry hint (providers.md §3): the dispatcher backs off.
        return RateLimited(retry_after=None, reason=reason, scope=rule.scope)
    return Failed(rule.kind, reason)


def _unmapped(error: Mapping[str, Any], *, code: int, http_status: int, secrets: tuple[str, ...]) -> Failed:
    message = error.get("message")
    text = _CODE_PREFIX.sub("", message) if isinstance(message, str) else ""
    reason = reason_from_text(PROVIDER, _code_token(code), text, secrets=secrets)
    # Meta flags retryable errors with is_transient; otherwise an unknown 4xx is most
    # likely about this request, so retrying the same payload is pointless.
    transient = error.get("is_transient") is True or http_status >= 500
    return Failed(ErrorKind.TRANSIENT if transient else ErrorKind.PAYLOAD, reason)


def malformed_reply(http_status: int, why: str, *, secrets: tuple[str, ...]) -> Failed:
    """A reply we cannot read. On a 2xx the message may well have been sent: UNKNOWN."""
    return pluginkit.malformed_reply(PROVIDER, http_status, why, secrets=secrets)


def server_error() -> Failed:
    return Failed(ErrorKind.TRANSIENT, ErrorReason(PROVIDER, "5xx", "server_error"))
