"""Stopping a real worker process: SIGTERM / SIGINT mid-broadcast, and a kill while
contacts wait out a 429 backoff.

As in test_crash.py, the provider is the simulator's fake Telegram served over loopback
HTTP by hypercorn in this test's own trio loop; its ledger of accepted messages is the
ground truth. The graceful-stop worker is the real command, ``broadcaster run --once
--plain``, in its own process, so the signal handling under test is the shipped one.

Guarantees checked (docs/runtime.md, "Stopping a worker"): a graceful stop records
every send that reached the provider, leaves no claim and no outcome-unknown row, and
exits 128 + the signal with one line and no traceback; a contact refused with a 429
holds no claim while it waits, so a kill then does not make it outcome unknown; a
restarted worker finishes the broadcast with one row per contact and no duplicate.
"""

from __future__ import annotations

import os
import pty
import signal
import sqlite3
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import trio
from broadcaster_simulator.failures import Verdict
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.model import Latency, ProviderBehaviour
from broadcaster_simulator.sandbox import serve_async
from broadcaster_simulator.specs import chat_id_for

from broadcaster.core.lifecycle import State
from broadcaster.core.outcomes import Status
from broadcaster.store.sqlite import open_store

from .test_crash import TEXT, WORKER, prepare

CONTACTS = 1_000


class StormyTelegram(FakeProvider):
    """The fake Telegram, which can answer every request with a 429 and a long hint
    (``storm``), remembering the chats it refused."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storm_after: int | None = None
        self.refused: set[str] = set()

    def _decide(self, target, now):
        if self.storm_after is not None and len(self.accepted) >= self.storm_after:
            self.refused.add(target.chat_id)
            return Verdict.THROTTLED, 0.002, 3600
        return super()._decide(target, now)


def fake_telegram(*, limit: float, latency: Latency) -> StormyTelegram:
    behaviour = ProviderBehaviour("tg", "telegram", limit=limit, burst=20, latency=latency)
    return StormyTelegram(behaviour, seed=7, clock=time.monotonic)


def read_store(db_path: Path):
    with open_store(db_path) as store:
        broadcast = store.get_broadcast("b1")
        rows = {row.contact_id: row for row in store.history("b1", limit=CONTACTS + 1).rows}
        return broadcast, rows, store.pending("b1")


def assert_completed_once_each(db_path: Path, fake: FakeProvider) -> dict:
    broadcast, rows, pending = read_store(db_path)
    assert broadcast.state is State.COMPLETED
    assert pending == []
    assert sorted(rows) == [f"c{i:05d}" for i in range(CONTACTS)]
    assert fake.duplicates() == {}
    assert {m.content for m in fake.accepted} == {TEXT}
    # nothing is unknown: every contact that reached the provider is DELIVERED, once
    assert Counter(row.status for row in rows.values()) == {Status.DELIVERED: CONTACTS}
    assert len(fake.accepted) == CONTACTS
    return rows


async def until(condition, *, process: trio.Process | None = None) -> None:
    while not condition():
        assert process is None or process.returncode is None, "the worker exited before the test could act"
        await trio.sleep(0.002)


def cli_worker(tmp_path: Path, *, rate: float) -> list[str]:
    """The shipped worker command, on tmp_path's store at ``rate`` messages/s."""
    config = tmp_path / "broadcaster.toml"
    config.write_text(f'store = "{tmp_path / "stop.sqlite"}"\n[rates]\ntg = {rate}\n', encoding="utf-8")
    return [sys.executable, "-m", "broadcaster.cli", "--config", str(config), "run", "--once", "--plain"]


