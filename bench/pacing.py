#!/usr/bin/env python3
"""The pacing decisions alone, machine-independent: a token bucket in a closed loop against a
provider model, on a virtual clock (no I/O, so a loaded machine cannot skew it).

    .venv/bin/python bench/pacing.py                    # this checkout's bucket
    .venv/bin/python bench/pacing.py --old ../old-tree  # and another checkout's, side by side
    .venv/bin/python bench/pacing.py --uplink 0.001 0.01  # sends reach the provider late (jitter)

The loop is the runtime's shape: up to 50 requests in flight; each reply comes back after
a log-normal latency, median 20 ms, p99 80 ms (the runtime bench's fake); the provider is a token
bucket (burst 50) that answers 429 with ``retry_after`` 1 above its limit (Telegram's
style), whatever rate the integration is configured with; a refused send is sent again.
``bench/runtime.py`` runs the same regimes over real HTTP; this one isolates what the
bucket decides from what the machine can do. Deterministic (seeded): one run is the figure.
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import math
import random
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

IN_FLIGHT = 50
#: reply latency: log-normal, median 20 ms, p99 80 ms (the runtime bench's fake)
#: the standard normal's 99th percentile: a log-normal's sigma from its median and p99
_Z99 = 2.3263478740408408


def _lognormal(median_p99: tuple[float, float]) -> tuple[float, float]:
    """(mu, sigma) of the log-normal with this median and 99th percentile."""
    median, p99 = median_p99
    return math.log(median), math.log(p99 / median) / _Z99


_MU, _SIGMA = _lognormal((0.02, 0.08))
BURST = 50
#: (name, provider limit, configured rate, messages, storm (start, end) with retry_after 5)
REGIMES: tuple[tuple[str, float, float, int, tuple[float, float] | None], ...] = (
    ("provider 300/s, configured 300/s, 3 000 msgs", 300, 300, 3_000, None),
    ("provider 300/s, configured 1 000/s, 3 000 msgs", 300, 1_000, 3_000, None),
    ("provider 300/s, configured 1 000/s, 9 000 msgs", 300, 1_000, 9_000, None),
    ("provider 300/s, configured 60/s (5x too low), 1 500 msgs", 300, 60, 1_500, None),
    ("provider 1 000/s, configured 1 000/s, 5 000 msgs", 1_000, 1_000, 5_000, None),
    ("provider 1 000/s, configured 1 000/s, 20 000 msgs", 1_000, 1_000, 20_000, None),
    (
        "429 storm (retry_after 5) for 30 s, provider = configured 1 000/s, 10 000 msgs",
        1_000,
        1_000,
        10_000,
        (2.0, 32.0),
    ),
)


def load_ratelimit(tree: Path | None) -> ModuleType:
    if tree is None:
        from broadcaster.core import ratelimit

        return ratelimit
    # the other checkout's module, loaded as part of this checkout's package (it imports .channels)
    path = tree / "broadcaster" / "core" / "ratelimit.py"
    spec = importlib.util.spec_from_file_location("broadcaster.core._old_ratelimit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(
    ratelimit: ModuleType,
    limit: float,
    configured: float,
    count: int,
    storm: Any,
    seed: int = 1,
    uplink: tuple[float, float] | None = None,
) -> dict[str, float]:
    rng = random.Random(seed)
    up_rng = random.Random(-seed)  # its own stream: with it off, the replies draw as before
    up_mu, up_sigma = _lognormal(uplink) if uplink else (0.0, 0.0)
    bucket = ratelimit.TokenBucket(rate=configured, burst=BURST, now=0.0, warmup=ratelimit.DEFAULT_WARMUP)
    has_accepted = hasattr(bucket, "accepted")
    now, tokens, last = 0.0, float(BURST), 0.0
    # (at, seq, arriving, accepted, hint, sent at): a send arriving at the provider, or its reply
    events: list[tuple[float, int, bool, bool, float, float]] = []
    todo, in_flight, seq = count, 0, 0
    accepted_at: list[float] = []
    refused = 0
    while todo or in_flight:
        wake = bucket.next_available(now) if todo and in_flight < IN_FLIGHT else float("inf")
        if events and events[0][0] <= wake:
            now, _, arriving, ok, hint, sent = heapq.heappop(events)
            if arriving:  # the provider decides in the order sends reach it
                stormy = storm is not None and storm[0] <= now < storm[1]
                tokens, last = min(BURST, tokens + (now - last) * limit), now
                ok = tokens >= 1.0 and not stormy
                if ok:
                    tokens -= 1.0
                else:
                    refused += 1
                seq += 1
                reply = now + rng.lognormvariate(_MU, _SIGMA)
                heapq.heappush(events, (reply, seq, False, ok, 5.0 if stormy else 1.0, sent))
                continue
            in_flight -= 1
            if ok:
                accepted_at.append(now)
                if has_accepted:  # the new bucket's signature; the old one had neither
                    bucket.accepted(now, sent_at=sent)
            else:
                todo += 1
                if has_accepted:
                    bucket.throttled(now, pause=hint, sent_at=sent)
                else:
                    bucket.throttled(now, pause=hint)
            continue
        now = wake
        if not bucket.try_take(now):
            continue
        todo -= 1
        in_flight += 1
        seq += 1
        arrival = now + (up_rng.lognormvariate(up_mu, up_sigma) if uplink else 0.0)
        heapq.heappush(events, (arrival, seq, True, False, 0.0, now))
    span = accepted_at[-1] - accepted_at[0]
    reference = min(limit, configured)
    return {
        "ratio": (len(accepted_at) - 1) / span / reference,
        "per_1000": 1000 * refused / len(accepted_at),
        "share": refused / (refused + len(accepted_at)),
        "storm_cost": span - count / reference,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="also decide with the bucket of the checkout at this directory")
    parser.add_argument("--seeds", type=int, default=7, help="latency draws per regime (min / median printed)")
    parser.add_argument(
        "--uplink",
        type=float,
        nargs=2,
        metavar=("MEDIAN", "P99"),
        help="a send reaches the provider this long after it left (log-normal, seconds): what a busy"
        " event loop and opening connections add over real HTTP, so sends arrive out of step with"
        " the times the bucket knows (default: at once)",
    )
    opts = parser.parse_args(argv)
    if opts.uplink is not None and not 0 < opts.uplink[0] <= opts.uplink[1]:
        parser.error(f"--uplink needs 0 < MEDIAN <= P99 (seconds), not {opts.uplink[0]:g} {opts.uplink[1]:g}")
    buckets = [("new", load_ratelimit(None))]
    if opts.old is not None:
        buckets.insert(0, ("old", load_ratelimit(opts.old.resolve())))
    print(f"{opts.seeds} seeds per regime: median (min, or max where lower is better)")
    for name, limit, configured, count, storm in REGIMES:
        print(name)
        for label, module in buckets:
            figs = [
                run(module, limit, configured, count, storm, seed, opts.uplink) for seed in range(1, opts.seeds + 1)
            ]
            med = {key: statistics.median(fig[key] for fig in figs) for key in figs[0]}
            worst = {key: (min if key == "ratio" else max)(fig[key] for fig in figs) for key in figs[0]}
            head = (
                f"storm costs {med['storm_cost']:.1f} s of sending (max {worst['storm_cost']:.1f}; target <= 35 s)"
                if storm
                else f"{med['ratio']:.3f} (min {worst['ratio']:.3f}) of"
                f" {'the true limit' if limit <= configured else 'the configured ceiling'}"
            )
            print(
                f"  {label:<4} {head}; 429s {100 * med['share']:.2f} % (max {100 * worst['share']:.2f} %),"
                f" {med['per_1000']:.1f} per 1 000 (max {worst['per_1000']:.1f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
