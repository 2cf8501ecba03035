#!/usr/bin/env python3
"""Many workers on one broadcast: real ``broadcaster run`` processes sharing its audience units.

    .venv/bin/python bench/pg_workers.py                       # everything, 3 runs each
    .venv/bin/python bench/pg_workers.py --repeats 1 --contacts 4000 --big 200000 --big-seconds 30
    .venv/bin/python bench/pg_workers.py --latency 0.15 0.25 --no-memory   # workers bound by in-flight, not CPU

Each run: a throw-away PostgreSQL database (created, seeded in SQL, dropped) or SQLite file,
one Telegram integration with no rate limit set by us, one broadcast, and the loopback fake
provider (``broadcaster_simulator.limited``) with a limit far above what workers reach
(100 000/s) and 1-5 ms replies (``--latency``), in its own process. With quick replies one
worker's run fills this 2-core machine by itself (its CPU, the fake's and the server's), so
a second adds little; with slow ones each worker is bound by its requests in flight, and the
ratio shows whether the workers hold each other up.

Printed (medians of the runs, side by side):
- sends/s of 1 and of 2 workers on one broadcast (PostgreSQL), first to last accepted
  message, and their ratio (target >= 1.6);
- the worker process's CPU (user + system, from wait4) per 1 000 sends, one worker, on
  PostgreSQL and on SQLite, and their ratio (target <= 1.5; the PostgreSQL server's own CPU
  is not in it: the machine is shared and its backends serve other databases too);
- a worker's peak RSS (wait4's ru_maxrss) on a 10 000-contact broadcast run to its end and
  on a ``--big``-contact one (1 000 000 by default) sent for ``--big-seconds`` and then
  stopped with SIGTERM (a worker's memory is bounded by a page and its sends in flight, so it
  peaks within seconds; sending all of 1 000 000 would take longer than this machine gives).
The machine is shared (2 cores): quote the figures with the load they ran under.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from broadcaster_simulator import limited

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Flow, Integration, Mode, TextCard
from broadcaster.store import open_store

ADMIN = os.environ.get("BROADCASTER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "123:BENCH"


def _database() -> tuple[str, str]:
    name = f"broadcaster_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = ADMIN.rpartition("/")
    return name, f"{head}/{name}"


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, contacts: int, base_url: str) -> None:
    """The integration, a flow, ``contacts`` contacts (written by one INSERT … SELECT, so a
    million take seconds) and one due broadcast to all of them."""
    with open_store(url) as store:
        store.put_integration(Integration("tg", "telegram", {"token": TOKEN, "base_url": base_url}))
        store.put_flow(Flow("f1", "bench", first_card=TextCard("Hello from the many-workers benchmark")))
        chats = (
            '\'[{"integration": "tg", "chat_id": "\' || CAST(100000000 + n AS TEXT) || \'", "last_inbound_at": null}]\''
        )
        sql = (
            "INSERT INTO contacts (id, name, opted_out, fields, chats) SELECT 'c' || SUBSTR(CAST(10000000 + n AS TEXT), 2),"
            f" 'Person ' || CAST(n AS TEXT), 0, '{{}}', {chats} FROM {{source}}"
        )
        if url.startswith("postgresql"):
            with store.engine.tx() as conn:
                conn.execute(sql.replace("{source}", "generate_series(0, ?) AS s(n)"), (contacts - 1,))
        else:
            with store.engine.tx() as conn:
                conn.execute(
                    "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < ?) "
                    + sql.replace("{source}", "s"),
                    (contacts,),
                )
        store.create_broadcast(
            Broadcast(id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED,
                      run_at=time.time())
        )  # fmt: skip
        assert store.count_contacts() == contacts


def _run(url: str, workers: int, *, stop_after: float | None = None) -> dict[str, Any]:
    """``workers`` real ``broadcaster run`` processes until the broadcast completes (or for
    ``stop_after`` seconds, then SIGTERM); their CPU and peak RSS from wait4."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "broadcaster.toml"
        config.write_text(f'store = "{url}"\n[rates]\ntg = 100000\n')  # the provider limits, not us
        env = dict(os.environ, BROADCASTER_CONFIG=str(config))
        once = ["--once"] if stop_after is None else []
        command = [sys.executable, "-m", "broadcaster.cli", "run", "--plain", "--idle-poll", "0.1", *once]
        procs = [
            subprocess.Popen(command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for _ in range(workers)
        ]
        if stop_after is not None:
            time.sleep(stop_after)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
        cpu, rss = 0.0, 0
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
            rss = max(rss, usage.ru_maxrss)
            err = proc.stderr.read().decode() if proc.stderr else ""
            if proc.returncode not in (0, 128 + signal.SIGTERM, -signal.SIGTERM):
                raise RuntimeError(f"a worker exited {proc.returncode}: {err[-2000:]}")
    return {"cpu": cpu, "rss_mb": rss / 1024}


def one_run(
    engine: str,
    workers: int,
    contacts: int,
    *,
    stop_after: float | None = None,
    latency: tuple[float, float] = (0.001, 0.005),
) -> dict[str, Any]:
    server, base_url = limited.start(100_000.0, burst=100_000, latency=latency)
    name = None
    try:
        if engine == "postgresql":
            name, url = _database()
        else:
            tmpdir = tempfile.mkdtemp()
            url = str(Path(tmpdir) / "bench.db")
        seed(url, contacts, base_url)
        got = _run(url, workers, stop_after=stop_after)
        stats = limited.stats(base_url)
        with open_store(url) as store:
            done = store.get_broadcast("b1")
            if stop_after is None:
                assert done.state is State.COMPLETED and done.counters.delivered == contacts, done.counters
        assert stats["duplicates"] == 0
        got.update(accepted=stats["accepted"], rate=stats["accepted"] / max(stats["span"], 1e-9))
        got["cpu_per_1000"] = 1000 * got["cpu"] / max(stats["accepted"], 1)
        return got
    finally:
        server.terminate()
        server.wait(timeout=10)
        if name is not None:
            _drop(name)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--big-seconds", type=float, default=40.0)
    parser.add_argument(
        "--latency",
        type=float,
        nargs=2,
        default=(0.001, 0.005),
        metavar=("LOW", "HIGH"),
        help="the provider's reply time, seconds (default 0.001 0.005); slow replies bound each worker by its"
        " requests in flight instead of by the machine's CPU",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    args = parser.parse_args()
    if not 0 <= args.latency[0] <= args.latency[1]:
        parser.error(f"--latency needs 0 <= LOW <= HIGH, got {args.latency[0]} {args.latency[1]}")
    latency = (args.latency[0], args.latency[1])
    rates: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    cpu: dict[str, list[dict[str, Any]]] = {"postgresql": [], "sqlite": []}
    for _ in range(args.repeats):  # interleaved, so that a change in the machine's load hits each alike
        for workers in (1, 2):
            rates[workers].append(one_run("postgresql", workers, args.contacts, latency=latency))
        cpu["sqlite"].append(one_run("sqlite", 1, args.contacts, latency=latency))
    cpu["postgresql"] = rates[1]
    one, two = _median(rates[1], "rate"), _median(rates[2], "rate")
    print(
        f"unlimited provider answering in {latency[0] * 1000:g}-{latency[1] * 1000:g} ms,"
        f" one broadcast of {args.contacts} contacts, medians of {args.repeats}:"
    )
    print(f"  sends/s   1 worker {one:7.0f}   2 workers {two:7.0f}   ratio {two / one:.2f} (target >= 1.6)")
    pg, lite = _median(cpu["postgresql"], "cpu_per_1000"), _median(cpu["sqlite"], "cpu_per_1000")
    print(f"  worker CPU per 1 000 sends   PostgreSQL {pg:.2f} s   SQLite {lite:.2f} s   ratio {pg / lite:.2f}"
          " (target <= 1.5)")  # fmt: skip
    if args.no_memory:
        return 0
    small = rates[1]
    big = [one_run("postgresql", 1, args.big, stop_after=args.big_seconds) for _ in range(args.repeats)]
    rss_small, rss_big = _median(small, "rss_mb"), _median(big, "rss_mb")
    print(f"peak RSS of one worker on PostgreSQL, medians of {args.repeats}:")
    print(f"  {args.contacts} contacts (to the end) {rss_small:.1f} MB   {args.big} contacts"
          f" ({args.big_seconds:.0f} s of sending, ~{_median(big, 'accepted'):.0f} sent) {rss_big:.1f} MB"
          f"   +{100 * (rss_big / rss_small - 1):.1f} % (target within 10 %)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
