"""What every provider's wire format provides to the fake server."""

from __future__ import annotations

import json
from typing import Any, Mapping, Protocol

import attrs

from ..failures import Verdict

__all__ = ["Target", "Wire", "WireReply", "WireRequest", "json_reply"]


@attrs.frozen
class WireRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: Any  # the decoded JSON body, or None


@attrs.frozen
class Target:
    """One message a request asks for: to ``chat_id``, free-form text or a template."""

    chat_id: str
    text: bool
    content: str


@attrs.frozen
class WireReply:
    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def json_reply(status: int, value: Any, headers: Mapping[str, str] | None = None) -> WireReply:
    return WireReply(status, {"content-type": "application/json", **(headers or {})}, json.dumps(value).encode())


class Wire(Protocol):
    provider: str

    def route(self, method: str, path: str) -> str | None:
        """The endpoint a request addresses, or None (the server answers 404)."""

    def credentials(self, request: WireRequest) -> str | None:
        """The token the request carries, or None."""

    def targets(self, endpoint: str, request: WireRequest) -> list[Target] | WireReply:
        """The messages the request asks for, or the reply to a malformed request."""

    def not_found(self) -> WireReply: ...

    def answer(self, verdict: Verdict, target: Target, *, retry_after: int | None, message_id: int) -> WireReply:
        """The reply to a single-recipient request."""
