"""Graph API error objects -> (kind, ``provider:code:reason``), for replies and webhooks.

Meta says to key on ``code`` (plus ``error_data.details``), not on titles or the HTTP
status; ``error_subcode`` is deprecated but still appears, so the table is keyed on
``(code, subcode)`` with ``(code, None)`` as the fallback (providers.md §2).
"""

from __future__ import annotations

from typing import Any, Final, Iterable, Mapping

import attrs

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.pluginkit import reason_from_text

__all__ = ["AUTH_CODES", "CATALOGUE", "PROVIDER", "GraphError", "classify", "kind_for_status", "read_error"]

PROVIDER: Final = "whatsapp"

_R, _C, _I, _P, _T = (
    ErrorKind.RATE_LIMITED,
    ErrorKind.PERMANENT_CONTACT,
    ErrorKind.INTEGRATION,
    ErrorKind.PAYLOAD,
    ErrorKind.TRANSIENT,
)

#: codes that mean "the credentials or their permissions were refused": <integration>:auth_failed
AUTH_CODES: Final = frozenset({0, 3, 10, 190, 131005, *range(200, 300)})

#: (code, subcode or None) -> (kind, canonical reason token)
CATALOGUE: Final[Mapping[tuple[int, int | None], tuple[ErrorKind, str]]] = {
    (4, None): (_R, "app_rate_limit"),
    (80007, None): (_R, "waba_rate_limit"),
    (130429, None): (_R, "throughput_limit"),
    (131056, None): (_R, "pair_rate_limit"),
    (131048, None): (_R, "spam_rate_limit"),
    (131064, None): (_R, "messaging_limit_violation"),
    (132069, None): (_R, "flow_throttled"),
    (133016, None): (_I, "registration_rate_limit"),
    (368, None): (_I, "policy_blocked"),
    (131031, None): (_I, "account_locked"),
    (33, None): (_I, "phone_number_deleted"),
    (131042, None): (_I, "payment_issue"),
    (131045, None): (_I, "certificate_error"),
    # the sender number's display name is not approved yet: nothing sends until it is
    (131037, None): (_I, "display_name_approval_required"),
    # the business account itself is refused (Meta words it differently over time)
    (131063, None): (_I, "business_account_restricted"),
    (133010, None): (_I, "phone_not_registered"),
    (130497, None): (_C, "country_restricted"),
    (131047, None): (_C, "re_engagement_message_required"),
    (131026, None): (_C, "message_undeliverable"),
    (131021, None): (_C, "recipient_is_sender"),
    (131050, None): (_C, "marketing_opt_out"),
    (131049, None): (_C, "ecosystem_limit"),
    (130472, None): (_C, "experiment_group"),
    (131030, None): (_P, "recipient_not_allowed"),
    (131051, None): (_P, "unsupported_message_type"),
    (131052, None): (_P, "media_download_error"),
    (131053, None): (_P, "media_upload_error"),
    (131008, None): (_P, "missing_parameter"),
    (131009, None): (_P, "invalid_parameter"),
    (100, None): (_P, "invalid_parameter"),
    (132000, None): (_P, "template_param_count_mismatch"),
    (132001, None): (_P, "template_not_found"),
    (132005, None): (_P, "template_text_too_long"),
    (132007, None): (_P, "template_policy_violation"),
    (132008, None): (_P, "template_param_invalid"),
    (132012, None): (_P, "template_param_format_mismatch"),
    (132015, None): (_P, "template_paused"),
    (132016, None): (_P, "template_disabled"),
    (132068, None): (_P, "flow_blocked"),
    (135000, None): (_P, "generic_user_error"),
    (131057, None): (_T, "maintenance_mode"),
    (131000, None): (_T, "unknown_error"),
    (131016, None): (_T, "service_unavailable"),
    (2, None): (_T, "service_unavailable"),
}

#: the pair limit is about one message per 6 s to the same user (Meta: back off 4^x s from there)
PAIR_RATE_RETRY_AFTER: Final = 6.0


@attrs.frozen
class GraphError:
    """An error object as read from a reply or a webhook status, still uninterpreted."""

    code: int
    subcode: int | None = None
    message: str = ""
    transient: bool = False


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def read_error(value: Any) -> GraphError | None:
    """A GraphError from ``{"code": ..., "message"|"title": ..., ...}``, or None if not that shape."""
    if not isinstance(value, dict):
        return None
    code = _int(value.get("code"))
    if code is None or code < 0:
        return None
    message = value.get("message")
    if not isinstance(message, str) or not message.strip():
        title = value.get("title")
        message = title if isinstance(title, str) else ""
    return GraphError(
        code=code,
        subcode=_int(value.get("error_subcode")),
        message=message,
        transient=value.get("is_transient") is True,
    )


def kind_for_status(status: int | None) -> ErrorKind:
    """A sensible kind for an error nobody catalogued, from the HTTP status alone."""
    if status is None:
        return ErrorKind.PAYLOAD
    if status == 401:
        return ErrorKind.INTEGRATION
    if 400 <= status < 500:
        return ErrorKind.PAYLOAD
    if status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.UNKNOWN


def classify(
    error: GraphError, *, integration_name: str, secrets: Iterable[str], status: int | None = None
) -> tuple[ErrorKind, ErrorReason]:
    """The kind and canonical reason for one Graph error (reply or webhook)."""
    if error.code in AUTH_CODES:
        return ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration_name)
    entry = CATALOGUE.get((error.code, error.subcode)) or CATALOGUE.get((error.code, None))
    if entry is not None:
        kind, token = entry
        return kind, ErrorReason(PROVIDER, str(error.code), token)
    # Code 1 ("API Unknown: invalid request or possible server error") lands here too, on
    # purpose: the status says which it was. The seed's ``whatsapp:1:Unsupported message
    # type`` came with a 400 — a payload error ("don't retry") — a 5xx is a blip.
    kind = ErrorKind.TRANSIENT if error.transient else kind_for_status(status)
    fallback = "api_unknown" if error.code == 1 else "unknown_error"
    return kind, reason_from_text(PROVIDER, str(error.code), error.message, secrets=secrets, fallback=fallback)
