"""The worker's progress displays: live rich bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

import attrs
import trio
from rich.console import Console

from broadcaster.cli.worker import PlainProgress, RichProgress
from broadcaster.core.lifecycle import LifecycleEventKind, State
from broadcaster.core.models import Audience, Broadcast, Counters, LifecycleEvent

EPOCH = 1_800_000_000.0


def sending(bid: str, name: str, total: int, delivered: int, failed: int = 0, skipped: int = 0) -> Broadcast:
    counters = Counters(
        audience_size_actual=total, delivered=delivered, failed=failed, skipped=skipped, started_at=EPOCH
    )
    return Broadcast(id=bid, name=name, audience=Audience(filter=""), state=State.SENDING, counters=counters)


def finished(b: Broadcast, seconds: float) -> Broadcast:
    return attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=EPOCH + seconds))


class Store:
    """The one read the displays make: the SENDING broadcasts, as the test sets them."""

    def __init__(self, *broadcasts: Broadcast) -> None:
        self.broadcasts = list(broadcasts)

    def list_broadcasts(self, *, state: State) -> list[Broadcast]:
        return [b for b in self.broadcasts if b.state is state]


async def test_rich_progress_draws_a_bar_per_sending_broadcast_and_a_line_when_one_ends(autojump_clock):
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=150, color_system=None, record=True)
    display = RichProgress(console=terminal)
    store = Store(sending("b1", "spring", 100, 20, 5, 5), sending("b2", "", 10, 3))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(display.run, store)
        await trio.sleep(1.0)
        store.broadcasts[0] = sending("b1", "spring", 100, 80, 10, 10)
        await trio.sleep(1.0)
        done = finished(store.broadcasts[0], 60.0)
        store.broadcasts[0] = done
        display.event(LifecycleEvent(LifecycleEventKind.FINISHED, done, EPOCH + 60))
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    text = terminal.export_text()
    assert "b1 spring" in text and "b2" in text
    assert "30/100" in text and "100/100" in text and "3/10" in text
    assert "80✓ 10✗ 10⤼" in text and "3✓ 0✗ 0⤼" in text
    assert "b1 COMPLETED: 80 delivered, 10 failed, 10 skipped" in text


async def test_plain_progress_prints_rate_and_eta_then_the_outcome(autojump_clock, capsys):
    display = PlainProgress(interval=5.0)
    store = Store(sending("b1", "spring", 1000, 100))
    started = sending("b1", "spring", 1000, 0)
    display.event(LifecycleEvent(LifecycleEventKind.STARTED, started, EPOCH))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(display.run, store)
        await trio.sleep(5.5)
        store.broadcasts[0] = sending("b1", "spring", 1000, 300, 10, 0)
        await trio.sleep(5.0)
        done = finished(sending("b1", "spring", 1000, 950, 30, 20), 120.0)
        store.broadcasts[0] = done
        display.event(LifecycleEvent(LifecycleEventKind.FINISHED, done, EPOCH + 120))
        await trio.sleep(5.0)
        nursery.cancel_scope.cancel()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "b1 started: audience 1000"
    assert lines[1] == "b1 SENDING 100/1000 (100 delivered, 0 failed, 0 skipped) 0.0/s"
    # 210 more rows in 5 s: 42/s, 690 left -> about 16 s
    assert lines[2] == "b1 SENDING 310/1000 (300 delivered, 10 failed, 0 skipped) 42.0/s, ETA 16s"
    assert lines[3] == "b1 COMPLETED: 950 delivered, 30 failed, 20 skipped (delivery 95.0%, drop 5.0%) in 2m00s"
    assert len(lines) == 4  # nothing is SENDING any more


def test_both_displays_say_what_to_do_with_an_overdue_broadcast(capsys):
    stale = Broadcast(id="b9", audience=Audience(filter=""), state=State.SCHEDULED, run_at=EPOCH - 3 * 86_400)
    event = LifecycleEvent(LifecycleEventKind.OVERDUE, stale, EPOCH)
    PlainProgress().event(event)
    expected = (
        "b9 overdue: its run-at passed 72h00m00s ago, too late to fire by itself;"
        " `broadcaster edit b9 --run-at now` sends it, `broadcaster cancel b9` drops it"
    )
    assert capsys.readouterr().out == expected + "\n"
    terminal = Console(file=io.StringIO(), width=300, color_system=None, record=True)
    RichProgress(console=terminal).event(event)
    assert terminal.export_text() == expected + "\n"
