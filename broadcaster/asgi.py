"""What every ASGI app of ours shares: the callbacks endpoint, the API server and the simulator's fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["answer_lifespan", "read_body"]

Receive = Callable[[], Awaitable[Mapping[str, Any]]]


async def answer_lifespan(
    receive: Receive,
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Answer a ``lifespan`` scope until shutdown; any event loop.

    hypercorn's trio worker dies at start-up unless the app answers the lifespan scope, and an app
    with nothing to start or stop has nothing else to say.
    """
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _declared_length(scope: Mapping[str, Any]) -> int | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def read_body(scope: Mapping[str, Any], receive: Receive, limit: int) -> bytes | None:
    """An HTTP request's body, or None when it is larger than ``limit`` bytes.

    A declared Content-Length over the limit is refused before anything is read; a chunked
    body is counted as it arrives, so memory stays bounded either way. If the client goes
    away the body read so far is returned: nobody is left to read the answer.
    """
    declared = _declared_length(scope)
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
