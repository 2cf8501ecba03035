"""Shared provider limits in the trio runtime: three workers on one PostgreSQL store (one
process, virtual clock) together keep one integration's rate; a refusal one of them saw
pauses the others."""

from __future__ import annotations

import httpx
import trio
from broadcaster_simulator.limited import busiest_window

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Chat, Contact
from broadcaster.runtime.serve import run_worker
from broadcaster.store import open_store
from tests.conftest import pg_reset

from .fake_telegram import FakeTelegram
from .test_many_workers import _fill
from .test_worker import make_runtime, schedule

RATE, BURST = 50.0, 30  # the integration's rate; Telegram's channel burst


class Recorded(httpx.AsyncBaseTransport):
    """The fake's answers, with the (virtual) time each request arrived."""

    def __init__(self, fake: FakeTelegram, times: list[float]) -> None:
        self._inner = fake.transport()
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.times.append(trio.current_time())
        return await self._inner.handle_async_request(request)


async def _three_workers(pg_url: str, *, share: bool) -> tuple[list[float], FakeTelegram]:
    pg_reset(pg_url)
    stores = [open_store(pg_url, worker_id=f"worker-{i}") for i in range(3)]
    try:
        _fill(stores[0], 0)
        stores[0].upsert_contacts(
            [Contact(f"c{i:06d}", f"Person {i}", {"slice": i % 3}, chats=(Chat("tg", str(i)),)) for i in range(300)]
        )
        for k in range(3):
            schedule(stores[0], f"b{k}", audience=Audience(filter=f"slice = {k}"))
        fake = FakeTelegram(rate=RATE, burst=BURST)
        times: list[float] = []
        runtimes = []
        for store in stores:
            # (store calls inline: the autojump clock jumps ahead while a thread works)
            runtime, _ = make_runtime(store, fake, rates={"tg": RATE}, share_rates=share, store_threads=False)
            runtime.executor = type(runtime.executor)(transport=Recorded(fake, times))
            runtimes.append(runtime)
        with trio.fail_after(600):
            async with trio.open_nursery() as nursery:
                for runtime in runtimes:
                    nursery.start_soon(lambda r=runtime: run_worker(r, once=True, max_concurrent=1))
        for k in range(3):
            done = stores[0].get_broadcast(f"b{k}")
            assert (done.state, done.counters.delivered) == (State.COMPLETED, 100)
        assert stores[0].rate_shares("tg") == []
        return sorted(times), fake
    finally:
        for store in stores:
            store.close()


async def test_three_workers_together_keep_the_integrations_rate(pg_url, autojump_clock):
    times, fake = await _three_workers(pg_url, share=True)
    assert busiest_window(times) <= RATE + BURST
    # never a refusal, and the work done at (nearly) the whole rate: 300 sends in 6 s
    assert fake.throttled == 0 and sum(fake.accepted.values()) == 300
    assert times[-1] - times[0] < 300 / RATE * 1.1


async def test_without_sharing_the_same_three_workers_overrun_it(pg_url, autojump_clock):
    """What the test above guards against: each worker pacing alone at the full rate is
    refused again and again (29 refusals where sharing draws none), and its pauses (the
    provider's retry_after) leave the run longer than the rate allows. Since a bucket
    resumes after a mostly refused burst's pause without a saved burst, the pauses cost
    less than they did (6.7 s for the 6 s of work, 9 s and more before)."""
    times, fake = await _three_workers(pg_url, share=False)
    assert fake.throttled > 15 and times[-1] - times[0] > 300 / RATE * 1.05


def test_the_limited_fake_counts_what_it_accepted_in_each_second():
    from broadcaster_simulator.limited import per_second

    assert per_second([]) == []
    assert per_second([10.0, 10.2, 10.99, 11.0, 13.5]) == [3, 1, 0, 1]
    assert busiest_window([10.0, 10.2, 10.99, 11.0, 13.5]) == 3  # a window is half-open


def test_the_limited_fake_listens_without_nagle():
    """Each reply leaves at once: with Nagle on, a reply waited out the client's delayed
    ACK (40 ms), which turned a 1 ms fake into a 44 ms one."""
    import socket

    from broadcaster_simulator.limited import loopback_listener

    listener = loopback_listener()
    try:
        host, port = listener.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        # already listening: a client that connects before the server runs waits, unrefused
        with socket.create_connection((host, port), timeout=5):
            pass
    finally:
        listener.close()