async def serve_and_prepare(nursery: trio.Nursery, fake: FakeProvider, db_path: Path) -> None:
    binds = await nursery.start(lambda task_status: serve_async(fake, port=0, task_status=task_status))
    prepare(db_path, binds[0], contacts=CONTACTS)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signalled_worker_stops_gracefully_and_a_restart_finishes(tmp_path, signum):
    # replies take up to 150 ms, so a stop finds requests in flight
    fake = fake_telegram(limit=300.0, latency=Latency(0.01, 0.15))
    db_path, command, err = tmp_path / "stop.sqlite", cli_worker(tmp_path, rate=290), tmp_path / "stderr.txt"
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            await serve_and_prepare(nursery, fake, db_path)
            with err.open("w") as stderr:
                run = partial(trio.run_process, command, check=False, stderr=stderr, cwd=tmp_path)
                process: trio.Process = await nursery.start(run)
                # a third of the way in, the provider starts answering 429 "retry in an
                # hour": the stop comes while contacts wait out that backoff
                fake.storm_after = CONTACTS // 3
                await until(lambda: bool(fake.refused), process=process)
                process.send_signal(signum)
                code = await process.wait()
            stopped_at = len(fake.accepted)
            broadcast, rows, pending = read_store(db_path)

            fake.storm_after = None

            with (tmp_path / "restart.txt").open("w") as out:
                restart = await trio.run_process(command, check=False, stderr=out, stdout=out, cwd=tmp_path)
            nursery.cancel_scope.cancel()

    lines = err.read_text(encoding="utf-8").splitlines()
    assert "Traceback" not in err.read_text(encoding="utf-8")
    assert code == 128 + signum
    left = CONTACTS - len(rows)
    assert lines[-1] == (
        f"stopped gracefully on {signum.name}: 1 broadcast(s) still SENDING (b1), {left} contact(s) left;"
        " `broadcaster run` resumes them"
    )
    assert lines[-2].startswith("stopping: nothing new is sent")
    # the stop left no claim and nothing unknown: every message the provider took is recorded
    assert broadcast.state is State.SENDING
    assert pending == []
    assert Counter(row.status for row in rows.values()) == {Status.DELIVERED: stopped_at}
    assert 0 < stopped_at < CONTACTS
    assert broadcast.counters.delivered == stopped_at and broadcast.counters.failed == 0
    # the contacts refused with a 429 have no row (the stop did not wait an hour for them)
    chat_of = {chat_id_for("telegram", i): f"c{i:05d}" for i in range(CONTACTS)}
    waiting = {chat_of[chat] for chat in fake.refused}
    assert not waiting & set(rows)

    assert restart.returncode == 0, (tmp_path / "restart.txt").read_text()
    after = assert_completed_once_each(db_path, fake)
    assert {after[c].status for c in waiting} == {Status.DELIVERED}


async def test_a_second_signal_stops_at_once_without_a_traceback(tmp_path):
    # replies take a second: the graceful stop has requests to wait for when the second comes
    fake = fake_telegram(limit=300.0, latency=Latency(1.0, 1.0))
    db_path, command, err = tmp_path / "stop.sqlite", cli_worker(tmp_path, rate=200), tmp_path / "stderr.txt"
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            await serve_and_prepare(nursery, fake, db_path)
            with err.open("w") as stderr:
                run = partial(trio.run_process, command, check=False, stderr=stderr, cwd=tmp_path)
                process: trio.Process = await nursery.start(run)
                await until(lambda: fake.requests >= 20, process=process)
                process.send_signal(signal.SIGINT)
                await until(lambda: "stopping:" in err.read_text(encoding="utf-8"), process=process)
                process.send_signal(signal.SIGINT)
                code = await process.wait()
            nursery.cancel_scope.cancel()
    text = err.read_text(encoding="utf-8")
    assert "Traceback" not in text
    assert code == 130
    assert text.splitlines()[-1].startswith("stopped at once on SIGINT: 1 broadcast(s) still SENDING (b1)")
    broadcast, _, _ = read_store(db_path)
    assert broadcast.state is State.SENDING


