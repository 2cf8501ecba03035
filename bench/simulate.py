#!/usr/bin/env python3
"""Benchmark the simulator: contacts simulated per second and peak memory, for 10 000,
100 000 and 1 000 000-contact scenarios with a provider outage and a 429 storm.

    .venv/bin/python bench/simulate.py                # all three sizes, 3 runs each
    .venv/bin/python bench/simulate.py 100000         # one size
    .venv/bin/python bench/simulate.py --repeat 5     # more runs per size
    .venv/bin/python bench/simulate.py --old /tmp/sim-old 1000000   # another checkout beside this one

Each run is its own process so that peak memory (ru_maxrss) is that run's alone; a size's
wall time is the median of its runs (the machine is shared and noisy), its peak memory the
largest.
Every contact goes through the real Dispatcher. The outage and the storm sit at the same
fractions of each run (30-35 % and 60-70 % of its expected length), so the three sizes
meet the same incidents; each run checks that it met both (outage failures and 429s).

Machines differ, so every invocation also measures its own **floor**: a bare pure-Python
loop doing only the per-contact minimum (a pre-flight check, a token-bucket step, an RNG
draw, a slotted row, a counter), in its own processes, interleaved with the runs. "x floor"
is how many times slower than that loop the simulator is: a ratio that travels between
machines where contacts/s does not. CPU time is printed beside wall time: on a shared
machine it is the steadier of the two.
With ``--old DIR`` (e.g. ``git worktree add /tmp/sim-old <commit>``) every run is paired
with one of the checkout at DIR (its ``broadcaster`` and simulator imported through
PYTHONPATH, this venv's interpreter and dependencies), old and new interleaved; the
ratio is old wall / new wall, and the two reports (JSON, sha256) must be identical.
Targets: 1M contacts in <= 10 s wall, memory flat within 10 %.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES = (10_000, 100_000, 1_000_000)
RATE = 1000.0  # messages/s per integration (an upgraded WhatsApp number, paid Telegram broadcasts)
#: what the run achieves: 200 sends in flight (20 batches x 10) over ~0.2 s mean latency
#: keep it below 2 x RATE, so the run lasts about size / THROUGHPUT simulated seconds
THROUGHPUT = 1000.0
#: the storm's bucket holds this few requests: it bites at once, even in a short run
#: (with the default burst, one second's worth, a 10 000-contact run rode it out)
STORM_BURST = 10
#: the floor loop runs at least this many contacts (a shorter loop is all timer noise)
FLOOR_MIN = 300_000


def scenario_toml(size: int) -> str:
    length = size / THROUGHPUT
    outage_at, outage_for = 0.30 * length, 0.05 * length
    storm_at, storm_for = 0.60 * length, 0.10 * length
    return f"""
[scenario]
name = "bench {size}"
seed = 1

[audience]
size = {size}
channels = {{ whatsapp = 0.5, telegram = 0.5 }}
no_chat = 0.01
opted_out = 0.01

[broadcast]
text = "bench"
pacing = {{ page_size = 1000, batch_size = 100, concurrent_batches = 20, in_flight_per_batch = 10 }}

[providers.whatsapp]
send_rate = {RATE}
limit = {RATE}
latency = {{ median = 0.15, p99 = 0.8 }}
fates = {{ unregistered = 0.003 }}
[[providers.whatsapp.timeline]]
kind = "outage"
at = {outage_at}
for = {outage_for}

