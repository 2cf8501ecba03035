"""Stopping a worker on SIGINT / SIGTERM: the first signal gracefully, the second at once.

The first signal sets ``Runtime.stop``: nothing new is fired or sent, the requests in
flight finish (each bounded by its HTTP timeout) and their rows are written, refused
sends hold no claim, so a graceful stop leaves no outcome-unknown row. The second
signal cancels everything: sends still in flight become outcome unknown on the next
run, as after a kill.

Signals are taken by trio's signal receiver while the worker runs, so no
KeyboardInterrupt is raised inside it (trio would wrap it in an exception group and
unwind the run from wherever it landed). One that arrives before the receiver is open
or after it closed is still a KeyboardInterrupt: :func:`is_interrupt` recognises it,
wrapped or not.
"""

from __future__ import annotations

import signal
from typing import Callable

import attrs
import trio

from ..core.models import Broadcast

__all__ = ["SIGNALS", "StopWatch", "contacts_left", "exit_code", "is_interrupt"]

#: the signals that stop a worker
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@attrs.define
class StopWatch:
    """What the signals asked for, once the run is over."""

    #: the first signal received, if any
    signum: int | None = None
    #: a second signal came: everything was cancelled at once
    forced: bool = False

    async def watch(
        self,
        stop: trio.Event,
        cancel_scope: trio.CancelScope,
        *,
        on_first: Callable[[int], None] = lambda signum: None,
        on_second: Callable[[int], None] = lambda signum: None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Watch for SIGINT/SIGTERM until cancelled: the first sets ``stop``, the second
        cancels ``cancel_scope``. Start it with ``nursery.start`` so the signals are
        watched before the work begins."""
        with trio.open_signal_receiver(*SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                if self.signum is None:
                    self.signum = signum
                    stop.set()
                    on_first(signum)
                else:
                    self.forced = True
                    on_second(signum)
                    cancel_scope.cancel()
                    return

    @property
    def name(self) -> str:
        return "" if self.signum is None else signal.Signals(self.signum).name


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + signum


def is_interrupt(exc: BaseException) -> bool:
    """A KeyboardInterrupt, or an exception group of nothing else (trio's wrapping)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_interrupt(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt)


def contacts_left(broadcast: Broadcast) -> int:
    """Audience contacts of a SENDING broadcast without a final row yet."""
    counters = broadcast.counters
    return max(0, (counters.audience_size_actual or 0) - counters.recorded)
