"""Crash safety with real process kills: SIGKILL a worker mid-run, restart it, repeat.

The provider is the simulator's fake Telegram served over loopback HTTP by hypercorn in
this test's own trio loop, so it outlives every worker it serves and its ledger of
accepted messages is the ground truth: what really reached a contact. The worker is a
separate process (``crash_worker.py``) on a SQLite file; it is killed at seeded points of
its progress (after the server has accepted a seeded number of messages, plus a seeded
delay), which lands kills between claims, during in-flight requests and inside commits.

The guarantee checked (docs/runtime.md): the broadcast ends COMPLETED with exactly one
row per audience contact and counters equal to rows; no contact is messaged twice; a
contact the provider accepted is DELIVERED or FAILED outcome unknown; a contact it did
not accept is never DELIVERED.
"""

from __future__ import annotations

import random
import signal
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import attrs
import trio
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.model import Fates, Latency, ProviderBehaviour
from broadcaster_simulator.sandbox import serve_async
from broadcaster_simulator.specs import chat_id_for

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Flow, Integration, Mode, TextCard
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.runtime.worker import run_broadcast
from broadcaster.store.sqlite import open_store

from .fake_telegram import FakeTelegram
from .test_worker import make_runtime, schedule, setup_store

WORKER = Path(__file__).with_name("crash_worker.py")
CONTACTS = 2_000
TOKEN = "123:SECRET"
TEXT = "Hello from the crash test"
#: the provider allows 600/s; the worker is told 700/s, so some 429s come and are re-enqueued
PROVIDER_LIMIT = 600.0
WORKER_RATE = 700.0


def prepare(db_path: Path, base_url: str, *, contacts: int = CONTACTS) -> None:
    with open_store(db_path) as store:
        store.put_integration(Integration("tg", "telegram", {"token": TOKEN, "base_url": base_url}))
        store.put_flow(Flow("f1", "crash", first_card=TextCard(TEXT)))
        store.upsert_contacts(
            [
                Contact(f"c{i:05d}", f"Person {i}", chats=(Chat("tg", chat_id_for("telegram", i)),))
                for i in range(contacts)
            ]
        )
        store.create_broadcast(
            Broadcast(
                id="b1",
                mode=Mode.FLOW,
                flow_id="f1",
                audience=Audience(filter=""),
                state=State.SCHEDULED,
                run_at=time.time() - 1,
            )
        )


async def run_with_kills(db_path: Path, fake: FakeProvider, rng: random.Random) -> tuple[int, list[int]]:
    """Run workers until one exits on its own; kill the first few at seeded points.

    Returns (kills that landed on a running worker, each worker's exit code).
    """
    # Each kill waits until the provider has accepted this many messages (progress, not
    # wall time, so a slow machine shifts the kills but never makes them miss the run).
    thresholds = sorted(rng.sample(range(50, 1_500), 4))
    plan = [(None, rng.uniform(0.3, 0.8))] + [(n, rng.uniform(0.0, 0.03)) for n in thresholds]
    kills = 0
    exits: list[int] = []
    command = [sys.executable, str(WORKER), str(db_path), str(WORKER_RATE)]
    async with trio.open_nursery() as nursery:
        for threshold, delay in [*plan, (None, None)]:
            process: trio.Process = await nursery.start(partial(trio.run_process, command, check=False))
            if delay is None:
                exits.append(await process.wait())
                break
            while threshold is not None and len(fake.accepted) < threshold and process.returncode is None:
                await trio.sleep(0.002)
            await trio.sleep(delay)
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            exits.append(await process.wait())
    return kills, exits


async def test_sigkilled_workers_never_lose_or_double_a_contact(tmp_path):
    behaviour = ProviderBehaviour(
        "tg",
        "telegram",
        limit=PROVIDER_LIMIT,
        burst=20,
        # replies take a few ms, so kills catch requests in flight
        latency=Latency(0.005, 0.03),
        fates=Fates(blocked=0.03),
    )
    fake = FakeProvider(behaviour, seed=4, clock=time.monotonic)
    db_path = tmp_path / "crash.sqlite"
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve_async(fake, port=0, task_status=task_status))
            prepare(db_path, binds[0])
            kills, exits = await run_with_kills(db_path, fake, random.Random(20261124))
            nursery.cancel_scope.cancel()

    # every planned kill hit a live worker, and the last worker finished cleanly
    assert kills == 5
    assert exits[:-1] == [-signal.SIGKILL] * 5 and exits[-1] == 0

    with open_store(db_path) as store:
        broadcast = store.get_broadcast("b1")
        rows = {row.contact_id: row for row in store.history("b1", limit=CONTACTS + 1).rows}
        counts = store.count_rows("b1")
        pending = store.pending("b1")
    assert broadcast.state is State.COMPLETED
    assert broadcast.counters.audience_size_actual == CONTACTS
    # exactly one final row per audience contact; counters equal the rows they count
    assert pending == []
    assert sorted(rows) == [f"c{i:05d}" for i in range(CONTACTS)]
    assert counts[Outcome.SKIPPED] == 0
    c = broadcast.counters
    assert (c.delivered, c.failed, c.skipped) == (counts[Outcome.DELIVERED], counts[Outcome.FAILED], 0)

    # the provider's ledger: nobody got two messages
    accepted = Counter(message.chat_id for message in fake.accepted)
    assert fake.duplicates() == {} and set(accepted.values()) == {1}
    assert {message.content for message in fake.accepted} == {TEXT}
    chat_of = {f"c{i:05d}": chat_id_for("telegram", i) for i in range(CONTACTS)}
    for contact_id, row in rows.items():
        if chat_of[contact_id] in accepted:
            # accepted: recorded as delivered, or the worker died before reading the reply
            assert row.status in (Status.DELIVERED, Status.OUTCOME_UNKNOWN), (contact_id, row)
        else:
            assert row.outcome is not Outcome.DELIVERED, (contact_id, row)
    unknown = [row for row in rows.values() if row.status is Status.OUTCOME_UNKNOWN]
    assert {str(row.error_reason) for row in unknown} <= {"telegram:restart:outcome_unknown"}
    # the blocked contacts failed as blocked (never accepted, never resent)
    blocked = [row for row in rows.values() if str(row.error_reason) == "telegram:403:blocked_by_user"]
    assert 20 <= len(blocked) <= 100
    assert counts[Outcome.DELIVERED] == len(accepted) - sum(chat_of[r.contact_id] in accepted for r in unknown)


async def test_a_broadcast_fired_without_its_audience_snapshot_gets_one_on_resume(autojump_clock):
    # `fire` commits SENDING, then snapshots the audience in a second transaction; this is
    # the file a worker killed between the two leaves behind.
    store = setup_store(40)
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    scheduled = schedule(store)
    store.update_broadcast(attrs.evolve(scheduled, state=State.SENDING), expected_state=State.SCHEDULED)
    with trio.fail_after(600):
        done = await run_broadcast(runtime, "b1")
    assert done.state is State.COMPLETED
    assert (done.counters.audience_size_actual, done.counters.delivered) == (40, 40)
    assert store.count_rows("b1")[Outcome.DELIVERED] == 40 and len(fake.accepted) == 40
