"""broadcaster's refusals as GraphQL errors: ``extensions.code`` and the CLI's one line.

Only :class:`~broadcaster.core.errors.BroadcasterError` messages reach a client; anything
else is logged here and answered "internal error" (code INTERNAL_SERVER_ERROR), so no
stack trace or internal detail ever leaves the server.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from ..core.errors import (
    BroadcasterError,
    ConfigError,
    EditRefused,
    InvalidTransition,
    NotFound,
    NothingToRetry,
    QuotaExceeded,
    RetryNotTerminal,
    RetryPending,
    RowsAgedOut,
    StoreError,
)
from ..store.base import ConcurrentUpdate

__all__ = ["ApiError", "code_of", "format_error"]

log = logging.getLogger("broadcaster.api")

#: most specific first
_CODES: tuple[tuple[type[BroadcasterError], str], ...] = (
    (RowsAgedOut, "BAD_USER_INPUT"),
    (NothingToRetry, "BAD_USER_INPUT"),
    (RetryPending, "CONFLICT"),
    (RetryNotTerminal, "CONFLICT"),
    (InvalidTransition, "CONFLICT"),
    (EditRefused, "CONFLICT"),
    (ConcurrentUpdate, "CONFLICT"),
    (QuotaExceeded, "QUOTA_EXCEEDED"),
    (NotFound, "NOT_FOUND"),
    (ConfigError, "BAD_USER_INPUT"),
    (StoreError, "STORE_UNAVAILABLE"),
)


class ApiError(BroadcasterError):
    """A refusal the API layer itself makes (authentication, scope, limits)."""

    def __init__(self, message: str, *, code: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def code_of(exc: BroadcasterError) -> str:
    if isinstance(exc, ApiError):
        return exc.code
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return "BAD_USER_INPUT"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _graphql_text(message: str) -> str:
    # graphql-core 3.3 words a null as Python's "None"; clients speak GraphQL
    return _one_line(message).replace("not to be None.", "not to be null.")


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The JSON of one error: a BroadcasterError's one line, else validation text or 'internal error'."""
    original = error.original_error
    body: dict[str, Any]
    if original is None:
        # a syntax or validation error graphql-core found in the document itself
        body = {"message": _graphql_text(error.message), "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
    elif isinstance(original, BroadcasterError):
        extensions: dict[str, Any] = {"code": code_of(original)}
        if isinstance(original, RetryPending):
            extensions["retryId"] = original.retry_id
        body = {"message": _one_line(str(original)), "extensions": extensions}
    elif isinstance(original, GraphQLError):
        body = {"message": _graphql_text(original.message), "extensions": {"code": "BAD_USER_INPUT"}}
    else:
        log.error("internal error in %s", error.path, exc_info=original)
        body = {"message": "internal error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    return body
