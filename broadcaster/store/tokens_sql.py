"""API tokens in the SQL store: the ``api_tokens`` table (SQLite v10, PostgreSQL v7).

In the store rather than in a file beside it, so that every ``broadcaster serve`` of one
store — on one machine or many, SQLite or PostgreSQL — sees the same tokens, and a token
revoked anywhere is refused on the very next request of each (the lookup reads the table
on every request; nothing is cached).

Only a digest of each secret is stored (:mod:`broadcaster.api.tokens` makes secrets and
digests); a request's token is found by its digest through the table's unique index. That
lookup is not constant-time, and need not be: what an attacker could learn from its timing
is a prefix of the SHA-256 of a secret of 256 random bits, which brings them no closer to a
secret that hashes to it. The row found is compared once more in constant time all the same.
"""

from __future__ import annotations

import enum
import hmac
from typing import Any, ContextManager, Iterable, Sequence

import attrs

from broadcaster.core.errors import ConfigError, NotFound

from .engine import Engine, Tx

__all__ = ["ApiToken", "ApiTokens", "Scope"]

_COLUMNS = "name, scope, digest, created_at, last_used_at"
#: "last used" is written at most this often per token (seconds): a request that only reads
#: does not become a write transaction, except a token's first one of each minute
TOUCH_EVERY = 60.0


class Scope(enum.Enum):
    #: queries and subscriptions
    READ = "read"
    #: also mutations
    WRITE = "write"


@attrs.frozen
class ApiToken:
    name: str
    scope: Scope
    #: hex SHA-256 of the secret
    digest: str
    created_at: float
    #: when a request last used it (to within :data:`TOUCH_EVERY`); None: never
    last_used_at: float | None = None


def _token(row: Sequence[Any]) -> ApiToken:
    name, scope, digest, created_at, last_used_at = row
    return ApiToken(
        str(name), Scope(scope), str(digest), float(created_at), None if last_used_at is None else float(last_used_at)
    )


class ApiTokens:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    engine: Engine

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def add_api_token(self, token: ApiToken) -> None:
        """Store ``token``; a token of that name already there is a one-line refusal."""
        with self._tx() as conn:
            cursor = conn.execute(
                f"INSERT INTO api_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (token.name, token.scope.value, token.digest, token.created_at, token.last_used_at),
            )
            if not cursor.rowcount:
                raise ConfigError(
                    f"a token named {token.name!r} already exists",
                    hint=f"revoke it first: broadcaster tokens revoke {token.name}",
                )

    def import_api_tokens(self, tokens: Iterable[ApiToken]) -> list[str]:
        """Store those of ``tokens`` whose name (and digest) is not there yet, in one
        transaction; returns the names of those left out because they were."""
        kept = []
        with self._tx() as conn:
            for token in tokens:
                cursor = conn.execute(
                    f"INSERT INTO api_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (token.name, token.scope.value, token.digest, token.created_at, token.last_used_at),
                )
                if not cursor.rowcount:
                    kept.append(token.name)
        return kept

    def list_api_tokens(self) -> list[ApiToken]:
        """Every token, by name."""
        return [_token(row) for row in self._query(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY name")]

    def revoke_api_token(self, name: str) -> None:
        """Delete token ``name``; an unknown name is a one-line refusal naming the known ones."""
        with self._tx() as conn:
            if conn.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount:
                return
            known = [str(row[0]) for row in conn.execute("SELECT name FROM api_tokens ORDER BY name").fetchall()]
        raise NotFound(f"no API token named {name!r}", hint=f"known tokens: {', '.join(known) or 'none'}")

    def api_token_by_digest(self, digest: str, now: float) -> ApiToken | None:
        """The token with this digest (None: unknown or revoked), its use recorded at ``now``."""
        rows = self._query(f"SELECT {_COLUMNS} FROM api_tokens WHERE digest = ?", (digest,))
        if not rows or not hmac.compare_digest(str(rows[0][2]), digest):
            return None
        token = _token(rows[0])
        if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
            with self._tx() as conn:
                conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE name = ?", (now, token.name))
            token = attrs.evolve(token, last_used_at=now)
        return token
