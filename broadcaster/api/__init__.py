"""broadcaster's GraphQL API: ``broadcaster serve``.

It runs on **asyncio** (hypercorn's asyncio worker) in its own process, beside the trio
worker: graphql-core gathers list fields and drives subscriptions with asyncio, which
fails inside ``trio.run`` (docs/api.md, "Design"). The two meet in the store — the worker
records rows, the API reads them — so nothing else is shared, and a row a worker records
reaches a subscriber within one poll of the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .operations import Executor
    from .server import GraphQLApp
    from .serving import make_app, make_executor_schema, schema_sdl, serve
    from .tokens import Scope, Tokens, import_token_file, token_file_path

__all__ = [
    "Executor",
    "GraphQLApp",
    "Scope",
    "Tokens",
    "import_token_file",
    "make_app",
    "make_executor_schema",
    "schema_sdl",
    "serve",
    "token_file_path",
]

# Each name is imported from its module when first asked for: every `broadcaster` command
# imports the CLI, and graphql-core and hypercorn (a tenth of a second of CPU) are needed
# only by `serve` and the schema, not by `run` or `--help`.
_HOMES = {
    "Executor": ".operations",
    "GraphQLApp": ".server",
    "Scope": ".tokens",
    "Tokens": ".tokens",
    "import_token_file": ".tokens",
    "token_file_path": ".tokens",
    "make_app": ".serving",
    "make_executor_schema": ".serving",
    "schema_sdl": ".serving",
    "serve": ".serving",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
