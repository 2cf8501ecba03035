#!/usr/bin/env python3
"""Benchmark the simulator: contacts simulated per second and peak memory, for 10 000,
100 000 and 1 000 000-contact scenarios with a provider outage and a 429 storm.

    .venv/bin/python bench/simulate.py                # all three sizes, 3 runs each
    .venv/bin/python bench/simulate.py 100000         # one size
    .venv/bin/python bench/simulate.py --repeat 5     # more runs per size

Each run is its own process so that peak memory (ru_maxrss) is that run's alone; a size's
wall time is the median of its runs (the machine is shared and noisy), its peak memory the
largest.
Every contact goes through the real Dispatcher. The outage and the storm sit at the same
fractions of each run (30-35 % and 60-70 % of its expected length), so the three sizes
meet the same incidents; each run checks that it met both (outage failures and 429s).
Targets: 1M contacts in <= 10 s wall, memory flat within 10 %.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SIZES = (10_000, 100_000, 1_000_000)
RATE = 1000.0  # messages/s per integration (an upgraded WhatsApp number, paid Telegram broadcasts)
#: what the run achieves: 200 sends in flight (20 batches x 10) over ~0.2 s mean latency
#: keep it below 2 x RATE, so the run lasts about size / THROUGHPUT simulated seconds
THROUGHPUT = 1000.0
#: the storm's bucket holds this few requests: it bites at once, even in a short run
#: (with the default burst, one second's worth, a 10 000-contact run rode it out)
STORM_BURST = 10


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


def measure(size: int) -> dict[str, float]:
    import tomllib

    from broadcaster_simulator.driver import simulate
    from broadcaster_simulator.scenario import parse_scenario

    scenario = parse_scenario(tomllib.loads(scenario_toml(size)), source=f"bench-{size}")
    started = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - started
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
        "contacts_per_s": size / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "delivered": run.delivered,
        "failed": run.failed,
        "answers_429": answers_429,
        "outage_failures": outage_failures,
        "rate_limit_retries": run.rate_limit_retries,
    }


def one_run(size: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--one", str(size)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median run by wall time, with the largest peak memory of all the runs."""
    row = dict(sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2])
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    row["walls"] = [r["wall_s"] for r in runs]  # type: ignore[assignment]
    return row


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--one":
        print(json.dumps(measure(int(argv[1]))))
        return 0
    repeat = 3
    if "--repeat" in argv:
        at = argv.index("--repeat")
        repeat = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    sizes = [int(a) for a in argv] or list(SIZES)
    rows = [median_of([one_run(size) for _ in range(repeat)]) for size in sizes]
    print(f"median of {repeat} run(s) per size")
    print(
        f"{'contacts':>10}  {'wall s':>7}  {'contacts/s':>10}  {'peak RSS MB':>11}  {'429s':>6}  {'retries':>7}"
        f"  {'outage':>7}  {'failed':>7}  runs (s)"
    )
    for r in rows:
        print(
            f"{r['contacts']:>10,}  {r['wall_s']:>7.2f}  {r['contacts_per_s']:>10,.0f}  {r['peak_rss_mb']:>11.1f}"
            f"  {r['answers_429']:>6}  {r['rate_limit_retries']:>7}  {r['outage_failures']:>7}  {r['failed']:>7}"
            f"  {' '.join(f'{w:.2f}' for w in r['walls'])}"
        )
    if len(rows) > 1:
        low, high = rows[0]["peak_rss_mb"], rows[-1]["peak_rss_mb"]
        print(f"peak memory {rows[-1]['contacts']:,} vs {rows[0]['contacts']:,}: {100 * (high - low) / low:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
