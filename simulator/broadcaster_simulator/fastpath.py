"""Verdicts as ``SendResult`` values, for the discrete-event driver's fast path.

Each result is what the provider's real plugin reads from the reply the fake server
would send for that verdict (``test_sim_plugins.py`` checks it against the installed
plugins), with the canonical ``provider:code:reason`` strings of ``providers.md``.
Results are immutable, so each is built once per integration and shared.
"""

from __future__ import annotations

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, SendResult

from .failures import Verdict

__all__ = ["ResultTable", "contact_reasons"]

_P = ErrorKind.PERMANENT_CONTACT

#: provider -> verdict -> (code, reason) for the per-contact refusals
_CONTACT: dict[str, dict[Verdict, tuple[str, str]]] = {
    "telegram": {
        Verdict.BLOCKED: ("403", "blocked_by_user"),
        Verdict.UNREGISTERED: ("400", "chat_not_found"),
        Verdict.OPTED_OUT: ("403", "cant_initiate_conversation"),
    },
    "whatsapp": {
        Verdict.BLOCKED: ("131026", "message_undeliverable"),
        Verdict.UNREGISTERED: ("131026", "message_undeliverable"),
        Verdict.OPTED_OUT: ("131050", "marketing_opt_out"),
        Verdict.WINDOW_CLOSED: ("131047", "re_engagement_message_required"),
    },
    "instagram": {
        Verdict.BLOCKED: ("551", "user_unavailable"),
        Verdict.UNREGISTERED: ("100", "no_matching_user"),
        Verdict.OPTED_OUT: ("551", "user_unavailable"),
        Verdict.WINDOW_CLOSED: ("10", "outside_allowed_window"),
    },
    "viber": {
        Verdict.BLOCKED: ("6", "receiver_not_subscribed"),
        Verdict.UNREGISTERED: ("5", "receiver_not_registered"),
        Verdict.OPTED_OUT: ("6", "receiver_not_subscribed"),
    },
}

#: provider -> (code, reason, scope) of its "too many requests"
_THROTTLE = {
    "telegram": ("429", "too_many_requests", "integration"),
    "whatsapp": ("130429", "throughput_limit", "integration"),
    "instagram": ("613", "rate_limit", "integration"),
    # Viber's status 12 is mostly the per-user cap (100/h without a reply)
    "viber": ("12", "too_many_requests", "contact"),
}

#: provider -> (code, reason) of a transient server failure
_SERVER_ERROR = {
    "telegram": ("5xx", "server_error"),
    "whatsapp": ("131016", "service_unavailable"),
    "instagram": ("5xx", "server_error"),
    "viber": ("5xx", "server_error"),
}

#: providers whose 2xx is final (no later receipt): their acceptance is delivery
_CONFIRMED = {"telegram": True, "whatsapp": False, "instagram": True, "viber": False}


def contact_reasons(provider: str) -> dict[Verdict, ErrorReason]:
    return {verdict: ErrorReason(provider, code, reason) for verdict, (code, reason) in _CONTACT[provider].items()}


class ResultTable:
    """The ``SendResult`` for each verdict of one integration."""

    def __init__(self, *, integration: str, provider: str) -> None:
        self.integration = integration
        self.provider = provider
        code, reason, scope = _THROTTLE[provider]
        self._throttle_reason = ErrorReason(provider, code, reason)
        self._throttle_scope = scope
        self._throttled: dict[int | None, RateLimited] = {}
        server_code, server_reason = _SERVER_ERROR[provider]
        self._fixed: dict[Verdict, SendResult] = {
            Verdict.ACCEPTED: Delivered(confirmed=_CONFIRMED[provider]),
            Verdict.SERVER_ERROR: Failed(ErrorKind.TRANSIENT, ErrorReason(provider, server_code, server_reason)),
            Verdict.REFUSED: NotSent(ErrorReason(provider, None, "connection_refused")),
            Verdict.TIMEOUT: OutcomeUnknown(ErrorReason(provider, None, "timeout")),
            Verdict.AUTH_FAILED: Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration)),
        }
        for verdict, why in contact_reasons(provider).items():
            self._fixed[verdict] = Failed(_P, why)

    def result(self, verdict: Verdict, retry_after: int | None = None) -> SendResult:
        if verdict is Verdict.THROTTLED:
            return self.throttled(retry_after)
        return self._fixed[verdict]

    def request_result(self, verdict: Verdict, retry_after: int | None = None) -> SendResult:
        """The result for every recipient of a batch request the provider answered as a
        whole: like :meth:`result`, except that a refused request is the integration's
        request rate (Viber's 500 broadcasts per 10 s), not one contact's cap."""
        if verdict is Verdict.THROTTLED:
            found = self.throttled(retry_after)
            return RateLimited(found.retry_after, found.reason, "integration")
        return self.result(verdict, retry_after)

    def throttled(self, retry_after: int | None) -> RateLimited:
        # Only Telegram gives a retry-after hint; the Graph APIs and Viber give none.
        hint = retry_after if self.provider == "telegram" else None
        found = self._throttled.get(hint)
        if found is None:
            found = RateLimited(hint, self._throttle_reason, self._throttle_scope)
            self._throttled[hint] = found
        return found
