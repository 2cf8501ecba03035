"""Verdicts as ``SendResult`` values, for the discrete-event driver's fast path.

Each result is what the provider's real plugin reads from the reply its fake server
sends for that verdict. For any installed provider the table is *derived* so: the
plugin's ``build_call`` and ``interpret_reply`` run once per verdict against its fake's
answer. The four built-in providers' tables are also precomputed below (the fast path
of million-contact runs; ``test_sim_plugins.py`` checks each against the derivation).
Results are immutable, so each is built once per integration and shared.
"""

from __future__ import annotations

from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, NotSent, OutcomeUnknown, RateLimited, SendResult
from broadcaster.fake import Target

from .failures import Verdict
from .specs import _registry, fake_for

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


_PER_CONTACT = (Verdict.BLOCKED, Verdict.UNREGISTERED, Verdict.OPTED_OUT, Verdict.WINDOW_CLOSED)


def contact_reasons(provider: str) -> dict[Verdict, ErrorReason]:
    if provider in _CONTACT:
        return {verdict: ErrorReason(provider, code, reason) for verdict, (code, reason) in _CONTACT[provider].items()}
    reasons = {}
    for verdict in _PER_CONTACT:
        result = Codec(provider, provider).result(verdict, None)
        if isinstance(result, Failed):
            reasons[verdict] = result.reason
    return reasons


class Codec:
    """The plugin's reading of its fake's answer to each verdict, for one integration."""

    def __init__(self, provider: str, integration: str) -> None:
        self.fake = fake_for(provider)
        registry = _registry()
        self.registry = registry
        base_url = f"https://codec.rehearsal.invalid{self.fake.base_path}"
        self.integration = Integration(integration, provider, {**self.fake.settings, "base_url": base_url})
        chat_id = self.fake.chat_id(1)
        self.target = Target(chat_id, True, "hi")
        call = registry.build_call(integration=self.integration, chat_id=chat_id, message=TextMessage("hi"))
        if isinstance(call, Failed):
            raise ValueError(f"provider {provider!r} refused the simulator's plain message: {call.reason}")
        self.call = call

    def result(self, verdict: Verdict, retry_after: int | None) -> SendResult:
        answer = self.fake.answer(verdict, self.target, retry_after=retry_after, message_id=1)
        reply = HttpReply(answer.status, tuple(answer.headers.items()), answer.body)
        result = self.registry.interpret_reply(integration=self.integration, call=self.call, reply=reply)
        if isinstance(result, Delivered):
            return Delivered(confirmed=result.confirmed)  # the fast path shares one value: no id
        return result


class ResultTable:
    """The ``SendResult`` for each verdict of one integration."""

    def __init__(self, *, integration: str, provider: str) -> None:
        self.integration = integration
        self.provider = provider
        self._codec: Codec | None = None
        if provider not in _THROTTLE:
            self._derive(Codec(provider, integration))
            return
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

    def _derive(self, codec: Codec) -> None:
        self._codec = codec
        self._throttled = {}
        self._fixed = {
            verdict: codec.result(verdict, None)
            for verdict in (Verdict.ACCEPTED, Verdict.SERVER_ERROR, Verdict.AUTH_FAILED, *_PER_CONTACT)
        }
        provider = self.provider
        self._fixed[Verdict.REFUSED] = NotSent(ErrorReason(provider, None, "connection_refused"))
        self._fixed[Verdict.TIMEOUT] = OutcomeUnknown(ErrorReason(provider, None, "timeout"))

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
        if self._codec is not None:
            return self._throttled_by_codec(self._codec, retry_after)
        # Only Telegram gives a retry-after hint; the Graph APIs and Viber give none.
        hint = retry_after if self.provider == "telegram" else None
        found = self._throttled.get(hint)
        if found is None:
            found = RateLimited(hint, self._throttle_reason, self._throttle_scope)
            self._throttled[hint] = found
        return found

    def _throttled_by_codec(self, codec: Codec, retry_after: int | None) -> RateLimited:
        found = self._throttled.get(retry_after)
        if found is None:
            result = codec.result(Verdict.THROTTLED, retry_after)
            if not isinstance(result, RateLimited):
                # the plugin does not read its own 429 as a rate limit: pace it as one anyway
                result = RateLimited(None, ErrorReason(self.provider, "429", "too_many_requests"), "integration")
            found = result
            self._throttled[retry_after] = found
        return found
