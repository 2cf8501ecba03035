#!/usr/bin/env python3
"""Benchmark the GraphQL API (``broadcaster serve``) over real loopback HTTP.

    .venv/bin/python bench/api.py              # 100 000 rows, 50 subscribers
    .venv/bin/python bench/api.py 20000 10     # rows, subscribers

1. ``history`` first page (50 rows, newest first) of a broadcast with N rows: p50 / p99
   over 300 requests on one keep-alive connection (target: p99 <= 50 ms on SQLite), and
   the same filtered by ``status: FAILED`` and by a ``search``.
2. S subscribers (graphql-transport-ws) on one SENDING broadcast while another process
   records 500 rows/s for 5 s: whether every subscriber got every row, the lag from a
   row's commit to its arrival (p50 / p99; target p99 <= 1 s), and the server's CPU
   seconds per subscriber per second (Linux: /proc).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import httpx
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcaster.api import Scope, Tokens  # noqa: E402
from broadcaster.core.lifecycle import State  # noqa: E402
from broadcaster.core.models import Contact, DispatchRow, Flow, Integration, TextCard  # noqa: E402
from broadcaster.core.outcomes import ErrorKind, Status  # noqa: E402
from broadcaster.core.reasons import ErrorReason  # noqa: E402
from broadcaster.service import BroadcastService  # noqa: E402
from broadcaster.store import open_store  # noqa: E402
from tests.api.conftest import free_port, start_server  # noqa: E402

HISTORY = """query H($id: ID!, $status: Outcome, $search: String) {
  history(broadcastId: $id, status: $status, search: $search, first: 50) {
    rows { contact { id name } channel outcome status errorReason usedFallback sentAt deliveredAt } endCursor } }"""
FAIL = {"error_reason": ErrorReason("telegram", "5xx", "server_error"), "error_kind": ErrorKind.TRANSIENT}


def seed(db: Path, rows: int, live: int) -> tuple[str, str]:
    """A COMPLETED broadcast with ``rows`` rows and a SENDING one over ``live`` contacts."""
    store = open_store(db)
    store.put_integration(Integration("tg", "telegram", {"token": "t"}))
    store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
    total = max(rows, live)
    for start in range(0, total, 10_000):
        store.upsert_contacts([Contact(f"c{i:07d}", f"Name {i}") for i in range(start, min(total, start + 10_000))])
    service = BroadcastService(store=store, quota=10)
    done = service.create(name="big", flow_id="f1", audience_filter="")
    running = service.create(name="live", flow_id="f1", contact_ids=[f"c{i:07d}" for i in range(live)])
    for b in (done, running):
        b = store.update_broadcast(attrs.evolve(b, state=State.SENDING), expected_state=State.SCHEDULED)
        store.snapshot_audience(b.id)
    now = time.time()
    for start in range(0, rows, 5_000):
        batch = [
            DispatchRow(
                done.id,
                f"c{i:07d}",
                Status.PROVIDER_ERROR if i % 10 == 0 else Status.DELIVERED,
                contact_name=f"Name {i}",
                integration="tg",
                sent_at=now,
                recorded_at=now,
                **(FAIL if i % 10 == 0 else {}),
            )  # fmt: skip
            for i in range(start, min(rows, start + 5_000))
        ]
        store.record(batch)
    b = store.get_broadcast(done.id)
    store.update_broadcast(attrs.evolve(b, state=State.COMPLETED), expected_state=State.SENDING)
    store.close()
    return done.id, running.id


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples) * 1000:6.1f} ms   p99 {q[98] * 1000:6.1f} ms"


def bench_history(url: str, token: str, broadcast_id: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        for label, variables in (
            ("first page", {}),
            ("status: FAILED", {"status": "FAILED"}),
            ('search: "Name 99"', {"search": "Name 99"}),
        ):
            samples = []
            for _ in range(300):
                started = time.perf_counter()
                response = client.post(url, json={"query": HISTORY, "variables": {"id": broadcast_id, **variables}})
                samples.append(time.perf_counter() - started)
                assert len(response.json()["data"]["history"]["rows"]) == 50, response.text
            print(f"  history {label:<20} {percentiles(samples)}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_subscribers(url: str, token: str, db: Path, broadcast_id: str, count: int, rows: int,
                            pid: int) -> None:  # fmt: skip
    query = gql("subscription S($id: ID!) { broadcastUpdates(broadcastId: $id) { rows { contact { id } sentAt } } }")
    query.variable_values = {"id": broadcast_id}
    arrivals: list[dict[str, float]] = [{} for _ in range(count)]
    ready = 0

    async def subscriber(index: int) -> None:
        nonlocal ready
        transport = WebsocketsTransport(url=url.replace("http", "ws", 1), init_payload={"Authorization": f"Bearer {token}"},
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])  # fmt: skip
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            first = True
            async for update in session.subscribe(query):
                if first:
                    ready += 1
                    first = False
                now = time.time()
                for row in update["broadcastUpdates"]["rows"]:
                    arrivals[index][row["contact"]["id"]] = now

    tasks = [asyncio.create_task(subscriber(i)) for i in range(count)]
    while ready < count:
        await asyncio.sleep(0.05)
    cpu_before, wall_before, own_before = cpu_seconds(pid), time.time(), time.process_time()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__)), "--record", str(db), broadcast_id, str(rows), stdout=subprocess.PIPE
    )
    out, _ = await writer.communicate()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    cpu, wall = cpu_seconds(pid) - cpu_before, time.time() - wall_before
    own = time.process_time() - own_before
    committed = json.loads(out)
    complete = all(set(a) == set(committed) for a in arrivals)
    lags = [a[cid] - at for a in arrivals for cid, at in committed.items() if cid in a]
    print(f"  {count} subscribers, {rows} rows at 500/s: every subscriber got every row: {complete}")
    print(f"  lag commit -> subscriber   {percentiles(lags)}")
    print(f"  server CPU {cpu:.2f} s over {wall:.1f} s: {cpu / wall / count * 1000:.1f} ms CPU per subscriber-second")
    # the clients share this one process: when it is busier than the server, the lag is theirs
    print(f"  the {count} clients' own CPU {own:.2f} s over the same {wall:.1f} s (gql, websockets, JSON)")


def record_rows(db: str, broadcast_id: str, rows: int) -> None:
    """The writer process: 500 rows/s in batches of 25, then COMPLETED; prints commit times."""
    store = open_store(db)
    committed: dict[str, float] = {}
    started = time.time()
    for start in range(0, rows, 25):
        target = started + start / 500
        time.sleep(max(0.0, target - time.time()))
        batch = [DispatchRow(broadcast_id, f"c{i:07d}", Status.DELIVERED, contact_name=f"Name {i}", integration="tg",
                             sent_at=time.time(), recorded_at=time.time()) for i in range(start, min(rows, start + 25))]  # fmt: skip
        store.record(batch)
        now = time.time()
        committed.update({row.contact_id: now for row in batch})
    b = store.get_broadcast(broadcast_id)
    store.update_broadcast(attrs.evolve(b, state=State.COMPLETED), expected_state=State.SENDING)
    store.close()
    print(json.dumps(committed))


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--record":
        record_rows(argv[1], argv[2], int(argv[3]))
        return
    rows = int(argv[0]) if argv else 100_000
    subscribers = int(argv[1]) if len(argv) > 1 else 50
    live_rows = 2_500
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        done_id, live_id = seed(db, rows, live_rows)
        print(f"seeded {rows} rows in {time.perf_counter() - started:.1f} s")
        with open_store(db) as store:
            token = Tokens(store).create("bench", Scope.READ)
        process, url = start_server(db)
        try:
            bench_history(url, token, done_id)
            asyncio.run(bench_subscribers(url, token, db, live_id, subscribers, live_rows, process.pid))
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    _ = free_port
    main(sys.argv[1:])
