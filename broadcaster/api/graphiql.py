"""GraphiQL at ``/graphiql``, served from the package itself: no CDN, works offline.

The built files of GraphiQL, React and ReactDOM (``static/``, with their LICENSE files;
versions in ``static/VERSIONS``, refreshed by ``tools/refresh-graphiql.sh``) are committed,
so neither installing nor running broadcaster needs npm or Node.

Only the sign-in page is public. It keeps the token in the browser (``sessionStorage``)
and fetches every asset with ``Authorization: Bearer …`` — a ``<script src>`` cannot send
that header — then runs them from ``blob:`` URLs; GraphiQL's requests carry the same
header, and its WebSocket sends the token in ``connection_init``. So every asset and every
query needs a valid token, like the API itself.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["ASSET_PREFIX", "PAGE_CSP", "asset", "signin_page"]

#: where the built files are served; a request below it needs a token
ASSET_PREFIX = "/graphiql/static/"

_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8"}
_TEXT = b"text/plain; charset=utf-8"

#: the sign-in page may run only what came from this server (its inline script and the blob:
#: URLs made from the fetched assets) and talk only to it: a stray CDN reference would fail
PAGE_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline';"
    b" img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; base-uri 'none';"
    b" form-action 'none'; frame-ancestors 'none'"
)


def _files(root: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_files(entry, name + "/"))
        else:
            found[name] = entry
    return found


_STATIC = _files(resources.files("broadcaster.api").joinpath("static"))
_PAGE = resources.files("broadcaster.api").joinpath("graphiql.html").read_bytes()


def signin_page() -> bytes:
    """The public page: sign-in, then GraphiQL once the token is accepted."""
    return _PAGE


def asset(path: str) -> tuple[bytes, bytes, bytes] | None:
    """(content, content type, ETag) of the file at ``path`` below :data:`ASSET_PREFIX`, or None."""
    name = path[len(ASSET_PREFIX) :] if path.startswith(ASSET_PREFIX) else None
    return None if name not in _STATIC else _load(name)


@functools.cache
def _load(name: str) -> tuple[bytes, bytes, bytes]:
    content = _STATIC[name].read_bytes()
    suffix = name[name.rfind(".") :] if "." in name else ""
    etag = b'"' + hashlib.sha256(content).hexdigest()[:32].encode() + b'"'
    return content, _TYPES.get(suffix, _TEXT), etag
