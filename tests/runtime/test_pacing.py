"""Pacing end to end on trio's virtual clock: the runtime, the real plugin and store against a
fake Telegram whose limit is not the rate the integration is configured with."""

from __future__ import annotations

import random

import httpx
import trio

from broadcaster.core.outcomes import Outcome

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


async def _run(contacts: int, *, limit: float, configured: float) -> tuple[float, FakeTelegram]:
    store = setup_store(contacts)
    fake = DistantTelegram(rate=limit, burst=50)
    runtime, _ = make_runtime(store, fake, rates={"tg": configured})
    schedule(store)
    with trio.fail_after(3600):
        (done,) = await fire_and_run(runtime)
    assert store.count_rows("b1") == {Outcome.DELIVERED: contacts, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert len(fake.accepted) == contacts and set(fake.accepted.values()) == {1}  # none lost, none twice
    return done.counters.finished_at - done.counters.started_at, fake


async def test_a_rate_configured_3x_too_high_is_found(autojump_clock):
    seconds, fake = await _run(6_000, limit=300.0, configured=1_000.0)
    assert 6_000 / seconds >= 0.90 * 300.0
    assert fake.throttled <= 0.02 * fake.requests


async def test_a_rate_configured_5x_too_low_is_kept_as_the_ceiling(autojump_clock):
    seconds, fake = await _run(1_200, limit=300.0, configured=60.0)
    assert fake.throttled == 0
    assert 0.98 * 60.0 <= 1_200 / seconds <= 60.0 * 1.1  # at the ceiling, never past it (its burst aside)
