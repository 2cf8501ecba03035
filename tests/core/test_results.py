"""Send results and delivery updates validate what they are given."""

from __future__ import annotations

import pytest

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, DeliveryUpdate, Failed, RateLimited

REASON = ErrorReason("whatsapp", "131026", "message_undeliverable")


def test_defaults() -> None:
    assert (None, False) == (Delivered().message_id, Delivered().confirmed)
    assert (None, None, "integration") == (RateLimited().retry_after, RateLimited().reason, RateLimited().scope)
    assert ErrorKind.PAYLOAD is Failed(ErrorKind.PAYLOAD, REASON).kind


@pytest.mark.parametrize("retry_after", [-1.0, float("nan")])
def test_rate_limited_rejects_a_negative_or_nan_hint(retry_after: float) -> None:
    with pytest.raises(ValueError, match="retry_after must be >= 0 seconds"):
        RateLimited(retry_after=retry_after)


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
