"""Shared provider limits end to end: three real ``broadcaster run`` processes on one
PostgreSQL store, one integration, against a loopback fake provider enforcing the
integration's rate. Together they never send faster than the provider's limit plus its
burst, as the provider itself recorded it (its busiest 1-second window of requests).

Loose bounds on purpose: the precise figures are bench/shared_limits.py's. Three workers
each pacing alone at the full rate would send up to three times the limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from broadcaster_simulator import limited

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
from broadcaster.store import SQLStore, open_store
from tests.conftest import pg_reset
from tests.runtime.waiting import wait_for

#: the integration is configured at the provider's limit; the workers' buckets together hold
#: at most Telegram's channel burst (30), under the provider's
LIMIT, BURST = 50.0, 60
WORKERS, PER_BROADCAST = 3, 100


def _seed(url: str, base_url: str) -> None:
    with open_store(url) as store:
        store.put_integration(Integration("tg", "telegram", {"token": "123:E2E", "base_url": base_url}))
        store.put_flow(Flow("f1", "e2e", first_card=TextCard("Hello")))
        store.upsert_contacts(
            [
                Contact(f"c{i:04d}", f"Person {i}", {"slice": i % WORKERS}, chats=(Chat("tg", str(5000 + i)),))
                for i in range(WORKERS * PER_BROADCAST)
            ]
        )


def _schedule(store: SQLStore) -> None:
    for k in range(WORKERS):
        store.create_broadcast(
            Broadcast(
                id=f"b{k}",
                mode=Mode.FLOW,
                flow_id="f1",
                audience=Audience(filter=f"slice = {k}"),
                state=State.SCHEDULED,
                run_at=time.time(),
            )
        )


def test_three_workers_together_stay_within_the_providers_limit(pg_url: str, tmp_path: Path) -> None:
    pg_reset(pg_url)
    server, base_url = limited.start(LIMIT, burst=BURST, latency=(0.01, 0.03))
    try:
        _seed(pg_url, base_url)
        config = tmp_path / "broadcaster.toml"
        config.write_text(f'store = "{pg_url}"\n[rates]\ntg = {LIMIT}\n')
        env = dict(os.environ, BROADCASTER_CONFIG=str(config))
        command = [sys.executable, "-m", "broadcaster.cli", "run", "--plain", "--concurrent", "1", "--idle-poll", "0.1"]
        workers = [
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(WORKERS)
        ]
        try:
            with open_store(pg_url) as store:
                # every worker up and idle first, so that all three start sending together
                wait_for("three workers registered", lambda: len(store.list_workers()) == WORKERS, within=240)
                _schedule(store)
                wait_for(
                    "every broadcast completed",
                    lambda: all(b.state is State.COMPLETED for b in store.list_broadcasts()),
                )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            outputs = [w.communicate(timeout=60) for w in workers]
        assert [w.returncode for w in workers] == [128 + signal.SIGTERM] * WORKERS, outputs
        got = limited.stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    with open_store(pg_url) as store:
        done = [store.get_broadcast(f"b{k}") for k in range(WORKERS)]
        assert [(b.state, b.counters.delivered) for b in done] == [(State.COMPLETED, PER_BROADCAST)] * WORKERS
        assert store.rate_shares("tg") == []  # every worker gave its share back as it left
    assert got["duplicates"] == 0 and got["accepted"] == WORKERS * PER_BROADCAST
    # the provider's record: together, never above its limit plus its burst
    assert got["busiest_sent"] <= LIMIT + BURST, got
