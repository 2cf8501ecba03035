"""HealthTracker: records send results, hands the status over periodically."""

from __future__ import annotations

import trio

from broadcaster.core.health import HealthPolicy, HealthStatus, IntegrationHealth
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, RateLimited
from broadcaster.runtime.health import HealthTracker

AUTH = Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed("tg-main"))


async def test_status_is_handed_over_each_interval_while_sending(autojump_clock: trio.abc.Clock) -> None:
    reports: list[tuple[float, str, HealthStatus, str]] = []

    async def sink(integration: str, health: IntegrationHealth) -> None:
        reports.append((trio.current_time(), integration, health.status, health.reason))

    tracker = HealthTracker(on_status=sink, interval=10, clock=trio.current_time, policy=HealthPolicy(window=60))
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            await nursery.start(tracker.run)
            for _ in range(60):
                tracker.record("tg-main", Delivered("m"))
            for _ in range(40):
                tracker.record("tg-main", RateLimited(retry_after=1))
            await trio.sleep(10.5)
            tracker.record("wa-main", AUTH)
            await trio.sleep(10)
            # nothing new and no status change: no report at t=30
            await trio.sleep(10)
            nursery.cancel_scope.cancel()

    assert reports == [
        (10.0, "tg-main", HealthStatus.DEGRADED, "10.0 sends/s; 40% of sends rate-limited in the last 1 min"),
        (
            20.0,
            "wa-main",
            HealthStatus.AUTH_FAILED,
            "the provider refused the credentials and no send has succeeded since; fix the integration's token",
        ),
    ]


async def test_a_status_change_without_sends_is_reported(autojump_clock: trio.abc.Clock) -> None:
    reports: list[tuple[str, HealthStatus]] = []
    tracker = HealthTracker(
        on_status=lambda name, health: reports.append((name, health.status)),
        clock=trio.current_time,
        policy=HealthPolicy(window=30, min_attempts=5),
    )
    for _ in range(5):
        tracker.record("tg", RateLimited())
    await tracker.flush()
    await trio.sleep(31)  # the 429s age out of the window
    await tracker.flush()
    await tracker.flush()
    assert reports == [("tg", HealthStatus.DEGRADED), ("tg", HealthStatus.OK)]


async def test_a_failing_sink_is_logged_and_retried(autojump_clock: trio.abc.Clock, caplog) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def sink(name: str, health: IntegrationHealth) -> None:
        calls.append(name)
        if len(calls) == 1:
            raise OSError("database is locked")

    tracker = HealthTracker(on_status=sink, clock=trio.current_time)
    tracker.record("tg", Delivered("m"))
    await tracker.flush()
    await tracker.flush()  # the failed hand-over is repeated although nothing changed
    await tracker.flush()
    assert calls == ["tg", "tg"]
    assert "could not hand over the health of integration 'tg'" in caplog.text


async def test_cancel_reports_one_last_time(autojump_clock: trio.abc.Clock) -> None:
    reports: list[str] = []
    tracker = HealthTracker(on_status=lambda name, h: reports.append(name), interval=60, clock=trio.current_time)
    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.run)
        tracker.record("tg", Delivered("m"))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert reports == ["tg"]


def test_unknown_integration_is_ok_with_no_sends() -> None:
    tracker = HealthTracker(on_status=lambda name, h: None, clock=lambda: 1_800_000_000.0)
    health = tracker.health("nobody")
    assert (health.status, health.reason) == (HealthStatus.OK, "no sends in the last 5 min")


async def test_store_sink_keeps_the_latest_status_in_the_store() -> None:
    from broadcaster.core.health import HealthStatus
    from broadcaster.core.models import Integration
    from broadcaster.core.outcomes import ErrorKind
    from broadcaster.core.reasons import ErrorReason
    from broadcaster.core.results import Failed
    from broadcaster.runtime.health import HealthTracker, store_sink
    from broadcaster.store.sqlite import open_store

    store = open_store(":memory:")
    store.put_integration(Integration("tg", "telegram", {}))
    tracker = HealthTracker(on_status=store_sink(store), clock=lambda: 1000.0)
    tracker.record("tg", Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed("tg")))
    await tracker.flush()
    stored = store.get_integration_health("tg")
    assert (stored.integration, stored.status, stored.updated_at) == ("tg", HealthStatus.AUTH_FAILED, 1000.0)
    assert "auth" in stored.detail.lower() or "credential" in stored.detail.lower()
