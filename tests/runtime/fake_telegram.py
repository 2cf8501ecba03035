"""A fake Telegram Bot API for runtime tests: a token bucket, real wire format, a ledger."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import trio


class FakeTelegram:
    """Answers sendMessage like Telegram; 429 with retry_after over ``rate``/s.

    ``accepted`` counts every message accepted per chat, so duplicates are visible.
    ``blocked`` chats answer 403 blocked; ``fail_until`` answers 500s before that time.
    """

    def __init__(self, *, rate: float = 1e9, burst: int = 1_000_000, blocked=(), token="123:SECRET") -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = None
        self.blocked = set(blocked)
        self.token = token
        self.accepted: Counter = Counter()
        self.requests = 0
        self.throttled = 0
        self.revoked = False

    def _take(self) -> bool:
        now = trio.current_time()
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.revoked or f"/bot{self.token}/" not in request.url.path:
            return httpx.Response(401, json={"ok": False, "error_code": 401, "description": "Unauthorized"})
        if not self._take():
            self.throttled += 1
            return httpx.Response(
                429,
                headers={"Retry-After": "1"},
                json={
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            )
        body = json.loads(request.content)
        chat = str(body["chat_id"])
        if chat in self.blocked:
            return httpx.Response(
                403, json={"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
            )
        self.accepted[chat] += 1
        return httpx.Response(
            200, json={"ok": True, "result": {"message_id": self.requests, "chat": {"id": chat}, "text": body["text"]}}
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
