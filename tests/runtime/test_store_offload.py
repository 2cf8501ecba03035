"""A run's store calls on a store that waits on a server (PostgreSQL) are made from a thread,
so the sends in flight go on meanwhile; on SQLite they are made inline."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from broadcaster.core.lifecycle import State
from broadcaster.core.outcomes import Status

from .fake_telegram import FakeTelegram
from .test_worker import fire_and_run, make_runtime, schedule, setup_store


class _Slow:
    """An engine that says its statements wait on a server; the store's writes take 20 ms
    of real time and note the thread they ran on."""

    def __init__(self, store, waits_on_server: bool) -> None:
        self.store = store
        self.engine = store.engine
        self.threads: dict[str, set[int]] = {"record": set(), "claim": set(), "unit_page": set()}
        self.waits = waits_on_server

    def install(self) -> None:
        store = self.store
        for name in self.threads:
            original = getattr(store, name)

            def wrapped(*args, _original=original, _name=name, **kwargs):
                self.threads[_name].add(threading.get_ident())
                if _name == "record":
                    time.sleep(0.02)
                return _original(*args, **kwargs)

            setattr(store, name, wrapped)
        store.engine.__class__ = type("SlowEngine", (type(store.engine),), {"waits_on_server": self.waits})


@pytest.mark.parametrize("waits_on_server", [True, False])
async def test_store_calls_leave_the_event_loop_only_on_a_server_store(waits_on_server):
    store = setup_store(120)
    slow = _Slow(store, waits_on_server)
    slow.install()
    fake = FakeTelegram()
    runtime, _ = make_runtime(store, fake)
    assert runtime.calls_store_in_threads is waits_on_server
    schedule(store)
    loop_thread = threading.get_ident()
    with trio.fail_after(60):
        (done,) = await fire_and_run(runtime)
    assert done.state is State.COMPLETED
    assert (done.counters.delivered, done.counters.failed, done.counters.skipped) == (120, 0, 0)
    rows = store.history("b1", limit=1000).rows
    assert len(rows) == 120 and {row.status for row in rows} == {Status.DELIVERED}
    for name, threads in slow.threads.items():
        assert threads, name
        if waits_on_server:
            assert loop_thread not in threads, f"{name} ran on the event loop's thread"
        else:
            assert threads == {loop_thread}, f"{name} left the event loop's thread"


def test_the_engines_say_whether_they_wait_on_a_server(tmp_path):
    from broadcaster.store.postgres import PostgresEngine
    from broadcaster.store.sqlite import SQLiteEngine

    assert PostgresEngine.waits_on_server is True
    assert SQLiteEngine.waits_on_server is False


@pytest.mark.parametrize("in_threads", [True, False])
async def test_the_sends_go_on_while_the_next_page_loads_from_a_server_store(in_threads):
    # pages of 20 and a provider that answers at once: inline, nothing could be sent during
    # a page's 0.1 s read; from a thread, the dispatcher asks for the next page while it
    # still holds one, and sends it while the next one loads
    from broadcaster.core.pacing import PacingPlan

    store = setup_store(100)
    slow = _Slow(store, True)
    slow.install()
    loads: list[tuple[float, float]] = []
    original = store.unit_page

    def unit_page(*args, **kwargs):
        began = time.monotonic()
        time.sleep(0.1)
        try:
            return original(*args, **kwargs)
        finally:
            loads.append((began, time.monotonic()))

    store.unit_page = unit_page
    fake = FakeTelegram()
    sent_at: list[float] = []
    handler = fake.handler

    def noting(request):
        sent_at.append(time.monotonic())
        return handler(request)

    fake.handler = noting
    runtime, _ = make_runtime(
        store, fake, pacing=PacingPlan(page_size=20, batch_size=5, concurrent_batches=2), store_threads=in_threads
    )
    schedule(store)
    with trio.fail_after(60):
        (done,) = await fire_and_run(runtime)
    assert (done.counters.delivered, len(fake.accepted)) == (100, 100)
    assert len(loads) >= 5
    during = [at for at in sent_at if any(began < at < ended for began, ended in loads)]
    if in_threads:
        assert len(during) >= 10, f"only {len(during)} of 100 sends left while a page loaded"
    else:
        assert during == []  # inline, the loop waits for every page
