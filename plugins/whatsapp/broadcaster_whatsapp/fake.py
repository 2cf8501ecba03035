"""The fake server of the simulator: WhatsApp Cloud API: ``POST /{version}/{phone_number_id}/messages`` with a Bearer token;
errors are Graph error objects (key on ``code``)."""

from __future__ import annotations

import re
from typing import Mapping

from broadcaster.fake import Target, Verdict, WireReply, WireRequest, graph_error, json_reply

__all__ = ["WhatsAppFake"]

_PATH = re.compile(r"/(?P<version>v\d+(?:\.\d+)?)/(?P<phone>\d+)/messages\Z")

#: verdict -> (HTTP status, code, message, details)
_ERRORS = {
    Verdict.THROTTLED: (
        429,
        130429,
        "(#130429) Rate limit hit",
        "Cloud API message throughput has been reached.",
    ),
    Verdict.SERVER_ERROR: (503, 131016, "(#131016) Service unavailable", "A service is temporarily unavailable."),
    Verdict.AUTH_FAILED: (
        401,
        190,
        "Error validating access token: The session has been invalidated because the user changed their password.",
        None,
    ),
    Verdict.BLOCKED: (400, 131026, "(#131026) Message undeliverable", "Message Undeliverable."),
    Verdict.UNREGISTERED: (400, 131026, "(#131026) Message undeliverable", "Message Undeliverable."),
    Verdict.OPTED_OUT: (
        400,
        131050,
        "(#131050) Unable to deliver the message",
        "User has chosen to stop receiving marketing messages.",
    ),
    Verdict.WINDOW_CLOSED: (
        400,
        131047,
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
}


class WhatsAppFake:
    batch_endpoints: frozenset[str] = frozenset()
    settings: Mapping[str, str] = {"token": "rehearsal-token", "phone_number_id": "1055"}
    credential_setting = "token"
    base_path = ""

    def route(self, method: str, path: str) -> str | None:
        return "messages" if method == "POST" and _PATH.match(path) else None

    def credentials(self, request: WireRequest) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:] if header.lower().startswith("bearer ") else None

    def not_found(self) -> WireReply:
        return graph_error(400, 100, "Unsupported post request.", details="Unsupported post request.")

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        body = request.body if isinstance(request.body, dict) else {}
        to, kind = body.get("to"), body.get("type")
        if body.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "(#100) The parameter messaging_product is required.", details="missing")
        if not isinstance(to, str) or not to:
            return graph_error(400, 131008, "(#131008) Required parameter is missing", details="to is required")
        if kind == "text":
            text = body.get("text")
            content = text.get("body") if isinstance(text, dict) else None
            if not isinstance(content, str):
                return graph_error(400, 131008, "(#131008) Required parameter is missing", details="text.body")
            return [Target(to.lstrip("+"), True, content)]
        if kind == "template":
            template = body.get("template")
            name = template.get("name") if isinstance(template, dict) else None
            if not isinstance(name, str):
                return graph_error(400, 131008, "(#131008) Required parameter is missing", details="template.name")
            return [Target(to.lstrip("+"), False, f"template:{name}")]
        return graph_error(400, 131051, "(#131051) Unsupported message type", details=f"type {kind!r}")

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        if verdict is Verdict.ACCEPTED:
            return json_reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": target.chat_id, "wa_id": target.chat_id}],
                    "messages": [{"id": f"wamid.HBgMSandbox{message_id:012d}", "message_status": "accepted"}],
                },
            )
        status, code, message, details = _ERRORS.get(verdict, _ERRORS[Verdict.SERVER_ERROR])
        return graph_error(status, code, message, details=details)

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        raise NotImplementedError("WhatsApp has no batch endpoint")

    def chat_id(self, index: int) -> str:
        return f"3519{index:08d}"

    def chat_index(self, chat_id: str) -> int | None:
        ok = chat_id.startswith("3519") and len(chat_id) == 12 and chat_id[4:].isdigit()
        return int(chat_id[4:]) if ok else None