[providers.telegram]
send_rate = {RATE}
limit = {RATE}
latency = {{ median = 0.1, p99 = 0.5 }}
fates = {{ blocked = 0.005 }}
[[providers.telegram.timeline]]
kind = "rate_limit"
at = {storm_at}
for = {storm_for}
limit = {RATE / 5}
burst = {STORM_BURST}
retry_after = 3
"""


def measure(size: int) -> dict[str, Any]:
    import tomllib

    from broadcaster_simulator.driver import simulate
    from broadcaster_simulator.report import build_report, render_json
    from broadcaster_simulator.scenario import parse_scenario

    scenario = parse_scenario(tomllib.loads(scenario_toml(size)), source=f"bench-{size}")
    started, cpu = time.perf_counter(), time.process_time()
    result = simulate(scenario)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    run = result.original
    assert run.targeted == size == run.delivered + run.failed + run.skipped
    answers_429 = sum(n for v, n in run.answers.items() if v.value == "throttled")
    outage_failures = sum(
        n for reason, n in run.reasons.items() if str(reason) == "whatsapp:131016:service_unavailable"
    )
    assert answers_429 > 0 and outage_failures > 0, f"{size}: the run missed the storm or the outage"
    return {
        "contacts": size,
        "wall_s": wall,
        "cpu_s": cpu,
        "contacts_per_s": size / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "delivered": run.delivered,
        "failed": run.failed,
        "answers_429": answers_429,
        "outage_failures": outage_failures,
        "rate_limit_retries": run.rate_limit_retries,
        "report_sha256": hashlib.sha256(render_json(build_report(result)).encode()).hexdigest(),
    }


class _Row:
    __slots__ = ("contact", "status", "at")

    def __init__(self, contact: int, status: int, at: float) -> None:
        self.contact, self.status, self.at = contact, status, at


def bare_loop(size: int) -> dict[str, Any]:
    """The floor: per contact only a pre-flight check, a token-bucket step, an RNG draw,
    a slotted row and a counter, in one pure-Python loop (no events, no dispatcher)."""
    rng = random.Random(1)
    draw = rng.random
    opted_out = [i % 100 == 0 for i in range(1000)]  # a page's worth of pre-flight inputs
    rate, burst, tokens, last = 1000.0, 1000.0, 1000.0, 0.0
    delivered = 0
    rows: list[_Row] = []
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(size):
        now = i / 1000.0
        if opted_out[i % 1000]:
            rows.append(_Row(i, 1, now))
            continue
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        if tokens >= 1.0:
            tokens -= 1.0
        if draw() < 0.99:
            delivered += 1
        rows.append(_Row(i, 0, now))
        if len(rows) >= 512:
            rows.clear()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"contacts": size, "wall_s": wall, "cpu_s": cpu, "contacts_per_s": size / wall, "delivered": delivered}


def _env(code: Path | None) -> dict[str, str] | None:
    """The environment that makes ``code``'s packages win over this venv's editable ones."""
    if code is None:
        return None
    paths = [code, code / "simulator", *sorted(p for p in (code / "plugins").iterdir() if p.is_dir())]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def one_run(size: int, code: Path | None = None, *, what: str = "--one") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, what, str(size)], check=True, capture_output=True, text=True, env=_env(code)
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by wall time, with the median CPU time and the largest peak memory of all the runs."""
    row = dict(sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2])
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    row["walls"] = [r["wall_s"] for r in runs]
    row["cpu_s"] = sorted(r["cpu_s"] for r in runs)[len(runs) // 2]  # the CPU time's own median
    return row


def _line(label: str, r: dict[str, Any], floor: float) -> str:
    return (
        f"{label:>5} {r['contacts']:>10,}  {r['wall_s']:>7.2f}  {r['cpu_s']:>6.2f}  {r['contacts_per_s']:>10,.0f}"
        f"  {floor / r['contacts_per_s']:>7.1f}"
        f"  {r['peak_rss_mb']:>11.1f}  {r['answers_429']:>6}  {r['rate_limit_retries']:>7}  {r['outage_failures']:>7}"
        f"  {r['failed']:>7}  {' '.join(f'{w:.2f}' for w in r['walls'])}"
    )


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--one", "--floor"):
        print(json.dumps((measure if argv[0] == "--one" else bare_loop)(int(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES), metavar="CONTACTS")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size and checkout (default 3)")
    parser.add_argument("--old", type=Path, help="also run every size on the checkout at this directory")
    opts = parser.parse_args(argv)
    codes: list[tuple[str, Path | None]] = [("new", None)]
    if opts.old is not None:
        if not (opts.old / "broadcaster" / "core").is_dir() or not (opts.old / "simulator").is_dir():
            raise SystemExit(f"--old {opts.old}: not a broadcaster checkout (no broadcaster/core or simulator/)")
        codes.insert(0, ("old", opts.old.resolve()))
    load = os.getloadavg()
    print(
        f"median of {opts.repeat} run(s) per size and checkout, interleaved in one invocation"
        f" (load average {load[0]:.2f} {load[1]:.2f} at the start)",
        flush=True,
    )
    print(
        f"{'':>5} {'contacts':>10}  {'wall s':>7}  {'cpu s':>6}  {'contacts/s':>10}  {'x floor':>7}  {'peak RSS MB':>11}  {'429s':>6}"
        f"  {'retries':>7}  {'outage':>7}  {'failed':>7}  runs (s)"
    )
    rows: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in codes}
    same = True
    for size in opts.sizes:
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in codes}
        floors = []
        for _ in range(opts.repeat):
            floors.append(one_run(max(size, FLOOR_MIN), what="--floor"))
            for label, code in codes:
                runs[label].append(one_run(size, code))
        floor = sorted(f["contacts_per_s"] for f in floors)[len(floors) // 2]
        floor_cpu = sorted(f["cpu_s"] / f["contacts"] for f in floors)[len(floors) // 2] * size
        print(
            f"{'floor':>5} {size:>10,}  {size / floor:>7.2f}  {floor_cpu:>6.2f}  {floor:>10,.0f}  {1.0:>7.1f}",
            flush=True,
        )
        for label, _ in codes:
            row = median_of(runs[label])
            rows[label].append(row)
            print(_line(label, row, floor), flush=True)
        if len(codes) > 1:
            old, new = rows["old"][-1], rows["new"][-1]
            digests = {r["report_sha256"] for label in runs for r in runs[label]}
            same = same and len(digests) == 1
            pairs = " ".join(f"{o['wall_s'] / n['wall_s']:.2f}" for o, n in zip(runs["old"], runs["new"], strict=True))
            print(
                f"{'':>5} {size:>10,}  old wall / new wall {old['wall_s'] / new['wall_s']:.2f}"
                f" (each pair: {pairs}), old CPU / new CPU {old['cpu_s'] / new['cpu_s']:.2f};"
                f" reports {'identical' if len(digests) == 1 else 'DIFFER'} ({' '.join(sorted(d[:12] for d in digests))})",
                flush=True,
            )
    for label, _ in codes:
        if len(rows[label]) > 1:
            low, high = rows[label][0]["peak_rss_mb"], rows[label][-1]["peak_rss_mb"]
            print(
                f"{label}: peak memory {rows[label][-1]['contacts']:,} vs {rows[label][0]['contacts']:,}:"
                f" {100 * (high - low) / low:+.1f} %"
            )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} at the end (2 cores, shared)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
