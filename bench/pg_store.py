#!/usr/bin/env python3
"""The store's cost per 1 000 sends on SQLite and on PostgreSQL, compared in one run.

    .venv/bin/python bench/pg_store.py                       # 20 000 contacts, 3 runs each
    .venv/bin/python bench/pg_store.py 50000 postgresql://postgres@127.0.0.1:5432/postgres

What a worker asks of the store per send, in the runtime's own batches: ``audience_page``
(500), ``claim`` (100 at a time) and ``record`` (the same 100). Printed per engine: the
worker process's CPU seconds per 1 000 sends and the wall time per 1 000 (median of 3), and
PostgreSQL / SQLite ratios (target: CPU within 1.5x). The PostgreSQL server's own CPU is in
another process and not counted; the wall time includes it. A throw-away database is
created on the server and dropped afterwards.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, DispatchRow
from broadcaster.core.outcomes import Status
from broadcaster.store import SQLStore, open_store

PAGE, BATCH = 500, 100


def _seed(store: SQLStore, n: int) -> None:
    contacts = [Contact(f"c{i:07d}", f"Person {i}", {"n": i}, chats=(Chat("tg", str(i)),)) for i in range(n)]
    for start in range(0, n, 5000):
        store.upsert_contacts(contacts[start : start + 5000])


def _one_run(store: SQLStore, n: int, run: int) -> tuple[float, float]:
    bid = f"b{run}"
    store.create_broadcast(Broadcast(bid, audience=Audience(filter=""), state=State.SENDING))
    store.snapshot_audience(bid)
    cpu, wall = time.process_time(), time.perf_counter()
    after = None
    sent = 0
    while True:
        page = store.audience_page(bid, after_id=after, limit=PAGE)
        if not page:
            break
        after = page[-1].id
        for start in range(0, len(page), BATCH):
            chunk = page[start : start + BATCH]
            claimed = store.claim(bid, [(c.id, "tg", c.chats[0].chat_id) for c in chunk], 1.0)
            rows = [DispatchRow(bid, cid, Status.ACCEPTED, integration="tg", message_id=cid, recorded_at=2.0)
                    for cid in claimed]  # fmt: skip
            sent += store.record(rows)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert sent == n, (sent, n)
    return cpu / n * 1000, wall / n * 1000


def measure(url: str, n: int) -> tuple[float, float]:
    store = open_store(url)
    try:
        _seed(store, n)
        results = [_one_run(store, n, run) for run in range(3)]
    finally:
        store.close()
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 20_000
    admin = argv[1] if len(argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"broadcaster_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_cpu, sqlite_wall = measure(str(Path(tmp) / "bench.db"), n)
        pg_cpu, pg_wall = measure(f"{admin.rpartition('/')[0]}/{name}", n)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{n} sends per run, medians of 3 runs (page {PAGE}, claim/record batches of {BATCH})")
    print(f"  SQLite:     {sqlite_cpu:.3f} CPU s / 1000 sends, {sqlite_wall:.3f} wall s / 1000")
    print(f"  PostgreSQL: {pg_cpu:.3f} CPU s / 1000 sends, {pg_wall:.3f} wall s / 1000 (client process only)")
    ratio = pg_cpu / sqlite_cpu
    print(f"  CPU ratio PostgreSQL/SQLite: {ratio:.2f} (target <= 1.5: {'ok' if ratio <= 1.5 else 'MISSED'})")
    print(f"  wall ratio PostgreSQL/SQLite: {pg_wall / sqlite_wall:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
