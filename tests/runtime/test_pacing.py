"""Pacing end to end on trio's virtual clock: the runtime, the real plugin and store against a
fake Telegram whose limit is not the rate the integration is configured with."""

from __future__ import annotations

import random

import attrs
import broadcaster_telegram
import httpx
import trio

from broadcaster.core.outcomes import Outcome
from broadcaster.core.results import Delivered
from broadcaster.plugin import hookimpl, rate_state
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.health import HealthTracker

from .fake_telegram import FakeTelegram
from .test_worker import fire_and_run, make_runtime, schedule, setup_store


class DistantTelegram(FakeTelegram):
    """Decides on arrival, answers 20-80 ms later (a round trip): requests are in flight
    when a refusal comes back, as over a real network."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._latency = random.Random(7)

    def transport(self) -> httpx.MockTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            reply = self.handler(request)
            await trio.sleep(self._latency.uniform(0.02, 0.08))
            return reply

        return httpx.MockTransport(handler)


async def _run(contacts: int, *, limit: float, configured: float, **options) -> tuple[float, FakeTelegram]:
    store = setup_store(contacts)
    fake = DistantTelegram(rate=limit, burst=50)
    runtime, _ = make_runtime(store, fake, rates={"tg": configured}, **options)
    schedule(store)
    with trio.fail_after(3600):
        (done,) = await fire_and_run(runtime)
    assert store.count_rows("b1") == {Outcome.DELIVERED: contacts, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert len(fake.accepted) == contacts and set(fake.accepted.values()) == {1}  # none lost, none twice
    return done.counters.finished_at - done.counters.started_at, fake


async def test_a_rate_configured_3x_too_high_is_found(autojump_clock):
    buckets: dict = {}
    seconds, fake = await _run(6_000, limit=300.0, configured=1_000.0, buckets=buckets)
    assert 6_000 / seconds >= 0.90 * 300.0
    assert fake.throttled <= 0.02 * fake.requests
    assert buckets["tg"].allows_more() is None  # the provider refused: nothing more to suggest


async def test_a_rate_configured_5x_too_low_is_kept_as_the_ceiling_and_more_suggested(autojump_clock):
    buckets: dict = {}
    reported: dict = {}
    tracker = HealthTracker(on_status=lambda name, health: reported.update({name: health}), buckets=buckets)
    seconds, fake = await _run(1_200, limit=300.0, configured=60.0, buckets=buckets, health=tracker)
    assert fake.throttled == 0
    assert 0.98 * 60.0 <= 1_200 / seconds <= 60.0 * 1.1  # at the ceiling, never past it (its burst aside)
    await tracker.flush()
    assert reported["tg"].allows_more == 120.0  # what `integrations list` suggests (twice the ceiling)


class WindowedTelegram(DistantTelegram):
    """Takes ``size`` requests per fixed ``window`` of seconds and reports what is left
    on every success (``X-RateLimit-Remaining`` / ``-Reset-After``), as many APIs do;
    over it, a 429 like Telegram's."""

    def __init__(self, *, size: int, window: float) -> None:
        super().__init__()
        self.size, self.window = size, window

    def _window(self) -> tuple[int, float]:
        now = trio.current_time()
        return int(now // self.window), self.window - now % self.window

    def _take(self) -> bool:
        index, _ = self._window()
        if getattr(self, "_index", None) != index:
            self._index, self._used = index, 0
        if self._used >= self.size:
            return False
        self._used += 1
        return True

    def handler(self, request: httpx.Request) -> httpx.Response:
        reply = super().handler(request)
        if reply.status_code == 200:
            _, reset = self._window()
            reply.headers["X-RateLimit-Remaining"] = str(self.size - self._used)
            reply.headers["X-RateLimit-Reset-After"] = f"{reset:.3f}"
        return reply


class _MeteredTelegram(broadcaster_telegram.Telegram):
    """Telegram's codec, reading the rate headers of a success too (as a plugin may)."""

    def interpret_reply(self, integration, call, reply):
        result = super().interpret_reply(integration, call, reply)
        return attrs.evolve(result, rate=rate_state(reply)) if isinstance(result, Delivered) else result


class _MeteredPlugin:
    @hookimpl
    def register_providers(self, register) -> None:
        register(_MeteredTelegram())


async def test_a_provider_reporting_its_budget_is_waited_for_not_collected_as_429s(autojump_clock):
    # 100 requests per 2 s window, the integration configured at 1 000/s: without the
    # headers every window would open with a burst of refusals
    store = setup_store(1_000)
    fake = WindowedTelegram(size=100, window=2.0)
    runtime, _ = make_runtime(store, fake, rates={"tg": 1_000.0})
    runtime.registry = ProviderRegistry.from_plugin_manager(
        make_plugin_manager(autoload=False, plugins=[_MeteredPlugin()])
    )
    schedule(store)
    with trio.fail_after(3600):
        (done,) = await fire_and_run(runtime)
    assert store.count_rows("b1") == {Outcome.DELIVERED: 1_000, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert len(fake.accepted) == 1_000 and set(fake.accepted.values()) == {1}
    # the first window's burst is sent before any reply says anything; after that the
    # sends wait for each reset: a handful of refusals (the sends in flight when the
    # first report came back), not a burst per window (128 without the headers)
    assert fake.throttled <= 10
    seconds = done.counters.finished_at - done.counters.started_at
    assert seconds <= 10 * 2.0  # within the tenth window: no backoff round on top
