"""Test helpers: an Instagram-shaped fake Graph server (``send`` runs a call through it).

Not a test module (no ``test_`` prefix); imported by the tests in this folder.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from broadcaster.core.models import Integration
from broadcaster.testing import send_through_mock

TOKEN = "IGQVJtok/en+SECRET=42"  # needs percent-encoding in a query string, on purpose
APP_SECRET = "app-secret-7f3a9c"
INTEGRATION = Integration(
    name="ig-main", provider="instagram", settings={"access_token": TOKEN, "app_secret": APP_SECRET}
)


def graph_error(code: int, subcode: int | None = None, message: str = "An error", **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "IGApiException", "code": code, "fbtrace_id": "AbC123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


# the HttpCall <-> httpx bridge is broadcaster.testing's
send = send_through_mock


class FakeGraph:
    """Answers like the Send API: checks path, token and body, then replies per recipient.

    ``script`` maps a recipient id to ``(http_status, json_body)``; other recipients get
    a success with ``message_id`` ``mid.<recipient>``.
    """

    def __init__(self, script: dict[str, tuple[int, Any]] | None = None, *, version: str = "v21.0") -> None:
        self.script = script or {}
        self.version = version
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path != f"/{self.version}/me/messages" or request.method != "POST":
            return httpx.Response(404, json=graph_error(803, message="Unknown path"))
        if request.url.params.get("access_token") != TOKEN:
            return httpx.Response(400, json=graph_error(190, 460, "Error validating access token"))
        body = json.loads(request.content)
        recipient = body["recipient"]["id"]
        if not body.get("message", {}).get("text"):
            return httpx.Response(400, json=graph_error(100, message="(#100) The parameter message is required"))
        if recipient in self.script:
            status, reply = self.script[recipient]
            return httpx.Response(status, json=reply)
        return httpx.Response(200, json={"recipient_id": recipient, "message_id": f"mid.{recipient}"})


# -- the providers.md §3 catalogue, as (http status, reply body, expected result) ------------

from broadcaster.core.outcomes import ErrorKind  # noqa: E402
from broadcaster.core.reasons import ErrorReason  # noqa: E402
from broadcaster.core.results import Failed, RateLimited  # noqa: E402

AUTH_FAILED = Failed(ErrorKind.INTEGRATION, ErrorReason("ig-main", None, "auth_failed"))


def _failed(kind: ErrorKind, code: str, reason: str) -> Failed:
    return Failed(kind, ErrorReason("instagram", code, reason))


def _throttled(code: str, reason: str, scope: str = "integration") -> RateLimited:
    return RateLimited(retry_after=None, reason=ErrorReason("instagram", code, reason), scope=scope)


WINDOW = _failed(ErrorKind.PERMANENT_CONTACT, "10", "outside_allowed_window")

CATALOGUE: dict[str, tuple[int, Any, object]] = {
    "10/2534022 window (IG login)": (
        403,
        graph_error(10, 2534022, "This message is sent outside of allowed window."),
        WINDOW,
    ),
    "10/2018278 window (page token)": (400, graph_error(10, 2018278), WINDOW),
    "10/2018108 window (news)": (400, graph_error(10, 2018108), WINDOW),
    "10 no subcode = permission": (403, graph_error(10, None, "(#10) Permission denied"), AUTH_FAILED),
    "10 other subcode = permission": (403, graph_error(10, 1234567), AUTH_FAILED),
    "551/1545041 unavailable": (
        400,
        graph_error(551, 1545041, "(#551) This person isn't available right now."),
        _failed(ErrorKind.PERMANENT_CONTACT, "551", "user_unavailable"),
    ),
    "100 invalid parameter": (400, graph_error(100), _failed(ErrorKind.PAYLOAD, "100", "invalid_parameter")),
    "100/2018001 no matching user": (
        400,
        graph_error(100, 2018001, "No matching user found"),
        _failed(ErrorKind.PERMANENT_CONTACT, "100", "no_matching_user"),
    ),
    "190/458": (400, graph_error(190, 458), AUTH_FAILED),
    "190/459": (400, graph_error(190, 459), AUTH_FAILED),
    "190/460": (400, graph_error(190, 460), AUTH_FAILED),
    "190/463 expired": (400, graph_error(190, 463), AUTH_FAILED),
    "190/464": (400, graph_error(190, 464), AUTH_FAILED),
    "190/467": (400, graph_error(190, 467), AUTH_FAILED),
    "102 session": (400, graph_error(102), AUTH_FAILED),
    "3 capability": (400, graph_error(3), AUTH_FAILED),
    "200 permission": (403, graph_error(200), AUTH_FAILED),
    "230 pages_messaging": (403, graph_error(230), AUTH_FAILED),
    "299 permission": (403, graph_error(299), AUTH_FAILED),
    "4 app limit": (400, graph_error(4), _throttled("4", "app_rate_limit")),
    "17 user limit": (400, graph_error(17), _throttled("17", "user_rate_limit")),
    "32 page limit": (400, graph_error(32), _throttled("32", "page_rate_limit")),
    "613 rate limit": (400, graph_error(613), _throttled("613", "rate_limit")),
    "9/2018352 too many actions": (400, graph_error(9, 2018352), _throttled("9", "too_many_actions")),
    "4/2018354 notification frequency": (
        400,
        graph_error(4, 2018354),
        _throttled("4", "notification_frequency", scope="contact"),
    ),
    "341 app limit": (400, graph_error(341), _throttled("341", "app_limit")),
    "368 policy block": (400, graph_error(368), _failed(ErrorKind.INTEGRATION, "368", "policy_blocked")),
    "1200 temporary": (500, graph_error(1200), _failed(ErrorKind.TRANSIENT, "1200", "temporary_failure")),
    "2 service": (500, graph_error(2), _failed(ErrorKind.TRANSIENT, "2", "service_error")),
    "1 unknown": (500, graph_error(1), _failed(ErrorKind.TRANSIENT, "1", "unknown")),
    "1/99 unknown": (400, graph_error(1, 99), _failed(ErrorKind.TRANSIENT, "1", "unknown")),
    # Meta: "Received invalid JSON reply" — the message was sent; never resent silently
    "1/1357046 invalid JSON reply": (
        500,
        graph_error(1, 1357046, "Received Invalid JSON reply."),
        _failed(ErrorKind.UNKNOWN, "1", "received_invalid_json_reply"),
    ),
    "5xx without Graph body": (503, {"unavailable": True}, _failed(ErrorKind.TRANSIENT, "5xx", "server_error")),
}
