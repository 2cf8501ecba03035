#!/usr/bin/env python3
"""Benchmark the trio runtime over real loopback HTTP against a provider enforcing its limit.

    .venv/bin/python bench/runtime.py                 # 10 000 and 100 000 contacts
    .venv/bin/python bench/runtime.py 20000           # one size

For each size: a SQLite file is seeded with the audience; the simulator's fake Telegram
(hypercorn on trio) is started in its own process, enforcing ``LIMIT`` messages/s with a
small burst and answering 429 over it; then a worker process fires the broadcast and
runs it to the end through the real plugin, ``HttpExecutor`` (httpx) and store, with
the integration's rate set to the provider's limit. Three processes, so the provider
never shares the worker's CPU and peak memory (ru_maxrss) is the worker's alone.

Printed, with targets: achieved send rate / the provider's limit (>= 0.95); share of
requests answered 429 (<= 1 %); the worker's CPU seconds per 1 000 sends; its peak
memory at each size (10 000 vs 100 000 within 10 %).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (10_000, 100_000)
#: the provider's limit (messages/s) and the burst it tolerates above it
LIMIT = 1000.0
BURST = 50
TOKEN = "123:BENCH"
TEXT = "Hello from the runtime benchmark"
_CHUNK = 5_000


# -- the provider (its own process) ------------------------------------------------------


def serve() -> None:
    """Serve the fake Telegram on a free port; print its address, then serve until killed.

    ``GET /stats`` answers the fake's tallies (requests, answers by verdict, accepted)."""
    import trio
    from broadcaster_simulator.fakes import FakeProvider
    from broadcaster_simulator.model import Latency, ProviderBehaviour
    from broadcaster_simulator.sandbox import serve_async

    behaviour = ProviderBehaviour(
        "tg", "telegram", limit=LIMIT, burst=BURST, latency=Latency(0.02, 0.08), send_rate=LIMIT
    )
    fake = FakeProvider(behaviour, seed=1, clock=time.monotonic)
    asgi = fake.asgi

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/stats":
            body = json.dumps(
                {
                    "requests": fake.requests,
                    "answers": {verdict.value: count for verdict, count in fake.answers.items()},
                    "accepted": len(fake.accepted),
                    "duplicates": len(fake.duplicates()),
                }
            ).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await asgi(scope, receive, send)

    fake.asgi = app  # type: ignore[method-assign]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve_async(fake, port=0, task_status=task_status))
            print(binds[0], flush=True)

    trio.run(main)


# -- the audience --------------------------------------------------------------------------


def seed(db_path: Path, size: int, base_url: str) -> None:
    from broadcaster.core.lifecycle import State
    from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
    from broadcaster.store.sqlite import open_store

    with open_store(db_path) as store:
        store.put_integration(Integration("tg", "telegram", {"token": TOKEN, "base_url": base_url}))
        store.put_flow(Flow("f1", "bench", first_card=TextCard(TEXT)))
        for start in range(0, size, _CHUNK):
            store.upsert_contacts(
                [
                    Contact(f"c{i:07d}", f"Person {i}", chats=(Chat("tg", str(700_000_000 + i)),))
                    for i in range(start, min(size, start + _CHUNK))
                ]
            )
        store.create_broadcast(
            Broadcast(
                id="bench",
                mode=Mode.FLOW,
                flow_id="f1",
                audience=Audience(filter=""),
                state=State.SCHEDULED,
                run_at=time.time(),  # due now (a run-at days ago would be overdue, never fired)
            )
        )


# -- the worker (its own process) ----------------------------------------------------------


def work(db_path: str) -> dict[str, float]:
    import random

    import broadcaster_telegram
    import trio

    from broadcaster.plugins import ProviderRegistry, make_plugin_manager
    from broadcaster.runtime.context import Runtime, WallClock
    from broadcaster.runtime.http import HttpExecutor
    from broadcaster.runtime.scheduler import fire_due
    from broadcaster.runtime.worker import run_broadcast
    from broadcaster.store.sqlite import open_store

    async def run() -> dict[str, float]:
        pm = make_plugin_manager(autoload=False, plugins=[broadcaster_telegram])
        with open_store(db_path) as store:
            async with HttpExecutor() as executor:
                runtime = Runtime(
                    store=store,
                    registry=ProviderRegistry.from_plugin_manager(pm),
                    executor=executor,
                    clock=WallClock(),
                    rng=random.Random(1),
                    rates={"tg": LIMIT},
                )
                before = resource.getrusage(resource.RUSAGE_SELF)
                (fired,) = fire_due(runtime)
                done = await run_broadcast(runtime, fired.id)
                after = resource.getrusage(resource.RUSAGE_SELF)
        counters = done.counters
        assert counters.started_at is not None and counters.finished_at is not None
        return {
            "delivered": counters.delivered,
            "failed": counters.failed,
            "seconds": counters.finished_at - counters.started_at,
            "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_mb": after.ru_maxrss / 1024,
        }

    return trio.run(run)


# -- the harness ---------------------------------------------------------------------------


def measure(size: int) -> dict[str, Any]:
    import httpx

    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise SystemExit(f"the fake provider did not start (said {base_url!r})")
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.sqlite"
            seed(db_path, size, base_url)
            out = subprocess.run(
                [sys.executable, __file__, "--work", str(db_path)], check=True, capture_output=True, text=True
            )
        result: dict[str, Any] = json.loads(out.stdout)
        result["stats"] = httpx.get(f"{base_url}/stats").json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return result


def report(size: int, result: dict[str, Any]) -> dict[str, float]:
    stats = result["stats"]
    sent = result["delivered"] + result["failed"]
    rate = result["delivered"] / result["seconds"]
    share_429 = stats["answers"].get("throttled", 0) / max(stats["requests"], 1)
    figures = {
        "rate_ratio": rate / LIMIT,
        "share_429": share_429,
        "cpu_per_1000": 1000 * result["cpu_seconds"] / max(sent, 1),
        "peak_rss_mb": result["peak_rss_mb"],
    }
    print(
        f"{size:>8,} contacts: {result['delivered']:,} delivered in {result['seconds']:.1f} s = {rate:,.0f}/s"
        f" -> {figures['rate_ratio']:.3f} of the {LIMIT:,.0f}/s limit (target >= 0.95);"
        f" 429s {stats['answers'].get('throttled', 0):,} of {stats['requests']:,} requests"
        f" = {100 * share_429:.2f} % (target <= 1 %);"
        f" CPU {figures['cpu_per_1000']:.2f} s per 1 000 sends; peak RSS {result['peak_rss_mb']:.1f} MB;"
        f" duplicates at the provider: {stats['duplicates']}",
        flush=True,
    )
    return figures


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        serve()
        return 0
    if argv and argv[0] == "--work":
        print(json.dumps(work(argv[1])))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    figures = {size: report(size, measure(size)) for size in sizes}
    if len(sizes) >= 2:
        small, large = figures[min(sizes)]["peak_rss_mb"], figures[max(sizes)]["peak_rss_mb"]
        print(
            f"peak memory {max(sizes):,} vs {min(sizes):,} contacts: {large:.1f} / {small:.1f} MB"
            f" = {large / small:.3f} (target within 10 %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
