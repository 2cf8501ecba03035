"""Serving the API: the schema, the ASGI app and hypercorn on asyncio (see the package)."""

from __future__ import annotations

import asyncio
import signal
from typing import Callable

from graphql import GraphQLSchema, print_schema
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from ..service import BroadcastService
from .operations import Executor
from .resolvers import build_api_schema
from .server import MAX_BODY_BYTES, GraphQLApp
from .tokens import Tokens

__all__ = ["make_app", "make_executor_schema", "schema_sdl", "serve"]


def schema_sdl() -> str:
    """The served schema in SDL, as committed at docs/schema.graphql."""
    return print_schema(make_executor_schema()) + "\n"


def make_executor_schema() -> GraphQLSchema:
    from .live import subscribe_broadcast_updates

    return build_api_schema({"broadcastUpdates": subscribe_broadcast_updates})


def make_app(service: BroadcastService, tokens: Tokens, *, poll: float | None = None) -> GraphQLApp:
    return GraphQLApp(Executor(service, poll=poll), tokens)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    service: BroadcastService,
    tokens: Tokens,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Serve until SIGINT or SIGTERM; in-flight requests finish first."""
    config = Config()
    config.bind = [_bind(host, port)]
    config.accesslog = None
    config.errorlog = None
    config.h11_max_incomplete_size = MAX_BODY_BYTES
    config.websocket_max_message_size = MAX_BODY_BYTES
    config.graceful_timeout = 5.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = make_app(service, tokens)
    loop.call_soon(on_ready)
    await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
