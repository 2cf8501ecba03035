"""Issue 14's measured figures, printed (never asserted): a 100 000-row broadcast's first
history page after navigation, and 500 live rows/s — nothing lost once you page back, at
most one page of rows in the DOM (those two are asserted: they are correctness), the
reader's place kept, input latency while rows stream in.

Run alone to read them: .venv/bin/python -m pytest tests/console/test_console_figures.py -s
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import attrs
import pytest

from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Counters, Flow, TextCard
from broadcaster.store import open_store

from .conftest import ROOT, cli, every_row_by_paging, serve, sign_in, stop
from .feeder import row

BIG = 100_000
LIVE_ROWS = 5_000
LIVE_RATE = 500


def sending(store: Any, broadcast_id: str, size: int) -> None:
    store.create_broadcast(
        Broadcast(
            id=broadcast_id,
            name=broadcast_id.title(),
            flow_id="f1",
            audience=Audience(filter=""),
            state=State.SENDING,
            counters=Counters(audience_size_estimate=size, audience_size_actual=size, started_at=time.time()),
        )  # fmt: skip
    )


@attrs.frozen
class Figures:
    base: str
    db: Path
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Figures]:
    root = tmp_path_factory.mktemp("figures")
    db = root / "broadcaster.db"
    store = open_store(db, create=True)
    try:
        store.put_flow(Flow("f1", "promo", first_card=TextCard("Hi")))
        sending(store, "big", BIG)
        now = time.time()
        for start in range(0, BIG, 10_000):
            store.record([row("big", i, now) for i in range(start, start + 10_000)])
        b = store.get_broadcast("big")
        store.update_broadcast(
            attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=time.time())),
            expected_state=State.SENDING,
        )
        sending(store, "live", LIVE_ROWS)
    finally:
        store.close()
    token = cli(db, "tokens", "create", "figures", "--scope", "read").strip()
    server, base = serve(db)
    try:
        yield Figures(base, db, token)
    finally:
        stop(server)


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms (n={len(ordered)})"


def test_first_page_of_a_100_000_row_broadcast(served, page):
    sign_in(page, served.base, served.token)
    loads, clicks, answers = [], [], []
    for _ in range(5):
        page.goto(f"{served.base}/#/broadcasts/big")
        page.reload()  # a fresh document: its navigation starts the clock (performance.now() = 0)
        page.wait_for_function("() => window.__console.historyAt")
        loads.append(page.evaluate("() => window.__console.historyAt"))
        answers.append(page.evaluate("() => window.__console.lastHistoryMs"))
        assert page.eval_on_selector_all("#history tbody tr", "trs => trs.length") == 50
        page.wait_for_function(
            "want => document.querySelector('#history-info').innerText === want", arg=f"rows 1–50 of {BIG:,}"
        )
    for _ in range(5):  # in the console: from the list, a click on the broadcast's name
        page.click("nav a[data-page=broadcasts]")
        page.wait_for_selector("#broadcasts tbody tr[data-id=big]")
        page.evaluate("() => { window.__console.clickAt = performance.now(); window.__console.historyAt = 0; }")
        page.click("#broadcasts tbody tr[data-id=big] a.name")
        page.wait_for_function("() => window.__console.historyAt")
        clicks.append(page.evaluate("() => window.__console.historyAt - window.__console.clickAt"))
    print(f"\n[console] {BIG:,}-row broadcast, first history page after navigation (page load): {quantiles(loads)}")
    print(f"[console] {BIG:,}-row broadcast, first history page after a click in the list: {quantiles(clicks)}")
    print(f"[console] of which the history query's round trip (fetch to JSON): {quantiles(answers)}")
    print("[console] target: <= 300 ms (measured on this machine, shared with other test runs)")


SAMPLER = """() => {
  const c = window.__console;
  c.maxRows = 0; c.delays = []; c.frames = [];
  c.sampler = setInterval(() => {
    c.maxRows = Math.max(c.maxRows, document.querySelectorAll('#history tbody tr').length);
  }, 20);
  document.addEventListener('keydown', (event) => {
    const at = event.timeStamp;
    c.delays.push(performance.now() - at);
    requestAnimationFrame(() => c.frames.push(performance.now() - at));
  });
}"""


def top_visible_cursor(page: Any) -> str:
    return page.evaluate(
        """() => { const s = document.querySelector('.scroller').getBoundingClientRect();
        const rows = [...document.querySelectorAll('#history tbody tr')];
        const r = rows.find(tr => tr.getBoundingClientRect().bottom > s.top + 40);
        return r ? r.dataset.cursor : null; }"""
    )


def test_500_live_rows_a_second(served, page):
    sign_in(page, served.base, served.token)
    page.goto(f"{served.base}/#/broadcasts/live")
    page.wait_for_selector("#live:not([hidden])")
    page.evaluate(SAMPLER)
    feeder = subprocess.Popen(
        [sys.executable, "-m", "tests.console.feeder", str(served.db), "live", str(LIVE_ROWS), str(LIVE_RATE)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        page.wait_for_function("() => (window.__console.liveRows || 0) >= 1000", timeout=30_000)
        for _ in range(20):  # keys pressed while rows stream in
            page.keyboard.press("Shift")
            page.wait_for_timeout(50)
        # the reader scrolls down into the first page: new rows no longer move what they read
        page.evaluate("() => { document.querySelector('.scroller').scrollTop = 400; }")
        page.wait_for_timeout(100)
        reading = top_visible_cursor(page)
        page.wait_for_timeout(1000)
        kept = top_visible_cursor(page)
        waiting = page.inner_text("#new-rows")
        for _ in range(20):
            page.keyboard.press("Shift")
            page.wait_for_timeout(50)
        page.click("#new-rows")  # back to the newest
        page.wait_for_selector("#new-rows", state="hidden")
        achieved = float(feeder.communicate(timeout=60)[0].strip())
    finally:
        if feeder.poll() is None:
            feeder.kill()
    page.wait_for_selector("#live", state="hidden", timeout=30_000)
    figures = page.evaluate("() => window.__console")
    assert kept == reading, "rows arriving moved what the reader was reading"
    assert waiting.startswith("▲ ") and "new row" in waiting
    assert figures["maxRows"] <= 50, "more than one page of rows in the DOM"
    # page back through the whole table: every row recorded is there, once
    seen = [r["contact"] for r in every_row_by_paging(page)]
    assert sorted(seen) == [f"x{i:06d}" for i in range(LIVE_ROWS)]
    print(f"\n[console] live: the feeder recorded {LIVE_ROWS:,} rows at {achieved:.0f} rows/s (asked {LIVE_RATE}/s);"
          f" the page received {figures['liveRows']:,} through the subscription; at most {figures['maxRows']} rows"
          f" in the DOM; paging back found all {len(seen):,}, none twice")  # fmt: skip
    print(f"[console] input delay (key press to its handler) while streaming: {quantiles(figures['delays'])}")
    print(f"[console] key press to the next frame while streaming: {quantiles(figures['frames'])}")
