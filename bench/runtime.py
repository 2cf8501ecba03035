#!/usr/bin/env python3
"""Benchmark the trio runtime's pacing over real loopback HTTP against a provider whose
limit is set apart from the rate the integration is configured with.

    .venv/bin/python bench/runtime.py                       # every regime, 3 repeats, medians
    .venv/bin/python bench/runtime.py --repeats 1 wrong-high # one regime
    .venv/bin/python bench/runtime.py --old ../old-tree      # the same regimes on another checkout too
    .venv/bin/python bench/runtime.py memory-10000 memory-100000  # peak memory at two sizes

For each regime: a SQLite file is seeded with the audience; a fake Telegram (the
simulator's ``broadcaster_simulator.limited``, its own process) enforces the provider's *true* limit
with a burst of 50 and answers 429 with ``retry_after`` 1 above it (Telegram's style),
whatever rate the integration is configured with; a worker process fires the broadcast
and runs it to the end through the real plugin, ``HttpExecutor`` (httpx) and store.
Three processes, so the provider never shares the worker's CPU accounting.

Printed per regime: achieved rate (first accepted to last accepted) ÷ the true limit (or
÷ the configured rate where that is the lower, the operator's ceiling), the share of
requests answered 429, contacts lost (not delivered), the worker's CPU per 1 000 sends.
``unlimited`` also runs a bare httpx-on-trio client against the same fake in the same
run: the engine's own overhead is the ratio of the two. With ``--old DIR`` every regime
also runs on the checkout at DIR (its ``broadcaster`` and Telegram plugin first on the
path) in the same invocation, so old and new figures are a like-for-like pair. The
machine is shared: figures are medians of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

TOKEN = "123:BENCH"
TEXT = "Hello from the runtime benchmark"
BURST = 50
_CHUNK = 5_000
#: in-flight requests of the bare client (the engine's default: 10 batches x 5)
_BARE_CONCURRENCY = 50


@attrs.frozen
class Regime:
    name: str
    #: the provider's true limit (messages/s); None: unlimited
    limit: float | None
    #: the integration's configured rate
    configured: float
    contacts: int
    #: what the achieved rate is held against, and its target
    target: float
    #: a 429 storm: (start, end) seconds after the first request, with retry_after 5
    storm: tuple[float, float] | None = None
    #: run over at least this many seeds of the fake's latencies (and the worker's jitter),
    #: one per repeat: a figure that holds on one seed only is not a figure
    seeds: int = 1

    @property
    def reference(self) -> float:
        """What the run could at best achieve: the lower of the true limit and the ceiling."""
        return self.configured if self.limit is None else min(self.limit, self.configured)


REGIMES = (
    Regime("right-300", 300, 300, 3_000, 0.95),
    Regime("wrong-high", 300, 1_000, 9_000, 0.90, seeds=5),
    Regime("wrong-low", 300, 60, 1_500, 0.98),
    Regime("right-1000-short", 1_000, 1_000, 5_000, 0.95),
    Regime("right-1000-long", 1_000, 1_000, 20_000, 0.98),
    Regime("storm", 1_000, 1_000, 10_000, 0.0, storm=(2.0, 32.0)),
    Regime("unlimited", None, 100_000, 5_000, 0.0),
)
#: run only when named: the worker's peak memory at two sizes (within 10 % of each other)
MEMORY = (
    Regime("memory-10000", 1_000, 1_000, 10_000, 0.95),
    Regime("memory-100000", 1_000, 1_000, 100_000, 0.95),
)
_BY_NAME = {regime.name: regime for regime in REGIMES + MEMORY}


# -- the audience --------------------------------------------------------------------------


def seed_audience(db_path: Path, size: int, base_url: str) -> None:
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


def work(db_path: str, rate: float, seed: int = 1) -> dict[str, Any]:
    import random

    import broadcaster_telegram
    import trio

    from broadcaster.plugins import ProviderRegistry, make_plugin_manager
    from broadcaster.runtime.context import Runtime, WallClock
    from broadcaster.runtime.http import HttpExecutor
    from broadcaster.runtime.scheduler import fire_due
    from broadcaster.runtime.worker import run_broadcast
    from broadcaster.store.sqlite import open_store

    async def run() -> dict[str, Any]:
        pm = make_plugin_manager(autoload=False, plugins=[broadcaster_telegram])
        with open_store(db_path) as store:
            async with HttpExecutor() as executor:
                runtime = Runtime(
                    store=store,
                    registry=ProviderRegistry.from_plugin_manager(pm),
                    executor=executor,
                    clock=WallClock(),
                    rng=random.Random(seed),
                    rates={"tg": rate},
                )
                before = resource.getrusage(resource.RUSAGE_SELF)
                (fired,) = fire_due(runtime)
                done = await run_broadcast(runtime, fired.id)
                after = resource.getrusage(resource.RUSAGE_SELF)
                bucket = runtime.buckets.get("tg")
                learned = getattr(bucket, "learned", None)  # the limit it measured, if any
        counters = done.counters
        return {
            "delivered": counters.delivered,
            "failed": counters.failed,
            "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "learned": learned,
            "peak_rss_mb": after.ru_maxrss / 1024,
        }

    return trio.run(run)


def bare(base_url: str, count: int) -> dict[str, Any]:
    """The floor: ``count`` sendMessage requests from a bare httpx client on trio, 50 in
    flight, nothing else (no store, no dispatcher, no plugin)."""
    import httpx
    import trio

    async def run() -> float:
        url = f"{base_url}/bot{TOKEN}/sendMessage"
        todo = iter(range(count))
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=_BARE_CONCURRENCY)) as client:

            async def lane() -> None:
                for i in todo:
                    reply = await client.post(url, json={"chat_id": str(700_000_000 + i), "text": TEXT})
                    reply.raise_for_status()

            async with trio.open_nursery() as nursery:
                for _ in range(_BARE_CONCURRENCY):
                    nursery.start_soon(lane)
        return float(count)

    before = resource.getrusage(resource.RUSAGE_SELF)
    trio.run(run)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


# -- the harness ---------------------------------------------------------------------------


def _start_provider(regime: Regime, seed: int) -> tuple[subprocess.Popen[str], str]:
    from broadcaster_simulator import limited

    return limited.start(regime.limit, burst=BURST, storm=regime.storm, seed=seed)


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(code / "plugins" / "telegram")])
    return env


def measure(regime: Regime, code: Path | None, *, bare_client: bool = False, seed: int = 1) -> dict[str, Any]:
    import httpx

    server, base_url = _start_provider(regime, seed)
    try:
        if bare_client:
            out = subprocess.run(
                [sys.executable, __file__, "--bare", base_url, str(regime.contacts)],
                check=True,
                capture_output=True,
                text=True,
            )
            result: dict[str, Any] = json.loads(out.stdout)
            result.update(delivered=regime.contacts, failed=0)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                db_path = Path(tmp) / "bench.sqlite"
                # by the code measured: a store written by newer code is refused by older code
                subprocess.run(
                    [sys.executable, __file__, "--seed", str(db_path), str(regime.contacts), base_url],
                    check=True,
                    env=_env(code),
                    cwd=tempfile.gettempdir(),
                )
                out = subprocess.run(
                    [sys.executable, __file__, "--work", str(db_path), str(regime.configured), str(seed)],
                    capture_output=True,
                    text=True,
                    env=_env(code),
                    cwd=tempfile.gettempdir(),
                )
                if out.returncode != 0:
                    which = "this checkout" if code is None else str(code)
                    raise SystemExit(f"the worker ({which}, {regime.name}, seed {seed}) failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout)
        result["stats"] = httpx.get(f"{base_url}/stats").json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return result


def figures(regime: Regime, result: dict[str, Any]) -> dict[str, float]:
    stats = result["stats"]
    sent = stats["requests"]
    accepted = stats["accepted"]
    rate = (accepted - 1) / stats["span"] if stats["span"] > 0 else 0.0
    return {
        "rate": rate,
        "ratio": rate / regime.reference,
        "share_429": stats["answers"].get("throttled", 0) / max(sent, 1),
        "per_1000_429": 1000 * stats["answers"].get("throttled", 0) / max(accepted, 1),
        "lost": regime.contacts - result["delivered"],
        "cpu_per_1000": 1000 * result["cpu_seconds"] / max(sent, 1),
        "storm_cost": stats["span"] - accepted / regime.reference,
        "duplicates": stats["duplicates"],
        "peak_rss_mb": result.get("peak_rss_mb", 0.0),
    }


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _worst(runs: list[dict[str, float]]) -> dict[str, float]:
    """The worst run's figures: the lowest ratio, the most refusals and losses."""
    worst = {key: max(run[key] for run in runs) for key in runs[0]}
    worst["ratio"] = min(run["ratio"] for run in runs)
    return worst


