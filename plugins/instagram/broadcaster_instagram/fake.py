"""The fake server of the simulator: Instagram Messaging: ``POST /{version}/{account}/messages?access_token=...``; errors are
Graph error objects (``IGApiException``), ``code`` plus ``error_subcode``."""

from __future__ import annotations

import re
from typing import Mapping

from broadcaster.fake import Target, Verdict, WireReply, WireRequest, graph_error, json_reply

__all__ = ["InstagramFake"]

_PATH = re.compile(r"/(?P<version>v\d+(?:\.\d+)?)/(?P<account>[^/]+)/messages\Z")

#: verdict -> (HTTP status, code, subcode, message)
_ERRORS = {
    Verdict.THROTTLED: (400, 613, None, "Calls to this API have exceeded the rate limit."),
    Verdict.AUTH_FAILED: (400, 190, 460, "Error validating access token: the session has been invalidated."),
    Verdict.BLOCKED: (400, 551, 1545041, "This person isn't available right now."),
    Verdict.UNREGISTERED: (400, 100, 2018001, "No matching user found"),
    Verdict.OPTED_OUT: (400, 551, 1545041, "This person isn't available right now."),
    Verdict.WINDOW_CLOSED: (403, 10, 2534022, "This message is sent outside of allowed window."),
}


_CHAT_BASE = 17_841_400_000_000_000


class InstagramFake:
    batch_endpoints: frozenset[str] = frozenset()
    settings: Mapping[str, str] = {"access_token": "rehearsal-token"}
    credential_setting = "access_token"
    base_path = ""

    def route(self, method: str, path: str) -> str | None:
        return "messages" if method == "POST" and _PATH.match(path) else None

    def credentials(self, request: WireRequest) -> str | None:
        token = request.query.get("access_token")
        if token:
            return token
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def not_found(self) -> WireReply:
        return graph_error(400, 100, "Unsupported post request.", error_type="IGApiException", product=None)

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        body = request.body if isinstance(request.body, dict) else {}
        recipient, message = body.get("recipient"), body.get("message")
        igsid = recipient.get("id") if isinstance(recipient, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(igsid, str) or not igsid:
            return graph_error(400, 100, "(#100) param recipient must be non-empty.", error_type="IGApiException")
        if not isinstance(text, str) or not text:
            return graph_error(400, 100, "(#100) Message text is required", error_type="IGApiException")
        return [Target(igsid, True, text)]

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        if verdict is Verdict.ACCEPTED:
            return json_reply(
                200, {"recipient_id": target.chat_id, "message_id": f"aWdfZAG1faXRlbTpTYW5kYm94{message_id:010d}"}
            )
        if verdict is Verdict.SERVER_ERROR:
            # Meta's edge answers a blip with a bare 5xx, not a Graph error object.
            return WireReply(502, {"content-type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>")
        status, code, subcode, message = _ERRORS[verdict]
        return graph_error(status, code, message, subcode=subcode, error_type="IGApiException", product=None)

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        raise NotImplementedError("Instagram has no batch endpoint")

    def chat_id(self, index: int) -> str:
        return str(_CHAT_BASE + index)

    def chat_index(self, chat_id: str) -> int | None:
        return int(chat_id) - _CHAT_BASE if chat_id.isdigit() and int(chat_id) >= _CHAT_BASE else None
