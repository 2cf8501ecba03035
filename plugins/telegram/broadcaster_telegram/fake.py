"""The fake server of the simulator: Telegram Bot API: ``POST /bot<token>/sendMessage``; errors as ``{"ok": false, ...}``."""

from __future__ import annotations

import re
from typing import Mapping

from broadcaster.fake import Target, Verdict, WireReply, WireRequest, json_reply

__all__ = ["TelegramFake"]

_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)\Z")

#: verdict -> (HTTP status, description): the Bot API server's exact texts
_ERRORS = {
    Verdict.SERVER_ERROR: (500, "Internal Server Error: restart"),
    Verdict.AUTH_FAILED: (401, "Unauthorized"),
    Verdict.BLOCKED: (403, "Forbidden: bot was blocked by the user"),
    Verdict.UNREGISTERED: (400, "Bad Request: chat not found"),
    Verdict.OPTED_OUT: (403, "Forbidden: bot can't initiate conversation with a user"),
}


def _error(status: int, description: str, **extra: object) -> WireReply:
    return json_reply(status, {"ok": False, "error_code": status, "description": description, **extra})


_CHAT_BASE = 700_000_000


class TelegramFake:
    batch_endpoints: frozenset[str] = frozenset()
    settings: Mapping[str, str] = {"token": "424242:rehearsal-token"}
    credential_setting = "token"
    base_path = ""

    def route(self, method: str, path: str) -> str | None:
        match = _PATH.match(path)
        if method == "POST" and match and match["method"] == "sendMessage":
            return "sendMessage"
        return None

    def credentials(self, request: WireRequest) -> str | None:
        match = _PATH.match(request.path)
        return match["token"] if match else None

    def not_found(self) -> WireReply:
        return _error(404, "Not Found: method not found")

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        body = request.body if isinstance(request.body, dict) else {}
        chat_id, text = body.get("chat_id"), body.get("text")
        if chat_id is None or (isinstance(chat_id, str) and not chat_id):
            return _error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text:
            return _error(400, "Bad Request: message text is empty")
        return [Target(str(chat_id), True, text)]

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        if verdict is Verdict.ACCEPTED:
            chat = int(target.chat_id) if target.chat_id.lstrip("-").isdigit() else target.chat_id
            message = {
                "message_id": message_id,
                "from": {"id": 7000000001, "is_bot": True, "first_name": "Sandbox", "username": "sandbox_bot"},
                "chat": {"id": chat, "type": "private"},
                "date": 1767603600 + message_id,
                "text": target.content,
            }
            return json_reply(200, {"ok": True, "result": message})
        if verdict is Verdict.THROTTLED:
            seconds = retry_after if retry_after is not None else 1
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            }
            return json_reply(429, body, {"retry-after": str(seconds)})
        status, description = _ERRORS.get(verdict, (500, "Internal Server Error: restart"))
        return _error(status, description)

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        raise NotImplementedError("Telegram has no batch endpoint")

    def chat_id(self, index: int) -> str:
        return str(_CHAT_BASE + index)

    def chat_index(self, chat_id: str) -> int | None:
        return int(chat_id) - _CHAT_BASE if chat_id.isdigit() and int(chat_id) >= _CHAT_BASE else None
