"""Send results and delivery updates validate what they are given."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import MAX_RETRY_AFTER, Delivered, DeliveryUpdate, Failed, RateLimited

REASON = ErrorReason("whatsapp", "131026", "message_undeliverable")


def test_defaults() -> None:
    assert (None, False) == (Delivered().message_id, Delivered().confirmed)
    assert (None, None, "integration") == (RateLimited().retry_after, RateLimited().reason, RateLimited().scope)
    assert ErrorKind.PAYLOAD is Failed(ErrorKind.PAYLOAD, REASON).kind


@pytest.mark.parametrize("retry_after", [-1.0, -1e308, float("nan"), "30", True, [5]])
def test_rate_limited_drops_a_negative_nan_or_non_numeric_hint(retry_after: object) -> None:
    # a provider's garbage hint is not a crash: the backoff policy decides alone
    assert RateLimited(retry_after=retry_after).retry_after is None  # type: ignore[arg-type]


@pytest.mark.parametrize("retry_after", [1e308, float("inf"), 10**400, MAX_RETRY_AFTER + 0.5, 86400])
def test_rate_limited_caps_a_huge_hint(retry_after: float) -> None:
    assert MAX_RETRY_AFTER == RateLimited(retry_after=retry_after).retry_after == 3600.0


@pytest.mark.parametrize("retry_after", [0, 0.0, 1, 2.5, MAX_RETRY_AFTER])
def test_rate_limited_keeps_a_usable_hint(retry_after: float) -> None:
    assert float(retry_after) == RateLimited(retry_after=retry_after).retry_after


@given(st.one_of(st.floats(), st.integers(), st.text(), st.none(), st.booleans()))
def test_any_hint_ends_up_none_or_within_bounds(value: object) -> None:
    hint = RateLimited(retry_after=value).retry_after  # type: ignore[arg-type]
    assert hint is None or (isinstance(hint, float) and 0 <= hint <= MAX_RETRY_AFTER)


def test_rate_limited_scope() -> None:
    assert "contact" == RateLimited(retry_after=0.0, scope="contact").scope
    with pytest.raises(ValueError, match="scope must be 'integration' or 'contact', got 'chat'"):
        RateLimited(scope="chat")


@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_delivery_update_statuses(status: str) -> None:
    assert status == DeliveryUpdate("wamid.1", status, 10.0).status


def test_delivery_update_rejects_unknown_status_and_failed_without_reason() -> None:
    with pytest.raises(ValueError, match="unknown delivery status 'seen'"):
        DeliveryUpdate("wamid.1", "seen", 10.0)
    with pytest.raises(ValueError, match="a failed delivery update needs a reason"):
        DeliveryUpdate("wamid.1", "failed", 10.0)
    assert REASON == DeliveryUpdate("wamid.1", "failed", 10.0, reason=REASON).reason
