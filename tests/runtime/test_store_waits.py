"""A store that stops answering mid-run (runtime.store_waits), on trio's virtual clock.

``DroppingStore`` stands between the run and a real SQLite store: for a window of virtual
time every call fails with StoreUnreachable — half of the writes *after* being made, as when
a connection breaks between the server's commit and its answer. The run must wait it out,
repeat only what is safe to repeat, and end with exactly one row per contact, every reply
recorded, nothing sent twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
import trio

from broadcaster.core.errors import StoreUnreachable
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.outcomes import Outcome
from broadcaster.runtime.serve import run_worker
from broadcaster.runtime.store_waits import FIRST_RETRY, LONGEST_RETRY, StoreOutage, patiently

from .fake_telegram import FakeTelegram
from .test_worker import EPOCH, fire_and_run, make_runtime, schedule, setup_store

#: writes whose effect a lost answer may hide
_WRITES = {"claim", "record", "release", "claim_unit", "complete_units", "settle_units", "release_units"}


class DroppingStore:
    """The wrapped store, unreachable from ``down_from`` to ``down_until`` (trio time)."""

    def __init__(self, store: Any, down_from: float, down_until: float, methods: frozenset[str] | None = None) -> None:
        self._store = store
        self.down_from, self.down_until = down_from, down_until
        self.methods = methods
        self.skip: set[str] = set()
        self.refused: Counter[str] = Counter()
        self.lost_answers: Counter[str] = Counter()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if (
                not self.down_from <= trio.current_time() < self.down_until
                or (self.methods is not None and name not in self.methods)
                or name in self.skip
            ):
                return target(*args, **kwargs)
            self.calls += 1
            if name in _WRITES and self.calls % 2 == 1:
                target(*args, **kwargs)  # made, but its answer never arrives
                self.lost_answers[name] += 1
            else:
                self.refused[name] += 1
            raise StoreUnreachable("lost the PostgreSQL store postgresql://test: server closed the connection")

        return call


async def test_patiently_retries_until_the_store_answers_and_says_so_twice(autojump_clock, caplog):
    outage = StoreOutage()
    calls: list[float] = []
    undone: list[float] = []

    def flaky() -> str:
        calls.append(trio.current_time())
        if len(calls) < 5:
            raise StoreUnreachable("lost the PostgreSQL store postgresql://x: gone", hint="wait")
        return "answered"

    started = trio.current_time()
    with caplog.at_level(logging.WARNING, logger="broadcaster.runtime.store_waits"):
        result = await patiently(outage, flaky, thread=False, before_retry=lambda: undone.append(trio.current_time()))
    assert result == "answered"
    waits = [round(b - a, 6) for a, b in zip([started, *calls], calls, strict=False)][1:]
    assert waits == [FIRST_RETRY, 2 * FIRST_RETRY, LONGEST_RETRY, LONGEST_RETRY]
    assert undone == calls[1:]  # before each later attempt, never before the first
    assert [r.getMessage() for r in caplog.records] == [
        "lost the PostgreSQL store postgresql://x: gone; waiting for it: nothing is sent meanwhile"
        " (a second Ctrl-C stops at once)",
        "the store answers again after 5.5 s; carrying on",
    ]
    assert outage.since is None and outage.count == 1


async def test_a_long_outage_is_reminded_every_minute(autojump_clock, caplog):
    outage = StoreOutage()
    tries = 0

    def down_for_150_s() -> None:
        nonlocal tries
        tries += 1
        if trio.current_time() < 150:
            raise StoreUnreachable("the PostgreSQL store postgresql://x did not answer")

    with caplog.at_level(logging.WARNING, logger="broadcaster.runtime.store_waits"):
        await patiently(outage, down_for_150_s, thread=False)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4, messages
    assert messages[1].startswith("the store is still unreachable after 6") and messages[2].startswith(
        "the store is still unreachable after 12"
    )
    assert messages[3].startswith("the store answers again after 15")
    assert tries < 100  # 2 s apart at most, not a busy loop


async def test_what_is_not_an_outage_is_not_waited_out(autojump_clock):
    def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await patiently(StoreOutage(), broken, thread=False)


@pytest.mark.parametrize(
    ("down_from", "down_until", "methods", "lost"),
    [
        # every call, mid-run: the records wait, so no claim is even tried meanwhile
        (0.3, 4.0, None, "record"),
        (1.0, 4.0, None, "complete_units"),
        # a claim made whose answer was lost: released, then made again (nothing was sent)
        (0.4, 1.4, frozenset({"claim"}), "claim"),
        # a unit claimed whose answer was lost: found again as this run's own, not left held
        (0.0, 0.2, frozenset({"claim_unit"}), "claim_unit"),
        (0.5, 4.0, frozenset({"claim_unit", "unit_page", "orphaned_claims"}), "claim_unit"),
    ],
)
async def test_a_run_waits_out_a_store_that_drops_calls_and_answers(
    autojump_clock, caplog, down_from, down_until, methods, lost
):
    store = setup_store(1_200)  # three audience units of 500
    fake = FakeTelegram()
    schedule(store)
    start = trio.current_time()
    dropping = DroppingStore(store, down_from=start + down_from, down_until=start + down_until, methods=methods)
    runtime, _ = make_runtime(dropping, fake, rates={"tg": 400.0})
    with trio.fail_after(600), caplog.at_level(logging.WARNING, logger="broadcaster.runtime.store_waits"):
        (done,) = await fire_and_run(runtime)
    assert done.state is State.COMPLETED
    assert store.count_rows("b1") == {Outcome.DELIVERED: 1_200, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert (done.counters.delivered, done.counters.failed, done.counters.skipped) == (1_200, 0, 0)
    assert len(fake.accepted) == 1_200 and set(fake.accepted.values()) == {1}
    assert all(done_at is not None for *_, done_at in store.units("b1"))
    assert dropping.lost_answers[lost] > 0, (dict(dropping.refused), dict(dropping.lost_answers))
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("lost the PostgreSQL store postgresql://test: server closed the connection")
    assert messages[-1].startswith("the store answers again after")


async def test_the_worker_loop_waits_out_the_store_and_even_once_does_not_end_early(autojump_clock, caplog):
    """The loop's own calls (heartbeat, listing, firing, joining) meet the outage before any
    run has started: `run --once` must not take "nothing answered" for "nothing to do"."""
    store = setup_store(600)
    fake = FakeTelegram()
    schedule(store)
    start = trio.current_time()
    dropping = DroppingStore(store, down_from=start, down_until=start + 5.0)
    runtime, events = make_runtime(dropping, fake, rates={"tg": 400.0})
    store.start_worker(runtime.clock.now(), lease=runtime.worker_lease)  # it started before the outage
    dropping.skip = {"start_worker"}
    with trio.fail_after(600), caplog.at_level(logging.WARNING, logger="broadcaster.runtime.store_waits"):
        (done,) = await run_worker(runtime, once=True, idle_poll=0.5)
    assert done.state is State.COMPLETED and done.counters.started_at >= EPOCH + 5.0
    assert store.count_rows("b1") == {Outcome.DELIVERED: 600, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    assert set(fake.accepted.values()) == {1} and len(fake.accepted) == 600
    assert sum(dropping.refused.values()) > 0
    assert [e.kind for e in events] == [LifecycleEventKind.STARTED, LifecycleEventKind.FINISHED]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("lost the PostgreSQL store") and "answers again after" in messages[-1]