def line(label: str, regime: Regime, fig: dict[str, float]) -> str:
    if regime.name == "unlimited":
        head = f"{fig['rate']:,.0f} sends/s"
    elif regime.storm is not None:
        head = f"storm cost {fig['storm_cost']:.1f} s of sending (target <= 35 s)"
    else:
        against = "true limit" if regime.reference == regime.limit else "configured ceiling"
        head = f"{fig['ratio']:.3f} of the {against} (target >= {regime.target:.2f})"
    return (
        f"  {label:<4} {head}; 429s {100 * fig['share_429']:.2f} % ({fig['per_1000_429']:.1f} per 1 000);"
        f" lost {fig['lost']:.0f}; CPU {fig['cpu_per_1000']:.2f} s per 1 000 sends; duplicates {fig['duplicates']:.0f};"
        f" worker peak RSS {fig['peak_rss_mb']:.1f} MB"
    )


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--seed":
        seed_audience(Path(argv[1]), int(argv[2]), argv[3])
        return 0
    if argv and argv[0] == "--work":
        print(json.dumps(work(argv[1], float(argv[2]), int(argv[3]))))
        return 0
    if argv and argv[0] == "--bare":
        print(json.dumps(bare(argv[1], int(argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("regimes", nargs="*", choices=[[]] + list(_BY_NAME), metavar="REGIME", default=[])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old", type=Path, help="also run every regime on the checkout at this directory")
    opts = parser.parse_args(argv)
    chosen = [_BY_NAME[name] for name in opts.regimes] or list(REGIMES)
    codes: list[tuple[str, Path | None]] = [("new", None)]
    if opts.old is not None:
        codes.insert(0, ("old", opts.old.resolve()))
    print(
        f"medians of {opts.repeats} runs (a regime with seeds: one run per seed, at least that many);"
        " old and new interleaved in one invocation",
        flush=True,
    )
    for regime in chosen:
        limit = "unlimited" if regime.limit is None else f"{regime.limit:,.0f}/s"
        print(
            f"{regime.name}: provider {limit}, configured {regime.configured:,.0f}/s, {regime.contacts:,} contacts"
            + (f", 429 storm (retry_after 5) {regime.storm[0]:g}-{regime.storm[1]:g} s" if regime.storm else ""),
            flush=True,
        )
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in codes}
        floor: list[dict[str, float]] = []
        for repeat in range(max(opts.repeats, regime.seeds)):
            seed = 1 + repeat if regime.seeds > 1 else 1
            for label, code in codes:
                runs[label].append(figures(regime, measure(regime, code, seed=seed)))
            if regime.name == "unlimited":
                floor.append(figures(regime, measure(regime, None, bare_client=True)))
        for label, _ in codes:
            fig = _median(runs[label])
            print(line(label, regime, fig), flush=True)
            if regime.seeds > 1:
                worst = _worst(runs[label])
                print(
                    f"       over {len(runs[label])} seeds: min {worst['ratio']:.3f} of the true limit,"
                    f" max 429s {100 * worst['share_429']:.2f} %, max lost {worst['lost']:.0f}",
                    flush=True,
                )
            if floor:
                base = _median(floor)
                print(
                    f"       vs a bare httpx-on-trio client {base['rate']:,.0f} sends/s"
                    f" ({base['cpu_per_1000']:.2f} s CPU per 1 000): {fig['rate'] / base['rate']:.3f}"
                    " (target >= 0.8)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
