#!/usr/bin/env python3
"""Benchmark the engine's own overhead: the trio runtime against an unlimited loopback
Telegram, beside a bare httpx-on-trio client against the same server, in one run.

    .venv/bin/python bench/lean.py                     # 5 000 sends, 3 repeats, medians
    .venv/bin/python bench/lean.py --sends 10000 --repeats 5
    .venv/bin/python bench/lean.py --old /tmp/sim-old  # another checkout's engine beside this one
    .venv/bin/python bench/lean.py --profile engine.prof  # cProfile one engine run (worker side)

The provider is a minimal HTTP/1.1 keep-alive server on asyncio (its own process, so its
CPU is not the worker's): it answers every request at once with a Telegram
``sendMessage`` success and never limits, so whatever bounds the rate is the client.
A SQLite file is seeded with the audience; a worker process fires the broadcast and runs
it to the end through the real plugin, dispatcher, ``HttpExecutor`` and store, configured
at 1 000 000 messages/s (no pacing). The bare clients post the same JSON with the same
concurrency (the default pacing plan's 50 in flight) and do nothing else: plain httpx,
httpx on the engine's former sharded pools, ``HttpExecutor.perform`` alone, httpcore
directly, and h11 on trio streams with no pool (see :func:`bare`). Each side is its own process; they alternate, and figures are medians.

Printed: sends/s (first send to last reply, as seen by the client process), CPU seconds
per 1 000 sends of that process, and engine ÷ bare. Targets: engine sends/s >= 0.8 x bare,
engine CPU per 1 000 sends <= 0.6 s.
"""

from __future__ import annotations

import argparse
import functools
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

TOKEN = "123:LEAN"
TEXT = "Hello from the lean benchmark"
#: the default pacing plan's sends in flight (10 batches x 5): the bare client's lanes
CONCURRENCY = 50
RATE = 1_000_000.0


# -- the provider (its own process) ------------------------------------------------------


def serve() -> None:
    """Answer every HTTP/1.1 request with a Telegram success, keep-alive; print the address."""
    import asyncio
    import re

    _LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)\r\n")
    counter = [0]

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            out = []
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                found = _LENGTH.search(self.buffer, 0, end + 2)
                length = int(found.group(1)) if found else 0
                if len(self.buffer) < end + 4 + length:
                    break
                self.buffer = self.buffer[end + 4 + length :]
                counter[0] += 1
                body = b'{"ok":true,"result":{"message_id":%d,"chat":{"id":1},"date":0,"text":"x"}}' % counter[0]
                out.append(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
            if out:
                self.transport.write(b"".join(out))

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}", flush=True)
        await server.serve_forever()

    asyncio.run(main())


