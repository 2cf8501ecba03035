"""Per-contact outcomes and the finer statuses behind them.

Operators see three outcomes (DELIVERED / FAILED / SKIPPED). The dispatcher records a
finer :class:`Status` on every row; :data:`STATUS_OUTCOME` is the one total mapping
from status to outcome (a test checks that every status is mapped).
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Final, Mapping

__all__ = ["ErrorKind", "Outcome", "Status", "STATUS_OUTCOME", "outcome_of", "RETRYABLE_KINDS"]


class Outcome(enum.Enum):
    """What the history table and the counters show."""

    #: the provider accepted the send (or confirmed delivery)
    DELIVERED = "DELIVERED"
    #: a send was attempted and the provider (or the network) answered with an error
    FAILED = "FAILED"
    #: the contact was filtered out at dispatch time; nothing was sent
    SKIPPED = "SKIPPED"


class Status(enum.Enum):
    """The finer state behind an outcome, exposed per row."""

    # -- DELIVERED
    #: accepted by the provider; for callback providers, delivery not confirmed yet
    ACCEPTED = "accepted"
    #: delivery confirmed (synchronously, or by the provider's delivery callback)
    DELIVERED = "delivered"
    # -- SKIPPED
    #: the contact has no chat on any integration
    NO_REACHABLE_CHANNEL = "no_reachable_channel"
    #: the contact's chats are on none of the route / fallback integrations
    CHANNEL_MISMATCH = "channel_mismatch"
    #: the contact opted out
    OPTED_OUT = "opted_out"
    #: a field the template parameters or the flow require is missing or empty
    MISSING_REQUIRED_FIELD = "missing_required_field"
    #: a route integration matches but no route's condition matches the contact
    NO_MATCHING_TEMPLATE_ROUTE = "no_matching_template_route"
    #: the flow was unpublished between scheduling and this contact's turn
    FLOW_UNPUBLISHED = "flow_unpublished"
    #: the broadcast was cancelled before this contact's turn
    CANCELLED = "cancelled"
    #: the same chat was already messaged in this broadcast through another contact record
    DEDUP_HIT = "dedup_hit"
    # -- FAILED
    #: the provider refused the send (contact, payload or transient error)
    PROVIDER_ERROR = "provider_error"
    #: the integration's credentials were refused
    AUTH_FAILED = "auth_failed"
    #: the batch spent its rate-limit retry budget
    RATE_LIMIT_EXHAUSTED = "rate_limit_exhausted"
    #: the request may have left but no reply was recorded (timeout, crash); never resent silently
    OUTCOME_UNKNOWN = "outcome_unknown"


_D, _F, _S = Outcome.DELIVERED, Outcome.FAILED, Outcome.SKIPPED

STATUS_OUTCOME: Final[Mapping[Status, Outcome]] = MappingProxyType(
    {
        Status.ACCEPTED: _D,
        Status.DELIVERED: _D,
        Status.NO_REACHABLE_CHANNEL: _S,
        Status.CHANNEL_MISMATCH: _S,
        Status.OPTED_OUT: _S,
        Status.MISSING_REQUIRED_FIELD: _S,
        Status.NO_MATCHING_TEMPLATE_ROUTE: _S,
        Status.FLOW_UNPUBLISHED: _S,
        Status.CANCELLED: _S,
        Status.DEDUP_HIT: _S,
        Status.PROVIDER_ERROR: _F,
        Status.AUTH_FAILED: _F,
        Status.RATE_LIMIT_EXHAUSTED: _F,
        Status.OUTCOME_UNKNOWN: _F,
    }
)


def outcome_of(status: Status) -> Outcome:
    return STATUS_OUTCOME[status]


class ErrorKind(enum.Enum):
    """How a provider failure should be handled (see DESIGN.md, "Error kinds")."""

    #: back off and re-enqueue; invisible to operators until the budget is spent
    RATE_LIMITED = "rate_limited"
    #: this contact cannot be reached (blocked bot, unknown user, closed window)
    PERMANENT_CONTACT = "permanent_contact"
    #: the integration is broken (bad token, locked account)
    INTEGRATION = "integration"
    #: the payload is wrong (unsupported type, template parameter mismatch)
    PAYLOAD = "payload"
    #: a blip (5xx, network) — an operator's Retry usually clears it
    TRANSIENT = "transient"
    #: the request may have reached the provider; its fate is unknown
    UNKNOWN = "unknown"


#: kinds for which an operator's Retry is likely to help once the cause is addressed
RETRYABLE_KINDS: Final = frozenset(
    {ErrorKind.RATE_LIMITED, ErrorKind.INTEGRATION, ErrorKind.TRANSIENT, ErrorKind.UNKNOWN}
)
