"""Crash recovery policy: what a claimed-but-unrecorded send becomes after a restart.

A worker claims a contact's row *before* its request leaves. If the worker dies between
the claim and the record, nobody knows whether the provider got the message. Resending
could message the contact twice, so it is never resent silently: the row is resolved as
FAILED (outcome unknown), which an operator can see and redrive with Retry.
The guarantee is therefore *at most once per contact per broadcast*.
"""

from __future__ import annotations

from .models import DispatchRow
from .outcomes import ErrorKind, Status
from .reasons import ErrorReason, sanitize_reason_text
from .results import Failed, OutcomeUnknown

__all__ = [
    "claimed_elsewhere",
    "misconfigured_send",
    "missing_from_batch_reply",
    "plugin_failed_after_send",
    "plugin_failed_before_send",
    "resolve_orphaned_claim",
]


def resolve_orphaned_claim(
    *,
    broadcast_id: str,
    contact_id: str,
    contact_name: str,
    integration: str | None,
    provider: str | None,
    claimed_at: float | None,
    now: float,
) -> DispatchRow:
    return DispatchRow(
        broadcast_id=broadcast_id,
        contact_id=contact_id,
        status=Status.OUTCOME_UNKNOWN,
        contact_name=contact_name,
        integration=integration,
        error_reason=ErrorReason(provider or integration or "broadcaster", "restart", "outcome_unknown"),
        error_kind=ErrorKind.UNKNOWN,
        sent_at=claimed_at,
        recorded_at=now,
    )


def misconfigured_send(provider: str, detail: str) -> Failed:
    """A send the plugin could not even build (missing or malformed integration settings):
    the contact fails visibly as an integration problem, the run goes on. ``detail`` must
    already be free of secrets."""
    return Failed(ErrorKind.INTEGRATION, ErrorReason(provider, "config", sanitize_reason_text(detail)))


def claimed_elsewhere(provider: str) -> Failed:
    """Another worker holds this contact's row: never send, and say so (outcome unknown here)."""
    return Failed(ErrorKind.UNKNOWN, ErrorReason(provider, "claim", "already_claimed"))


def missing_from_batch_reply(provider: str) -> OutcomeUnknown:
    """A batch request went out but the plugin's reading of the reply says nothing about
    this recipient: it may have been messaged, so it is never resent in this run."""
    return OutcomeUnknown(ErrorReason(provider, "batch", "no_result_for_recipient"))


def plugin_failed_before_send(provider: str, hook: str) -> Failed:
    """The plugin raised while building the request (a bug in it): nothing left, so
    nothing was sent; the contact fails as an integration problem, retryable once the
    plugin is fixed, and the run goes on."""
    return Failed(ErrorKind.INTEGRATION, ErrorReason(provider, "plugin", f"{hook}_failed"))


def plugin_failed_after_send(provider: str, hook: str) -> OutcomeUnknown:
    """The plugin raised while reading the reply: the request went out and may have been
    taken, so the contact is never resent in this run."""
    return OutcomeUnknown(ErrorReason(provider, "plugin", f"{hook}_failed"))
