"""A rate-limited fake provider in its own process, for many-worker tests and benchmarks.

    python -m broadcaster_simulator.limited --limit 1000 --burst 50   # prints its URL, serves until killed
    python -m broadcaster_simulator.limited --limit 1000 --storm 2 32 # 429s, retry_after 5, from 2 s to 32 s
    python -m broadcaster_simulator.limited                           # unlimited

The simulator's fake Telegram (real wire format, 429 with ``retry_after`` over its limit),
served on loopback by :mod:`.wire_server` (httptools on uvloop: it runs on the machine of
the workers it paces, so its CPU is theirs), which also records when every request *arrived*. Its clock
starts at the first request. ``GET /stats`` answers its tallies as JSON, with the busiest
1-second window of requests sent to it (``busiest_sent``: what the workers together sent,
refused or not) and of messages it accepted, the messages it accepted in each second from
the first (``per_second``), so a test or benchmark can hold several workers' combined pace
against the limit.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any, Sequence

from broadcaster.fake import WireReply, json_reply

from .wire_server import serve

__all__ = ["busiest_window", "loopback_listener", "main", "per_second", "start", "stats"]


def busiest_window(times: Sequence[float], *, width: float = 1.0) -> int:
    """The most of ``times`` (in order) that fall in any window ``width`` seconds long."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def per_second(times: Sequence[float]) -> list[int]:
    """How many of ``times`` fall in each whole second from the first."""
    if not times:
        return []
    counts = [0] * (int(times[-1] - times[0]) + 1)
    for t in times:
        counts[int(t - times[0])] += 1
    return counts


def _serve(
    limit: float | None,
    burst: int,
    latency: tuple[float, float],
    port: int,
    *,
    storm: tuple[float, float] | None = None,
    seed: int = 1,
) -> None:
    from .fakes import FakeProvider
    from .model import Latency, Period, PeriodKind, ProviderBehaviour

    # a storm: the provider takes (next to) nothing and answers retry_after 5
    timeline = () if storm is None else (Period(PeriodKind.RATE_LIMIT, *storm, limit=0.001, burst=1, retry_after=5),)
    behaviour = ProviderBehaviour(
        "tg",
        "telegram",
        limit=1e9 if limit is None else limit,
        burst=10**9 if limit is None else burst,
        latency=Latency(*latency),
        timeline=timeline,
    )
    started: list[float] = []

    def clock() -> float:
        # from the first request, so that a storm's times count from the run's start
        if not started:
            started.append(time.monotonic())
        return time.monotonic() - started[0]

    fake = FakeProvider(behaviour, seed=seed, clock=clock)
    arrived: list[float] = []

    def stats_reply() -> WireReply:
        accepted = [m.at for m in fake.accepted]
        return json_reply(
            200,
            {
                "requests": fake.requests,
                "answers": {verdict.value: count for verdict, count in fake.answers.items()},
                "accepted": len(accepted),
                "span": (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0,
                "busiest_sent": busiest_window(arrived),
                "busiest_accepted": busiest_window(accepted),
                "duplicates": len(fake.duplicates()),
                "per_second": per_second(accepted),
            },
        )

    def handle(
        method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[float, WireReply]:
        if path == "/stats":
            return 0.0, stats_reply()
        arrived.append(clock())
        return fake.answer(method, path, query, headers, raw)

    listener = loopback_listener(port)
    host, bound = listener.getsockname()
    print(f"http://{host}:{bound}", flush=True)
    serve(handle, listener)


def loopback_listener(port: int = 0) -> socket.socket:
    """A TCP socket listening on 127.0.0.1:``port`` (0: any free port), whose accepted
    connections send each reply at once. Listening before the server starts: a client that
    connects as soon as the URL is printed waits in the backlog instead of being refused."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by each accepted connection: without it a reply waited out the client's
    # delayed ACK (40 ms on Linux), more than the latency the fake is set to
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(2048)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m broadcaster_simulator.limited", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--limit", type=float, help="messages per second the provider takes (default: unlimited)")
    parser.add_argument("--burst", type=int, default=50, help="how many it takes at once after a quiet spell")
    parser.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(0.02, 0.08),
        metavar=("MEDIAN", "P99"),
        help="reply latency in seconds, log-normal (default: 0.02 0.08)",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--storm",
        type=float,
        nargs=2,
        metavar=("START", "END"),
        help="a 429 storm (retry_after 5) from START to END seconds after the first request",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the latencies drawn")
    opts = parser.parse_args(argv)
    if opts.limit is not None and opts.limit <= 0:
        parser.error(f"--limit must be above 0 messages/s, not {opts.limit:g}")
    if not 0 < opts.latency[0] <= opts.latency[1]:
        parser.error(f"--latency needs 0 < MEDIAN <= P99 (seconds), not {opts.latency[0]:g} {opts.latency[1]:g}")
    storm = None if opts.storm is None else (opts.storm[0], opts.storm[1])
    _serve(opts.limit, opts.burst, (opts.latency[0], opts.latency[1]), opts.port, storm=storm, seed=opts.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def start(
    limit: float | None,
    *,
    burst: int = 50,
    latency: tuple[float, float] = (0.02, 0.08),
    storm: tuple[float, float] | None = None,
    seed: int = 1,
) -> tuple[Any, str]:
    """Start the provider in a process of its own (``limit`` None: unlimited); returns
    (the process, its base URL)."""
    import subprocess

    args = ["--burst", str(burst), "--latency", *map(str, latency), "--seed", str(seed)]
    if limit is not None:
        args += ["--limit", str(limit)]
    if storm is not None:
        args += ["--storm", *map(str, storm)]
    server = subprocess.Popen(
        [sys.executable, "-m", "broadcaster_simulator.limited", *args], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    if not base_url.startswith("http"):
        server.kill()
        raise RuntimeError(f"the limited fake provider did not start (it said {base_url!r})")
    return server, base_url


def stats(base_url: str) -> dict[str, Any]:
    """The provider's tallies (see the module docstring)."""
    import httpx

    return dict(httpx.get(f"{base_url}/stats", timeout=30).json())
