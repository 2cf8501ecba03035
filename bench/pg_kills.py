#!/usr/bin/env python3
"""Kill test across workers: 3 real ``broadcaster run`` processes on one PostgreSQL database
share one broadcast of 20 000 contacts; a random worker is SIGKILLed and restarted 20 times.

    .venv/bin/python bench/pg_kills.py
    .venv/bin/python bench/pg_kills.py --contacts 5000 --kills 5

The harness is the suite's (tests/runtime/test_units_kill_e2e.py, 2 000 contacts, 4 kills):
the loopback fake provider (``broadcaster_simulator.limited``) records every message it
accepted, the workers run with ``--lease 3`` so that a dead worker's units are taken over
within seconds. Printed: contacts accepted twice by the provider (target 0), rows (target:
one per contact), counters against rows, and outcome unknown per kill (target: at most one
in-flight window, PacingPlan().max_in_flight, each).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcaster.core.pacing import PacingPlan  # noqa: E402
from tests.runtime.test_units_kill_e2e import run_kills  # noqa: E402

ADMIN = os.environ.get("BROADCASTER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1_000.0, help="the integration's rate, messages/s")
    args = parser.parse_args()
    name = f"broadcaster_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = ADMIN.rpartition("/")
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seen = run_kills(f"{head}/{name}", Path(tmp), contacts=args.contacts, kills=args.kills, rate=args.rate)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    window = PacingPlan().max_in_flight
    per_kill = list(seen["unknown_per_kill"])  # type: ignore[call-overload]
    per_kill += [0] * (args.kills - len(per_kill))
    print(f"3 workers, {args.contacts} contacts, {args.kills} SIGKILLs + restarts, {time.monotonic() - started:.0f} s:")
    print(f"  final state {seen['state'].value}, 'finished' events {seen['finished_events']}")  # type: ignore[attr-defined]
    print(f"  accepted by the provider {seen['accepted']}, contacts accepted twice {seen['duplicates']} (target 0)")
    print(f"  rows {seen['rows']} (target {args.contacts}), still pending {seen['pending']}")
    print(f"  counters (delivered, failed, skipped) {seen['counters']}   rows by outcome {seen['by_outcome']}"
          f"   {'equal' if seen['counters'] == seen['by_outcome'] else 'DIFFERENT'}")  # fmt: skip
    print(f"  outcome unknown {seen['outcome_unknown']} in all; per kill (largest first) {per_kill}"
          f"; max {max(per_kill)} (target <= one in-flight window, {window})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
