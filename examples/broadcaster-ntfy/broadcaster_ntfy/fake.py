"""ntfy's server as the simulator plays it: ``POST /`` with a JSON publish body.

Step 4 of writing a plugin (optional, but it opens ``broadcaster simulate``, ``rehearse``
and ``sandbox`` to your provider): say how your provider's server routes and reads a
request and how it answers each :class:`~broadcaster.fake.Verdict`. The simulator
decides *what* happens; this says it the way ntfy does — its error envelope is
``{"code": 42901, "http": 429, "error": "...", "link": "..."}``.
"""

from __future__ import annotations

import re
from typing import Mapping

from broadcaster.fake import Target, Verdict, WireReply, WireRequest, json_reply

__all__ = ["NtfyFake"]

_TOPIC = re.compile(r"sim-topic-(\d{8})\Z")
_LINK = "https://ntfy.sh/docs/publish/"

#: verdict -> (HTTP status, ntfy error code, error text)
_ERRORS = {
    Verdict.THROTTLED: (429, 42901, "limit reached: too many requests, please be nice"),
    Verdict.SERVER_ERROR: (500, 50001, "internal server error"),
    Verdict.AUTH_FAILED: (401, 40101, "unauthorized"),
    # ntfy has no per-subscriber failures; a topic it will not take is a 400
    Verdict.BLOCKED: (400, 40010, "invalid request: topic invalid"),
    Verdict.UNREGISTERED: (400, 40010, "invalid request: topic invalid"),
    Verdict.OPTED_OUT: (400, 40010, "invalid request: topic invalid"),
    Verdict.WINDOW_CLOSED: (400, 40010, "invalid request: topic invalid"),
}


def _error(status: int, code: int, error: str, headers: dict[str, str] | None = None) -> WireReply:
    return json_reply(status, {"code": code, "http": status, "error": error, "link": _LINK}, headers)


class NtfyFake:
    batch_endpoints: frozenset[str] = frozenset()
    settings: Mapping[str, str] = {"token": "tk_rehearsaltoken0000000000000"}
    credential_setting = "token"
    base_path = ""

    def route(self, method: str, path: str) -> str | None:
        return "publish" if method == "POST" and path in ("", "/") else None

    def credentials(self, request: WireRequest) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def not_found(self) -> WireReply:
        return _error(404, 40401, "page not found")

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        body = request.body if isinstance(request.body, dict) else {}
        topic, message = body.get("topic"), body.get("message")
        if not isinstance(topic, str) or not topic:
            return _error(400, 40009, "invalid request: topic invalid")
        if not isinstance(message, str):
            return _error(400, 40010, "invalid request: message invalid")
        return [Target(topic, True, message)]

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        if verdict is Verdict.ACCEPTED:
            published = {
                "id": f"sim{message_id:09d}",
                "time": 1767603600 + message_id,
                "expires": 1767646800 + message_id,
                "event": "message",
                "topic": target.chat_id,
                "message": target.content,
            }
            return json_reply(200, published)
        status, code, error = _ERRORS.get(verdict, (500, 50001, "internal server error"))
        headers = (
            {"retry-after": str(retry_after)} if verdict is Verdict.THROTTLED and retry_after is not None else None
        )
        return _error(status, code, error, headers)

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        raise NotImplementedError("ntfy has no batch endpoint")

    def chat_id(self, index: int) -> str:
        return f"sim-topic-{index:08d}"

    def chat_index(self, chat_id: str) -> int | None:
        match = _TOPIC.match(chat_id)
        return int(match[1]) if match else None
