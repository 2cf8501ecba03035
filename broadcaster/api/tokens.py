"""API bearer tokens: created once (the secret is shown once), stored only as a digest.

The tokens live in the store (``api_tokens``, :mod:`broadcaster.store.tokens_sql`), so every
``broadcaster serve`` of a store shares them and a revocation is seen by each on its next
request. A secret is ``bct_`` and 32 random bytes; the store keeps its SHA-256. With that
much entropy a plain SHA-256 (no salt, no stretching) is enough: salts and slow hashes
defend guessable passwords against a dictionary, and no dictionary holds these — a reader
of the table would have to invert SHA-256 to use a row.

Older versions kept tokens in ``<store>.tokens.json`` (or ``$BROADCASTER_TOKENS``): such a
file is imported into the store once, on first use, and renamed aside
(:func:`import_token_file`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Callable

import attrs

from ..core.errors import ConfigError, StoreError
from ..store.base import ApiToken, Scope, Store

__all__ = ["ApiToken", "Scope", "Tokens", "digest_of", "import_token_file", "token_file_path"]

_PREFIX = "bct_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.define
class Tokens:
    """Create, list, revoke and check the API tokens of one store."""

    store: Store
    clock: Callable[[], float] = time.time

    def create(self, name: str, scope: Scope) -> str:
        """Store a new token and return its secret (the only time it is seen)."""
        if not _NAME.match(name):
            raise ConfigError(
                f"invalid token name {name!r}", hint="use 1-64 letters, digits, '-', '_' or '.', starting with one"
            )
        secret = _PREFIX + secrets.token_urlsafe(32)
        self.store.add_api_token(ApiToken(name, scope, digest_of(secret), self.clock()))
        return secret

    def list(self) -> list[ApiToken]:
        return self.store.list_api_tokens()

    def revoke(self, name: str) -> None:
        self.store.revoke_api_token(name)

    def check(self, secret: str) -> ApiToken | None:
        """The token whose secret this is, or None (read from the store on every call)."""
        if not secret.startswith(_PREFIX) or len(secret) > 128:
            return None  # not one of ours: no need to ask the store
        return self.store.api_token_by_digest(digest_of(secret), self.clock())


def token_file_path(store_target: str) -> Path | None:
    """Where an older broadcaster kept the tokens of the store at ``store_target`` (None: nowhere)."""
    override = os.environ.get("BROADCASTER_TOKENS")
    if override:
        return Path(override)
    if store_target == ":memory:" or "://" in store_target:
        return None
    return Path(f"{store_target}.tokens.json")


def _aside(path: Path) -> Path:
    target = path.with_name(path.name + ".imported")
    n = 2
    while target.exists():
        target = path.with_name(f"{path.name}.imported.{n}")
        n += 1
    return target


def import_token_file(store: Store, path: Path | None) -> str | None:
    """Import the tokens of an older version's file at ``path`` into ``store`` and rename
    the file aside; returns the one-line notice to show (None: no such file)."""
    if path is None or not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        tokens = [
            ApiToken(str(item["name"]), Scope(item["scope"]), str(item["digest"]), float(item["created_at"]))
            for item in data.get("tokens", [])
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise StoreError(
            f"cannot import the API tokens file {path}: {type(exc).__name__}: {exc}",
            hint="fix or remove it (then create the tokens again with `broadcaster tokens create`)",
        ) from None
    kept = store.import_api_tokens(tokens)
    aside = _aside(path)
    os.replace(path, aside)
    imported = len(tokens) - len(kept)
    notice = f"imported {imported} API token{'s' * (imported != 1)} from {path} into the store; the file is now {aside}"
    if kept:
        notice += f" (the store already had {', '.join(repr(name) for name in kept)}: kept the store's)"
    return notice
