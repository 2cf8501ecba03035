"""The operator console: the product's broadcast pages in the browser, at ``/`` of ``broadcaster serve``.

It is a client of the GraphQL API like any other — it signs in with an API token and
sends every query, mutation and subscription to ``/graphql`` — so there is no second way
into the store. The pages are plain ES modules and one stylesheet shipped in ``static/``:
nothing is built at install time, nothing is fetched from elsewhere (it works offline).
This module only hands the server those files.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

__all__ = ["INDEX", "asset"]

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: the page every console route is rendered into (the router reads the URL's #fragment)
INDEX: Final = "index.html"


def _load() -> dict[str, tuple[bytes, str]]:
    # read once: a dozen small files, and a lookup in this table is the only way to reach
    # one (no path is ever joined from a request, so none can climb out of static/)
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("broadcaster.console").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


_ASSETS: Final = _load()


def asset(name: str) -> tuple[bytes, str] | None:
    """The file ``static/<name>`` and its content type, or None when there is no such file."""
    return _ASSETS.get(name)