async def test_contacts_waiting_out_a_429_are_not_outcome_unknown_after_a_kill(tmp_path):
    fake = fake_telegram(limit=1000.0, latency=Latency(0.005, 0.02))
    # after 300 accepted messages every request is refused with a 429 asking for an hour
    fake.storm_after = 300
    db_path = tmp_path / "backoff.sqlite"
    command = [sys.executable, str(WORKER), str(db_path), "500"]
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            await serve_and_prepare(nursery, fake, db_path)
            process: trio.Process = await nursery.start(partial(trio.run_process, command, check=False))
            await until(lambda: bool(fake.refused), process=process)
            # wait until the worker has read every reply (nothing more arrives), then kill it
            requests = -1
            while requests != fake.requests:
                requests = fake.requests
                await trio.sleep(0.5)
            process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
            accepted_at_kill = len(fake.accepted)
            broadcast, rows, pending = read_store(db_path)

            fake.storm_after = None
            restart = await trio.run_process(command, check=False)
            nursery.cancel_scope.cancel()

    chat_of = {chat_id_for("telegram", i): f"c{i:05d}" for i in range(CONTACTS)}
    waiting = {chat_of[chat] for chat in fake.refused}
    assert waiting, "the storm refused nobody"
    assert broadcast.state is State.SENDING
    # a refused contact holds no claim and has no row: the kill left nothing unknown
    assert pending == []
    assert not waiting & set(rows)
    assert Counter(row.status for row in rows.values()) == {Status.DELIVERED: accepted_at_kill}
    assert restart.returncode == 0
    rows_after = assert_completed_once_each(db_path, fake)
    assert {rows_after[c].status for c in waiting} == {Status.DELIVERED}


async def test_a_rehearsal_stops_gracefully_on_sigint(tmp_path):
    store = tmp_path / "rehearsal.db"
    scenario = Path(__file__).parents[2] / "examples" / "healthy.toml"
    command = [sys.executable, "-m", "broadcaster.cli", "rehearse", str(scenario), "--size", "20000"]
    err = tmp_path / "stderr.txt"

    def rows_written() -> bool:
        try:
            with sqlite3.connect(store) as conn:
                return conn.execute("SELECT COUNT(*) FROM dispatch_rows WHERE status IS NOT NULL").fetchone()[0] > 0
        except sqlite3.Error:
            return False  # not created yet

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            with err.open("w") as stderr:
                run = partial(
                    trio.run_process, [*command, "--store", str(store)], check=False, stderr=stderr, cwd=tmp_path
                )
                process: trio.Process = await nursery.start(run)
                await until(rows_written, process=process)
                process.send_signal(signal.SIGINT)
                code = await process.wait()
    text = err.read_text(encoding="utf-8")
    assert "Traceback" not in text
    assert code == 130
    assert text.splitlines()[-1] == f"rehearsal stopped gracefully on SIGINT; its store holds the run so far: {store}"
    with open_store(store) as opened:
        (broadcast,) = opened.list_broadcasts()
        assert broadcast.state is State.SENDING
        assert opened.pending(broadcast.id) == []
        assert Status.OUTCOME_UNKNOWN not in {r.status for r in opened.history(broadcast.id, limit=30_000).rows}


async def test_run_with_the_live_display_on_a_terminal_stops_gracefully(tmp_path):
    fake = fake_telegram(limit=300.0, latency=Latency(0.01, 0.15))
    db_path, command = tmp_path / "stop.sqlite", cli_worker(tmp_path, rate=290)
    command.remove("--plain")
    master, slave = pty.openpty()
    screen = bytearray()

    async def read_screen() -> None:
        async with trio.lowlevel.FdStream(os.dup(master)) as stream:
            try:
                while chunk := await stream.receive_some():
                    screen.extend(chunk)
            except (OSError, trio.BrokenResourceError):
                pass  # the terminal closed with the process (EIO)

    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            await serve_and_prepare(nursery, fake, db_path)
            nursery.start_soon(read_screen)
            run = partial(trio.run_process, command, check=False, stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path)
            process: trio.Process = await nursery.start(run)
            os.close(slave)
            await until(lambda: len(fake.accepted) >= CONTACTS // 4, process=process)
            process.send_signal(signal.SIGINT)
            code = await process.wait()
            nursery.cancel_scope.cancel()
    os.close(master)
    text = screen.decode("utf-8", "replace")
    assert "Traceback" not in text
    assert "━" in text  # the live bar was drawn
    assert code == 130
    assert "stopped gracefully on SIGINT: 1 broadcast(s) still SENDING (b1)" in text
    broadcast, rows, pending = read_store(db_path)
    assert pending == [] and broadcast.state is State.SENDING
    assert Counter(row.status for row in rows.values()) == {Status.DELIVERED: len(fake.accepted)}
