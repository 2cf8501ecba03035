"""Test helpers: a Viber-shaped fake chatapi server (``send`` runs a call through it).

Not a test module (no ``test_`` prefix); imported by the tests in this folder.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from broadcaster.core.models import Integration
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Failed, RateLimited
from broadcaster.testing import send_through_mock

TOKEN = "4453b6ac9f2e71d3-e02c5f12174805f9-daec9cbb5448c51f"
INTEGRATION = Integration(name="viber-main", provider="viber", settings={"auth_token": TOKEN, "sender_name": "Shop"})
TOKEN_VALUE = 5741311803571721087

STATUS_MESSAGES = {
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline",
    18: "noPublicChat",
    19: "cannotSendBroadcast",
    20: "broadcastNotAllowed",
    21: "unsupportedCountry",
    22: "paymentUnsupported",
    23: "freeMessagesExceeded",
    24: "noBalance",
}


def _f(kind: ErrorKind, status: int, reason: str) -> Failed:
    return Failed(kind, ErrorReason("viber", str(status), reason))


P, C, INTEG = ErrorKind.PAYLOAD, ErrorKind.PERMANENT_CONTACT, ErrorKind.INTEGRATION

#: providers.md §4, row by row: status -> expected result
CATALOGUE: dict[int, object] = {
    1: _f(INTEG, 1, "invalid_url"),
    2: Failed(INTEG, ErrorReason("viber-main", None, "auth_failed")),
    3: _f(P, 3, "bad_data"),
    4: _f(P, 4, "missing_data"),
    5: _f(C, 5, "receiver_not_registered"),
    6: _f(C, 6, "receiver_not_subscribed"),
    7: _f(INTEG, 7, "account_blocked"),
    8: _f(INTEG, 8, "account_not_found"),
    9: _f(INTEG, 9, "account_suspended"),
    10: _f(INTEG, 10, "webhook_not_set"),
    11: _f(C, 11, "no_suitable_device"),
    12: RateLimited(retry_after=None, reason=ErrorReason("viber", "12", "too_many_requests"), scope="contact"),
    13: _f(C, 13, "api_version_not_supported"),
    14: _f(P, 14, "incompatible_with_version"),
    15: _f(INTEG, 15, "account_not_authorized"),
    16: _f(P, 16, "inline_not_allowed"),
    17: _f(P, 17, "not_inline"),
    18: _f(P, 18, "no_public_chat"),
    19: _f(INTEG, 19, "cannot_send_broadcast"),
    20: _f(INTEG, 20, "broadcast_not_allowed"),
    21: _f(C, 21, "unsupported_country"),
    22: _f(P, 22, "payment_unsupported"),
    23: _f(INTEG, 23, "free_messages_exceeded"),
    24: _f(INTEG, 24, "no_balance"),
}


def error_body(status: int) -> dict[str, Any]:
    return {"status": status, "status_message": STATUS_MESSAGES.get(status, "generalError")}


# the HttpCall <-> httpx bridge is broadcaster.testing's
send = send_through_mock


class FakeViber:
    """Answers like chatapi: every answer is HTTP 200; errors are a non-zero ``status``.

    ``per_receiver`` maps a user id to a status (a send to it fails with it, a broadcast
    lists it in ``failed_list``); ``whole`` makes every call answer that status.
    """

    def __init__(self, per_receiver: dict[str, int] | None = None, *, whole: int | None = None) -> None:
        self.per_receiver = per_receiver or {}
        self.whole = whole
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("X-Viber-Auth-Token") != TOKEN:
            return httpx.Response(200, json=error_body(2))
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(200, json=error_body(3))
        if not body.get("sender", {}).get("name"):
            return httpx.Response(200, json=error_body(4))
        if self.whole is not None:
            return httpx.Response(200, json=error_body(self.whole))
        ok = {"status": 0, "status_message": "ok", "message_token": TOKEN_VALUE, "chat_hostname": "SN-CHAT-05_"}
        if request.url.path == "/pa/send_message":
            status = self.per_receiver.get(body["receiver"], 0)
            return httpx.Response(200, json=error_body(status) if status else ok)
        if request.url.path == "/pa/broadcast_message":
            failed = [
                {"receiver": user, "status": self.per_receiver[user], **{"status_message": "x"}}
                for user in body["broadcast_list"]
                if user in self.per_receiver
            ]
            return httpx.Response(200, json={**ok, "failed_list": failed})
        return httpx.Response(404, text="Not Found")
