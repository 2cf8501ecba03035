"""PostgreSQL going away under a running ``broadcaster run``: the worker waits it out and
carries on once the server is back — no crash, nothing sent twice, nothing sent blind, no
reply lost (not one outcome unknown), and the log says when it went and when it came back.

The shared server cannot be stopped here (other suites use it): the worker reaches it
through a loopback relay (tests/relay.py) that the test cuts — every connection dropped, new
ones refused — and restores.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from broadcaster_simulator import limited

from broadcaster.core.lifecycle import State
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.pacing import PacingPlan
from broadcaster.store import open_store
from tests.conftest import pg_reset
from tests.relay import Relay, relayed_url
from tests.runtime.test_units_kill_e2e import _seed
from tests.runtime.waiting import wait_for

CONTACTS = 1_500
RATE = 150.0  # messages/s: a 10 s broadcast, cut for 4 s in its middle
CUT_FOR = 4.0


@contextlib.contextmanager
def _provider_and_relay(pg_url: str) -> Iterator[tuple[str, Relay, str]]:
    """A fresh audience, the loopback provider, and a relay to the database: (the provider's
    URL, the relay, the database's URL through it)."""
    pg_reset(pg_url)
    server, base_url = limited.start(100_000.0, burst=100_000, latency=(0.05, 0.15))
    relay, relayed = relayed_url(pg_url)
    try:
        _seed(pg_url, base_url, CONTACTS)
        yield base_url, relay, relayed
    finally:
        server.terminate()
        server.wait(timeout=10)
        relay.cut()


def _worker(tmp_path: Path, name: str, store_url: str, *options: str, once: bool = True) -> subprocess.Popen[str]:
    config = tmp_path / f"{name}.toml"
    config.write_text(f'store = "{store_url}"\n[rates]\ntg = {RATE}\n')
    until = ["--once"] if once else []
    return subprocess.Popen(
        [sys.executable, "-m", "broadcaster.cli", "run", *until, "--plain", "--idle-poll", "0.2", *options],
        env=dict(os.environ, BROADCASTER_CONFIG=str(config)), cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop(workers: Iterable[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()


def test_a_worker_waits_out_a_lost_postgresql_and_finishes_with_every_reply_recorded(
    pg_url: str, tmp_path: Path
) -> None:
    with _provider_and_relay(pg_url) as (base_url, relay, relayed):
        worker = _worker(tmp_path, "a", relayed)
        try:
            wait_for(
                "a third of the audience accepted",
                lambda: limited.stats(base_url)["accepted"] >= CONTACTS // 3,
                within=120,
            )
            relay.cut()
            at_cut = limited.stats(base_url)["accepted"]
            time.sleep(CUT_FOR)
            during = limited.stats(base_url)["accepted"]
            assert worker.poll() is None, "the worker exited while the store was unreachable"
            relay.restore()
            _, err = worker.communicate(timeout=120)
        finally:
            _stop([worker])
        stats = limited.stats(base_url)

    assert worker.returncode == 0, err
    assert "Traceback" not in err
    # nothing goes out blind: at most the requests already on their way when the store went
    assert during - at_cut <= 60, (at_cut, during)
    assert "lost the PostgreSQL store" in err and "waiting for it: nothing is sent meanwhile" in err
    assert "the store answers again after" in err
    with open_store(pg_url) as store:
        broadcast = store.get_broadcast("b1")
        rows = store.history("b1", limit=CONTACTS + 1).rows
        pending = store.rows_exist("b1", [f"c{i:06d}" for i in range(CONTACTS)])
    assert broadcast.state is State.COMPLETED
    assert stats["duplicates"] == 0 and stats["accepted"] == CONTACTS
    assert len(rows) == CONTACTS and len({row.contact_id for row in rows}) == CONTACTS == len(pending)
    # every reply that came back during the outage was held and recorded once it was back
    assert all(row.outcome is Outcome.DELIVERED for row in rows), {str(r.error_reason) for r in rows}
    counters = broadcast.counters
    assert (counters.delivered, counters.failed, counters.skipped) == (CONTACTS, 0, 0)


def test_a_worker_cut_off_past_its_lease_is_taken_over_and_rejoins_sending_nothing_twice(
    pg_url: str, tmp_path: Path
) -> None:
    """Worker A reaches the database through the relay, worker B directly. A is cut off for
    longer than its lease (3 s): B marks it lost, takes its units over and resolves the sends
    A had in flight as outcome unknown; when A is back its late replies never overwrite B's
    rows, and its own claims keep it from sending what B sent. B runs without ``--once``, as a
    worker that takes over must: a ``--once`` worker leaves units a live worker holds to it,
    and B could run out of its own before A's lease passed (the broadcast would then wait for
    A, or for the next worker, to finish it)."""
    with _provider_and_relay(pg_url) as (base_url, relay, relayed):
        workers = {
            "a": _worker(tmp_path, "a", relayed, "--lease", "3"),
            "b": _worker(tmp_path, "b", pg_url, "--lease", "3", once=False),
        }
        try:
            wait_for("a quarter of the audience accepted", lambda: limited.stats(base_url)["accepted"] >= CONTACTS // 4)
            relay.cut()
            with open_store(pg_url) as store:
                wait_for(
                    "worker a marked lost", lambda: any(w.lost_at is not None for w in store.list_workers()), within=120
                )
            time.sleep(2.0)
            relay.restore()
            errors = {"a": workers["a"].communicate(timeout=120)[1]}
            with open_store(pg_url) as store:
                wait_for(
                    "the broadcast completed", lambda: store.get_broadcast("b1").state is State.COMPLETED, within=120
                )
            workers["b"].send_signal(signal.SIGINT)
            errors["b"] = workers["b"].communicate(timeout=60)[1]
        finally:
            _stop(workers.values())
        stats = limited.stats(base_url)

    # (B stopped by SIGINT once all was done: 130 after a graceful stop)
    assert {name: worker.returncode for name, worker in workers.items()} == {"a": 0, "b": 130}, errors
    assert not any("Traceback" in err for err in errors.values()), errors
    assert "the store answers again after" in errors["a"]
    with open_store(pg_url) as store:
        broadcast = store.get_broadcast("b1")
        rows = store.history("b1", limit=CONTACTS + 1).rows
        unknown = store.count_status("b1", Status.OUTCOME_UNKNOWN)
        finished = sum(1 for e in store.events(broadcast_id="b1") if e.event.kind.value == "finished")
    assert broadcast.state is State.COMPLETED and finished == 1
    assert stats["duplicates"] == 0  # no contact accepted twice by the provider
    assert len(rows) == CONTACTS and len({row.contact_id for row in rows}) == CONTACTS
    by_outcome = Counter(row.outcome for row in rows)
    counters = broadcast.counters
    statuses = Counter(row.status for row in rows)
    assert (counters.delivered, counters.failed, counters.skipped) == (
        by_outcome[Outcome.DELIVERED], by_outcome[Outcome.FAILED], 0
    ), (counters, statuses)  # fmt: skip
    # the provider accepted every contact once; what A had in flight when it was cut is
    # outcome unknown (B resolved it), at most one in-flight window, and nothing else failed
    assert stats["accepted"] <= CONTACTS
    assert by_outcome[Outcome.FAILED] == unknown <= PacingPlan().max_in_flight