# -- the two clients (each its own process) --------------------------------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare(base_url: str, count: int, transport: str) -> dict[str, Any]:
    """``count`` sendMessage POSTs from one httpx.AsyncClient on trio, 50 in flight.

    ``transport`` "httpx": httpx's own pool of 50 connections (what a plain client
    gets); "shards": the httpx client HttpExecutor builds (the same limits, split over
    its small pools; since runtime/h11pool.py only a ``transport=`` mock goes this way);
    "engine": ``HttpExecutor.perform`` itself, the engine's HTTP path (h11 on trio streams),
    so engine ÷ this is the cost of the store, dispatcher and plugin alone;
    "h11": no pool at all (:func:`_h11_lanes`), the floor of the thin path;
    "httpcore": httpcore's pools driven directly, without httpx (:func:`_httpcore_lanes`)."""
    import httpx
    import trio

    from broadcaster.core.http import HttpCall, HttpReply
    from broadcaster.runtime.http import HttpExecutor

    async def run() -> None:
        url = f"{base_url}/bot{TOKEN}/sendMessage"
        todo = iter(range(count))
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        executor = HttpExecutor()
        if transport == "engine":
            async with executor:

                async def perform() -> None:
                    for i in todo:
                        call = HttpCall(method="POST", url=url, json={"chat_id": str(700_000_000 + i), "text": TEXT})
                        reply = await executor.perform("tg", call)
                        if not isinstance(reply, HttpReply) or reply.status != 200:
                            raise RuntimeError(f"the send failed: {reply}")
                        json.loads(reply.body)  # the engine's plugin reads every reply

                async with trio.open_nursery() as nursery:
                    for _ in range(CONCURRENCY):
                        nursery.start_soon(perform)
            return
        async with (
            executor,
            httpx.AsyncClient(limits=limits) if transport == "httpx" else executor.client("tg") as client,
        ):

            async def lane() -> None:
                for i in todo:
                    reply = await client.post(url, json={"chat_id": str(700_000_000 + i), "text": TEXT})
                    reply.raise_for_status()
                    reply.json()  # the engine's plugin reads every reply

            async with trio.open_nursery() as nursery:
                for _ in range(CONCURRENCY):
                    nursery.start_soon(lane)

    cpu, started = _cpu(), time.perf_counter()
    lanes = {"h11": _h11_lanes, "httpcore": _httpcore_lanes}.get(transport)
    trio.run(run if lanes is None else functools.partial(lanes, base_url, count))
    return {"sends": count, "wall_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu}


async def _h11_lanes(base_url: str, count: int) -> None:
    """The thin path's floor: 50 lanes, each one keep-alive connection driven by h11 on a
    trio stream (what httpcore does underneath, without httpx's request and response
    models, its pool or its stream wrappers). Plain HTTP only; a sketch, not a client."""
    import h11
    import trio

    host, port = base_url.removeprefix("http://").split(":")
    target = f"/bot{TOKEN}/sendMessage".encode()
    todo = iter(range(count))

    async def lane() -> None:
        stream = await trio.open_tcp_stream(host, int(port))
        conn = h11.Connection(h11.CLIENT)
        async with stream:
            for i in todo:
                body = json.dumps({"chat_id": str(700_000_000 + i), "text": TEXT}).encode()
                headers = [("host", host), ("content-type", "application/json"), ("content-length", str(len(body)))]
                await stream.send_all(
                    conn.send(h11.Request(method="POST", target=target, headers=headers))
                    + conn.send(h11.Data(data=body))
                    + conn.send(h11.EndOfMessage())
                )
                status, chunks = 0, []
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        chunks.append(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                if status != 200:
                    raise RuntimeError(f"the server answered {status}")
                json.loads(b"".join(chunks))  # the engine's plugin reads every reply
                conn.start_next_cycle()

    async with trio.open_nursery() as nursery:
        for _ in range(CONCURRENCY):
            nursery.start_soon(lane)


async def _httpcore_lanes(base_url: str, count: int) -> None:
    """httpcore used directly: the engine's pool split (pools of 4 connections, used in
    turn, so each pool's per-request scan stays small), each request an
    ``httpcore.Request`` with its body in bytes, no httpx request, response or client."""
    import httpcore
    import trio

    from broadcaster.runtime.http import HttpSettings, shard_limits

    url = httpcore.URL(f"{base_url}/bot{TOKEN}/sendMessage")
    todo = iter(range(count))
    pools = [
        httpcore.AsyncConnectionPool(
            max_connections=part.max_connections, max_keepalive_connections=part.max_keepalive_connections
        )
        for part in shard_limits(HttpSettings().limits())
    ]
    turn = [0]
    timeouts = {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 5.0}

    async def lane() -> None:
        for i in todo:
            body = json.dumps({"chat_id": str(700_000_000 + i), "text": TEXT}).encode()
            pool = pools[turn[0]]
            turn[0] = (turn[0] + 1) % len(pools)
            reply = await pool.request(
                "POST",
                url,
                headers=[(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                content=body,
                extensions={"timeout": timeouts},
            )
            if reply.status != 200:
                raise RuntimeError(f"the server answered {reply.status}")
            json.loads(reply.content)  # the engine's plugin reads every reply

    async with trio.open_nursery() as nursery:
        for _ in range(CONCURRENCY):
            nursery.start_soon(lane)
    for pool in pools:
        await pool.aclose()


def seed(db_path: Path, size: int, base_url: str) -> None:
    from broadcaster.core.lifecycle import State
    from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
    from broadcaster.store.sqlite import open_store

    with open_store(db_path) as store:
        store.put_integration(Integration("tg", "telegram", {"token": TOKEN, "base_url": base_url}))
        store.put_flow(Flow("f1", "lean", first_card=TextCard(TEXT)))
        store.upsert_contacts(
            [Contact(f"c{i:07d}", f"Person {i}", chats=(Chat("tg", str(700_000_000 + i)),)) for i in range(size)]
        )
        store.create_broadcast(
            Broadcast(
                id="lean",
                mode=Mode.FLOW,
                flow_id="f1",
                audience=Audience(filter=""),
                state=State.SCHEDULED,
                run_at=time.time(),
            )
        )


def engine(db_path: str, profile: str | None = None) -> dict[str, Any]:
    """Fire the seeded broadcast and run it to the end in this process, as a worker does."""
    import random

    import broadcaster_telegram
    import trio

    from broadcaster.plugins import ProviderRegistry, make_plugin_manager
    from broadcaster.runtime.context import Runtime, WallClock
    from broadcaster.runtime.http import HttpExecutor
    from broadcaster.runtime.scheduler import fire_due
    from broadcaster.runtime.worker import run_broadcast
    from broadcaster.store.sqlite import open_store

    timing: dict[str, float] = {}

    async def run() -> Any:
        pm = make_plugin_manager(autoload=False, plugins=[broadcaster_telegram])
        with open_store(db_path) as store:
            async with HttpExecutor() as executor:
                runtime = Runtime(
                    store=store,
                    registry=ProviderRegistry.from_plugin_manager(pm),
                    executor=executor,
                    clock=WallClock(),
                    rng=random.Random(1),
                    rates={"tg": RATE},
                )
                timing["cpu"], timing["started"] = _cpu(), time.perf_counter()
                (fired,) = fire_due(runtime)
                done = await run_broadcast(runtime, fired.id)
                timing["wall"], timing["cpu"] = time.perf_counter() - timing["started"], _cpu() - timing["cpu"]
                return done

    if profile:
        import cProfile

        profiler = cProfile.Profile()
        done = profiler.runcall(trio.run, run)
        profiler.dump_stats(profile)
    else:
        done = trio.run(run)
    counters = done.counters
    return {
        "sends": counters.delivered + counters.failed,
        "delivered": counters.delivered,
        "wall_s": timing["wall"],
        "cpu_s": timing["cpu"],
    }


# -- the harness -------------------------------------------------------------------------------


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), str(code / "plugins" / "telegram")])
    return env


def _child(args: list[str], code: Path | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
        env=_env(code),
        cwd=tempfile.gettempdir(),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(side: str, base_url: str, sends: int, code: Path | None, profile: str | None = None) -> dict[str, Any]:
    if side.startswith("bare"):
        return _child(["--bare", base_url, str(sends), side.split()[-1]])
    with tempfile.TemporaryDirectory() as tmp:
        # seeded by the engine's own process: an older checkout's store has an older schema
        db_path = Path(tmp) / "lean.sqlite"
        result = _child(["--engine", str(db_path), base_url, str(sends), *([profile] if profile else [])], code)
    if result["delivered"] != sends:
        raise SystemExit(f"{side}: {result['delivered']} of {sends} delivered")
    return result


def _row(label: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    rate = statistics.median(r["sends"] / r["wall_s"] for r in runs)
    cpu = statistics.median(1000 * r["cpu_s"] / r["sends"] for r in runs)
    walls = " ".join(f"{r['sends'] / r['wall_s']:.0f}" for r in runs)
    print(f"{label:>13}  {rate:>9,.0f}  {cpu:>12.3f}  {walls}", flush=True)
    return {"rate": rate, "cpu": cpu}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--serve":
        serve()
        return 0
    if argv and argv[0] == "--bare":
        print(json.dumps(bare(argv[1], int(argv[2]), argv[3])))
        return 0
    if argv and argv[0] == "--engine":
        seed(Path(argv[1]), int(argv[3]), argv[2])
        print(json.dumps(engine(argv[1], argv[4] if len(argv) > 4 else None)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old", type=Path, help="also run the engine of the checkout at this directory")
    parser.add_argument("--profile", help="cProfile one engine run into this file, and print nothing else")
    opts = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if opts.profile:
            print(json.dumps(measure("engine", base_url, opts.sends, None, str(Path(opts.profile).resolve()))))
            return 0
        sides: list[tuple[str, Path | None]] = [
            ("bare httpx", None),
            ("bare shards", None),
            ("bare engine", None),
            ("bare h11", None),
            ("bare httpcore", None),
            ("engine", None),
        ]
        if opts.old is not None:
            sides.insert(5, ("old engine", opts.old.resolve()))
        load = os.getloadavg()
        print(
            f"{opts.sends:,} sends, median of {opts.repeats} run(s) per side, interleaved"
            f" (load average {load[0]:.2f} {load[1]:.2f} at the start)"
        )
        print(f"{'':>13}  {'sends/s':>9}  {'CPU s/1000':>12}  runs (sends/s)")
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in sides}
        for _ in range(opts.repeats):
            for label, code in sides:
                runs[label].append(measure(label if label.startswith("bare") else "engine", base_url, opts.sends, code))
        rows = {label: _row(label, runs[label]) for label, _ in sides}
        for label, _ in sides[5:]:
            print(
                f"{label}: sends/s {rows[label]['rate'] / rows['bare httpx']['rate']:.2f} x bare httpx"
                f" and {rows[label]['rate'] / rows['bare engine']['rate']:.2f} x bare on the engine's HTTP path"
                f" (target >= 0.8); CPU per 1 000 sends {rows[label]['cpu']:.3f} s (target <= 0.6)"
            )
        load = os.getloadavg()
        print(f"load average {load[0]:.2f} {load[1]:.2f} at the end (2 cores, shared)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
