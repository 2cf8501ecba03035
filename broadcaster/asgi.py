"""What every ASGI app of ours shares: the callbacks endpoint, the API server and the simulator's fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["answer_lifespan"]


async def answer_lifespan(
    receive: Callable[[], Awaitable[Mapping[str, Any]]],
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
