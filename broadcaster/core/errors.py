"""Exceptions raised by broadcaster.

Expected provider failures are *values* (see :mod:`broadcaster.core.results`); the
exceptions below are for misuse, bad input and bad configuration. Each one says what
was wrong and, where it can, what to do about it.

Hierarchy::

    BroadcasterError
    ├── ConfigError (ValueError)          bad configuration or a malformed value
    │   ├── ReasonFormatError             a malformed ``provider:code:reason`` string
    │   ├── FilterSyntaxError             an audience filter that does not parse
    │   └── PacingError                   an invalid pacing plan or backoff policy
    ├── InvalidTransition                 an action the broadcast's state does not allow
    ├── RetryRefused                      Retry is not possible for this broadcast
    │   ├── RetryNotTerminal              still DRAFT / SCHEDULED / SENDING
    │   ├── NothingToRetry                no FAILED row
    │   ├── RowsAgedOut                   rows purged after 30 days (BAD_USER_INPUT)
    │   └── RetryPending                  an earlier retry of it has not finished (CONFLICT)
    ├── EditRefused                       the broadcast can no longer be edited
    ├── QuotaExceeded                     the combined scheduled quota is full
    ├── NotFound                          an unknown broadcast, contact, flow, ...
    ├── StoreError                        the store cannot be opened, read or written
    └── PluginError                       a plugin misbehaves or is misconfigured
        └── PluginConflictError           two plugins claim one provider name
"""

from __future__ import annotations

__all__ = [
    "BroadcasterError",
    "ConfigError",
    "EditRefused",
    "FilterSyntaxError",
    "InvalidTransition",
    "NotFound",
    "NothingToRetry",
    "PacingError",
    "PluginConflictError",
    "PluginError",
    "QuotaExceeded",
    "ReasonFormatError",
    "RetryNotTerminal",
    "RetryPending",
    "RetryRefused",
    "RowsAgedOut",
    "StoreError",
    "StoreUnreachable",
]


class BroadcasterError(Exception):
    """Root of every exception broadcaster raises on purpose.

    ``hint`` (optional) tells the user what to do next; ``code`` is a stable,
    machine-readable name (GraphQL-style error code).
    """

    code = "BROADCASTER_ERROR"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class ConfigError(BroadcasterError, ValueError):
    code = "BAD_CONFIG"


class ReasonFormatError(ConfigError):
    code = "BAD_ERROR_REASON"


class FilterSyntaxError(ConfigError):
    """The filter did not parse; ``column`` is 1-based, pointing at the offending text."""

    code = "BAD_FILTER"

    def __init__(self, message: str, *, text: str, column: int, hint: str | None = None) -> None:
        super().__init__(f"{message} at column {column}", hint=hint)
        self.text = text
        self.column = column


class PacingError(ConfigError):
    code = "BAD_PACING"


class InvalidTransition(BroadcasterError):
    code = "INVALID_TRANSITION"

    def __init__(self, state: object, action: object, *, hint: str | None = None) -> None:
        state_name = getattr(state, "value", state)
        action_name = getattr(action, "value", action)
        super().__init__(f"cannot {action_name} a broadcast that is {state_name}", hint=hint)
        self.state = state
        self.action = action


class RetryRefused(BroadcasterError):
    code = "RETRY_REFUSED"


class RetryNotTerminal(RetryRefused):
    code = "RETRY_NOT_TERMINAL"


class NothingToRetry(RetryRefused):
    code = "NOTHING_TO_RETRY"


class RowsAgedOut(RetryRefused):
    # The seed names this one: Retry answers BAD_USER_INPUT once rows aged out.
    code = "BAD_USER_INPUT"


class RetryPending(RetryRefused):
    """A second retry of a source whose earlier retry is not terminal: both would send to
    the same FAILED contacts."""

    code = "CONFLICT"

    def __init__(self, message: str, *, retry_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_id = retry_id


class EditRefused(BroadcasterError):
    code = "EDIT_REFUSED"


class QuotaExceeded(BroadcasterError):
    code = "QUOTA_EXCEEDED"


class NotFound(BroadcasterError):
    code = "NOT_FOUND"


class PluginError(BroadcasterError):
    code = "PLUGIN_ERROR"


class PluginConflictError(PluginError):
    code = "PLUGIN_CONFLICT"


class StoreError(BroadcasterError):
    """The store is missing, not a broadcaster store, unreadable or read-only."""

    code = "STORE_UNAVAILABLE"


class StoreUnreachable(StoreError):
    """The store's server did not answer or its connection was lost (PostgreSQL): the same
    call may succeed once it is back. A running worker waits it out (runtime.store_waits);
    whether a write that met it was made is unknown, so what retries it must be idempotent."""
