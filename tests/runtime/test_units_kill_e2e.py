"""Workers killed mid-broadcast on PostgreSQL: three real ``broadcaster run`` processes share
one broadcast's contacts (leased audience units) against a loopback fake provider that
records every message it accepted; a random worker is SIGKILLed and restarted, again and
again. Its units are taken over once its lease passes (``--lease 3``), the sends it left
unrecorded become FAILED outcome unknown, and nothing is lost or sent twice.

A smaller version of bench/pg_kills.py (20 000 contacts, 20 kills)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from broadcaster_simulator import limited

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.store import open_store
from tests.conftest import pg_reset
from tests.runtime.waiting import wait_for

WORKERS, CONTACTS, KILLS = 3, 2_000, 4
RATE = 400.0  # messages/s for the three together: a kill every ~0.75 s of sending


def _seed(url: str, base_url: str, contacts: int) -> None:
    with open_store(url) as store:
        store.put_integration(Integration("tg", "telegram", {"token": "123:KILL", "base_url": base_url}))
        store.put_flow(Flow("f1", "kill", first_card=TextCard("Hello")))
        store.upsert_contacts(
            [Contact(f"c{i:06d}", f"Person {i}", chats=(Chat("tg", str(10_000 + i)),)) for i in range(contacts)]
        )
        store.create_broadcast(
            Broadcast(id="b1", mode=Mode.FLOW, flow_id="f1", audience=Audience(filter=""), state=State.SCHEDULED,
                      run_at=time.time())
        )  # fmt: skip


def run_kills(
    url: str, tmp_path: Path, *, contacts: int, kills: int, rate: float = RATE, seed: int = 7
) -> dict[str, object]:
    """Run the broadcast to its end through ``kills`` SIGKILLs; returns what the provider and the store saw."""
    pg_reset(url)
    rng = random.Random(seed)
    server, base_url = limited.start(100_000.0, burst=100_000, latency=(0.01, 0.03))
    try:
        _seed(url, base_url, contacts)
        config = tmp_path / "broadcaster.toml"
        config.write_text(f'store = "{url}"\n[rates]\ntg = {rate}\n')
        env = dict(os.environ, BROADCASTER_CONFIG=str(config))
        command = [sys.executable, "-m", "broadcaster.cli", "run", "--plain", "--idle-poll", "0.1", "--lease", "3"]

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

        workers = [start() for _ in range(WORKERS)]
        killed_at: list[int] = []
        try:
            with open_store(url) as store:
                for k in range(kills):
                    target = (k + 1) * contacts // (kills + 2)
                    wait_for(
                        f"{target} accepted", lambda at=target: limited.stats(base_url)["accepted"] >= at, within=300
                    )
                    victim = rng.randrange(WORKERS)
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait(timeout=30)
                    killed_at.append(limited.stats(base_url)["accepted"])
                    workers[victim] = start()
                wait_for(
                    "the broadcast finished", lambda: store.get_broadcast("b1").state is State.COMPLETED, within=300
                )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
        got = limited.stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open_store(url) as store:
        done = store.get_broadcast("b1")
        rows = store.count_rows("b1")
        return {
            "accepted": got["accepted"],
            "duplicates": got["duplicates"],
            "rows": int(store.engine.query("SELECT COUNT(*) FROM dispatch_rows WHERE broadcast_id = 'b1'")[0][0]),
            "pending": len(store.pending("b1")),
            "counters": (done.counters.delivered, done.counters.failed, done.counters.skipped),
            "by_outcome": (rows[Outcome.DELIVERED], rows[Outcome.FAILED], rows[Outcome.SKIPPED]),
            "outcome_unknown": store.count_status("b1", Status.OUTCOME_UNKNOWN),
            "killed_at": killed_at,
            # by the worker that claimed them: each kill's dead worker has an id of its own
            "unknown_per_kill": sorted(
                (
                    int(n)
                    for _, n in store.engine.query(
                        "SELECT claimed_by, COUNT(*) FROM dispatch_rows WHERE broadcast_id = 'b1' AND status = ?"
                        " GROUP BY claimed_by",
                        (Status.OUTCOME_UNKNOWN.value,),
                    )
                ),
                reverse=True,
            ),
            "state": done.state,
            "finished_events": sum(1 for e in store.events(broadcast_id="b1") if e.event.kind.value == "finished"),
        }


def test_killed_workers_lose_nothing_and_send_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    seen = run_kills(pg_url, tmp_path, contacts=CONTACTS, kills=KILLS)
    assert seen["state"] is State.COMPLETED and seen["finished_events"] == 1, seen
    assert seen["duplicates"] == 0, seen  # no contact accepted twice by the provider
    assert seen["rows"] == CONTACTS and seen["pending"] == 0, seen  # exactly one final row per contact
    assert seen["counters"] == seen["by_outcome"], seen  # counters = rows
    delivered, failed, skipped = seen["by_outcome"]  # type: ignore[misc]
    assert delivered + failed == CONTACTS and skipped == 0, seen
    # a send the provider accepted is DELIVERED or outcome unknown; a refused one never happened here
    assert failed == seen["outcome_unknown"], seen
    assert delivered <= seen["accepted"] <= delivered + failed, seen  # type: ignore[operator]
    # at most one in-flight window of outcome unknown per kill
    assert seen["outcome_unknown"] <= KILLS * PacingPlan().max_in_flight, seen  # type: ignore[operator]
