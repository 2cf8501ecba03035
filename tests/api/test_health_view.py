"""An integration's health as the API shows it: the figure to try when the provider seemed to
allow more than the configured rate travels with it."""

from __future__ import annotations

from broadcaster.api.views import health_view
from broadcaster.core.health import HealthStatus
from broadcaster.store.base import IntegrationHealth


def test_health_carries_the_rate_the_provider_seems_to_allow() -> None:
    view = health_view(IntegrationHealth("tg", HealthStatus.OK, "", 1_800_000_000.0, allows_more=120.0))
    assert view == {"status": "OK", "detail": "", "updatedAt": "2027-01-15T08:00:00Z", "allowsMore": 120.0}
    assert health_view(IntegrationHealth("tg", HealthStatus.DEGRADED, "x", 0.0))["allowsMore"] is None
