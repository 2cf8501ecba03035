"""The fake server of the simulator: Viber REST Bot API: ``POST /pa/send_message`` and ``/pa/broadcast_message`` with
``X-Viber-Auth-Token``; errors are HTTP 200 with a non-zero ``status``."""

from __future__ import annotations

from typing import Mapping

from broadcaster.fake import Target, Verdict, WireReply, WireRequest, json_reply

__all__ = ["ViberFake"]

_ENDPOINTS = {"/pa/send_message": "send_message", "/pa/broadcast_message": "broadcast_message"}

#: verdict -> (status, status_message)
_STATUSES = {
    Verdict.THROTTLED: (12, "tooManyRequests"),
    Verdict.AUTH_FAILED: (2, "invalidAuthToken"),
    Verdict.BLOCKED: (6, "receiverNotSubscribed"),
    Verdict.UNREGISTERED: (5, "receiverNotRegistered"),
    Verdict.OPTED_OUT: (6, "receiverNotSubscribed"),
}

MESSAGE_TOKEN_BASE = 5741311803571721087


def status_of(verdict: Verdict) -> tuple[int, str]:
    return _STATUSES.get(verdict, (0, "ok"))


_CHAT_SUFFIX = "SimUser8=="


class ViberFake:
    batch_endpoints: frozenset[str] = frozenset({"broadcast_message"})
    settings: Mapping[str, str] = {"auth_token": "rehearsal-token", "sender_name": "Rehearsal"}
    credential_setting = "auth_token"
    base_path = "/pa"

    def route(self, method: str, path: str) -> str | None:
        return _ENDPOINTS.get(path) if method == "POST" else None

    def credentials(self, request: WireRequest) -> str | None:
        return request.headers.get("x-viber-auth-token")

    def not_found(self) -> WireReply:
        return WireReply(404, {"content-type": "text/plain"}, b"Not Found")

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        body = request.body if isinstance(request.body, dict) else {}
        text = body.get("text")
        sender = body.get("sender")
        if body.get("type") != "text" or not isinstance(text, str) or not isinstance(sender, dict):
            return json_reply(200, {"status": 4, "status_message": "missingData"})
        if endpoint == "send_message":
            receiver = body.get("receiver")
            if not isinstance(receiver, str) or not receiver:
                return json_reply(200, {"status": 4, "status_message": "missingData"})
            return [Target(receiver, True, text)]
        receivers = body.get("broadcast_list")
        if not isinstance(receivers, list) or not 1 <= len(receivers) <= 300:
            return json_reply(200, {"status": 3, "status_message": "badData"})
        return [Target(str(r), True, text) for r in receivers]

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        if verdict is Verdict.SERVER_ERROR:
            # only the transport in front of chatapi answers at the HTTP level
            return WireReply(503, {"content-type": "text/html"}, b"<html><body>503 Service Unavailable</body></html>")
        status, message = status_of(verdict)
        if status:
            return json_reply(200, {"status": status, "status_message": message})
        return json_reply(
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": MESSAGE_TOKEN_BASE + message_id,
                "chat_hostname": "SN-CHAT-05_",
            },
        )

    def answer_batch(self, verdicts: list[tuple[Target, Verdict]], *, message_id: int) -> WireReply:
        """One reply for a broadcast: request-level OK, per-receiver failures in ``failed_list``."""
        failed = []
        for target, verdict in verdicts:
            if verdict is Verdict.ACCEPTED:
                continue
            status, message = _STATUSES.get(verdict, (-1, "generalError"))
            failed.append({"receiver": target.chat_id, "status": status, "status_message": message})
        return json_reply(
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": MESSAGE_TOKEN_BASE + message_id,
                "failed_list": failed,
            },
        )

    def chat_id(self, index: int) -> str:
        return f"Vb{index:012d}{_CHAT_SUFFIX}"

    def chat_index(self, chat_id: str) -> int | None:
        ok = chat_id.startswith("Vb") and chat_id.endswith(_CHAT_SUFFIX) and chat_id[2:14].isdigit()
        return int(chat_id[2:14]) if ok else None
