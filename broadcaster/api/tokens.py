"""API bearer tokens: created once (the secret is shown once), stored only as a hash.

The tokens live in a small JSON file beside the store (``<store>.tokens.json``, or
``$BROADCASTER_TOKENS``): the API's access list is the operator's, not the data's, and a
file keeps it out of the store schema. Tokens are 32 random bytes, so a plain SHA-256
(no salt, no stretching) is enough to make the file useless to a reader; lookups compare
digests in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from pathlib import Path

import attrs

from ..core.errors import ConfigError, NotFound, StoreError

__all__ = ["ApiToken", "Scope", "TokenFile", "tokens_path"]

_PREFIX = "bct_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Scope(enum.Enum):
    #: queries and subscriptions
    READ = "read"
    #: also mutations
    WRITE = "write"


@attrs.frozen
class ApiToken:
    name: str
    scope: Scope
    digest: str
    created_at: float


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_path(store_target: str) -> Path:
    """Where the tokens of the store at ``store_target`` live."""
    override = os.environ.get("BROADCASTER_TOKENS")
    if override:
        return Path(override)
    if store_target == ":memory:" or "://" in store_target:
        return Path("broadcaster-tokens.json")
    return Path(f"{store_target}.tokens.json")


@attrs.define
class TokenFile:
    path: Path

    def _load(self) -> dict[str, ApiToken]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"cannot read the API tokens file {self.path}: {exc}",
                hint="fix or remove it (then create tokens again)",
            ) from None
        return {
            item["name"]: ApiToken(item["name"], Scope(item["scope"]), item["digest"], item["created_at"])
            for item in data.get("tokens", [])
        }

    def _save(self, tokens: dict[str, ApiToken]) -> None:
        body = {
            "tokens": [
                {"name": t.name, "scope": t.scope.value, "digest": t.digest, "created_at": t.created_at}
                for t in tokens.values()
            ]
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(body, handle, indent=2)
        os.replace(temp, self.path)

    def create(self, name: str, scope: Scope) -> str:
        """Store a new token and return its secret (the only time it is seen)."""
        if not _NAME.match(name):
            raise ConfigError(
                f"invalid token name {name!r}", hint="use 1-64 letters, digits, '-', '_' or '.', starting with one"
            )
        tokens = self._load()
        if name in tokens:
            raise ConfigError(
                f"a token named {name!r} already exists", hint=f"revoke it first: broadcaster tokens revoke {name}"
            )
        secret = _PREFIX + secrets.token_urlsafe(32)
        tokens[name] = ApiToken(name, scope, _digest(secret), time.time())
        self._save(tokens)
        return secret

    def list(self) -> list[ApiToken]:
        return sorted(self._load().values(), key=lambda t: t.name)

    def revoke(self, name: str) -> None:
        tokens = self._load()
        if name not in tokens:
            known = ", ".join(sorted(tokens)) or "none"
            raise NotFound(f"no API token named {name!r}", hint=f"known tokens: {known}")
        del tokens[name]
        self._save(tokens)

    def check(self, secret: str) -> ApiToken | None:
        """The token whose secret this is, or None (read on every call: revocation is immediate)."""
        wanted = _digest(secret)
        found = None
        for token in self._load().values():
            if hmac.compare_digest(token.digest, wanted):
                found = token
        return found
