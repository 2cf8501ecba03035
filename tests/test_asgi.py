"""read_body: the one size-limited body reader of the callbacks endpoint and the API."""

from __future__ import annotations

from typing import Any

from broadcaster.asgi import read_body


def chunks(*parts: bytes, disconnect: bool = False) -> Any:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)
    ]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})
    taken: list[int] = []

    async def receive() -> dict[str, Any]:
        taken.append(1)
        return messages[len(taken) - 1]

    receive.taken = taken  # type: ignore[attr-defined]
    return receive


def scope(length: str | None = None) -> dict[str, Any]:
    return {"headers": [] if length is None else [(b"Content-Length", length.encode())]}


async def test_a_chunked_body_is_joined_up_to_the_limit() -> None:
    assert await read_body(scope(), chunks(b"ab", b"cd", b"e"), 5) == b"abcde"
    assert await read_body(scope(), chunks(b"ab", b"cd", b"ef"), 5) is None


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    receive = chunks(b"x" * 10)
    assert await read_body(scope("10"), receive, 5) is None
    assert receive.taken == []
    assert await read_body(scope("garbage"), chunks(b"abc"), 5) == b"abc"


async def test_a_client_that_goes_away_leaves_what_it_sent() -> None:
    assert await read_body(scope(), chunks(b"ab", disconnect=True), 5) == b"ab"
