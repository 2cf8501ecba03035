"""``run``: the worker — fire due broadcasts, dispatch them, show progress.

One worker per SQLite store: ``run`` holds an exclusive ``flock`` on ``<db>.lock`` while
it works (two would race their token buckets past the provider's rate). The lock file sits
next to the *resolved* database file, so a second ``run`` reaching the same file through a
symlink, a relative path or ``..`` meets the same lock. A PostgreSQL store takes no lock:
many workers share it. On a terminal the
progress is a live rich display; elsewhere, plain lines every few seconds.

SIGINT (Ctrl-C) or SIGTERM stops it gracefully (runtime.stopping): no new sends, the
requests in flight are recorded, the broadcasts stay SENDING for the next ``run``; the
exit code is 128 + the signal's number, after one line saying what is left. A second
signal stops at once.
"""

from __future__ import annotations

import fcntl
import os
import signal
from functools import partial
from pathlib import Path
from typing import IO, Any

import click
import trio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ..config import resolve_secrets
from ..core.errors import StoreUnreachable
from ..core.lifecycle import State
from ..core.models import Broadcast, Integration, LifecycleEvent
from ..core.ratelimit import TokenBucket
from ..runtime.callbacks import CallbackApp, serve_callbacks
from ..runtime.context import WORKER_LEASE, Runtime, WallClock
from ..runtime.health import HealthTracker, store_sink
from ..runtime.http import HttpExecutor
from ..runtime.outbox_delivery import OutboxDelivery
from ..runtime.serve import DEFAULT_MAX_CONCURRENT, run_worker
from ..runtime.stopping import StopWatch, contacts_left, exit_code, is_interrupt
from ..store.opening import is_postgres_url
from .base import App, CliError, FiniteRange, pass_app
from .render import console as terminal_console
from .render import overdue_note, percent
from .times import format_duration

__all__ = ["SecretResolvingStore", "run", "worker_lock"]


class SecretResolvingStore:
    """The store, with integrations' secret references resolved as they are read."""

    def __init__(self, store: Any, *, secrets_file: Path | None) -> None:
        self._store = store
        self._secrets_file = secrets_file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get_integration(self, name: str) -> Integration:
        return resolve_secrets(self._store.get_integration(name), secrets_file=self._secrets_file)

    def list_integrations(self) -> list[Integration]:
        return [resolve_secrets(i, secrets_file=self._secrets_file) for i in self._store.list_integrations()]


def _sqlite_path(url: str) -> str | None:
    if is_postgres_url(url):
        return None
    target = url[len("sqlite://") :] if url.startswith("sqlite://") else url
    if target in (":memory:", "/:memory:", ""):
        return None
    # every spelling of the path (symlinks, relative, ..) names one lock
    return os.path.realpath(target)


class worker_lock:  # noqa: N801 - used as a context manager, reads like one
    """An exclusive, non-blocking ``flock`` on ``<db>.lock``; CliError when another worker holds it."""

    def __init__(self, store_url: str) -> None:
        path = _sqlite_path(store_url)
        self.path = None if path is None else Path(path + ".lock")
        self._file: IO[str] | None = None

    def __enter__(self) -> worker_lock:
        if self.path is None:
            return self
        self._file = self.path.open("a+")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise CliError(
                f"another worker is already running on this store (it holds {self.path})",
                hint="stop it first; one `broadcaster run` per SQLite store (PostgreSQL takes many)",
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()


# -- progress ---------------------------------------------------------------------------------


def _sending(store: Any) -> list[Broadcast]:
    return list(store.list_broadcasts(state=State.SENDING))


def _sending_now(store: Any) -> list[Broadcast]:
    """What the progress display draws: nothing while the store is unreachable (the worker
    logs the outage and waits it out)."""
    try:
        return _sending(store)
    except StoreUnreachable:
        return []


def _counts(b: Broadcast) -> str:
    c = b.counters
    return f"{c.delivered} delivered, {c.failed} failed, {c.skipped} skipped"


class PlainProgress:
    """A line per running broadcast every ``interval`` seconds, and one per lifecycle event."""

    def __init__(self, *, interval: float = 5.0) -> None:
        self.interval = interval
        self._last: dict[str, tuple[float, int]] = {}

    def event(self, event: LifecycleEvent) -> None:
        b = event.broadcast
        kind = event.kind.value
        if kind == "started":
            click.echo(f"{b.id} started: audience {b.counters.audience_size_actual}")
        elif kind == "overdue":
            click.echo(f"{b.id} {overdue_note(b.id, event.at - (b.run_at or event.at))}")
        elif kind in ("finished", "cancelled"):
            c = b.counters
            click.echo(
                f"{b.id} {b.state.value}: {_counts(b)} (delivery {percent(c.delivery_rate)},"
                f" drop {percent(c.drop_rate)}) in {format_duration(c.duration)}"
            )

    async def run(self, store: Any) -> None:
        while True:
            await trio.sleep(self.interval)
            now = trio.current_time()
            for b in _sending_now(store):
                done = b.counters.recorded
                total = b.counters.audience_size_actual or 0
                before = self._last.get(b.id)
                rate = (done - before[1]) / (now - before[0]) if before and now > before[0] else 0.0
                self._last[b.id] = (now, done)
                eta = f", ETA {format_duration((total - done) / rate)}" if rate > 0 and total > done else ""
                click.echo(f"{b.id} SENDING {done}/{total} ({_counts(b)}) {rate:.1f}/s{eta}")


class RichProgress:
    """A live bar per running broadcast: counters, rate and time remaining."""

    def __init__(self, *, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[delivered]}✓ [red]{task.fields[failed]}✗ [yellow]{task.fields[skipped]}⤼"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console or terminal_console(),
        )
        self._tasks: dict[str, TaskID] = {}

    def event(self, event: LifecycleEvent) -> None:
        b = event.broadcast
        if event.kind.value in ("finished", "cancelled"):
            self._update(b)
            self.progress.console.print(f"{b.id} {b.state.value}: {_counts(b)}")
        elif event.kind.value == "overdue":
            self.progress.console.print(f"{b.id} {overdue_note(b.id, event.at - (b.run_at or event.at))}", markup=False)

    def _update(self, b: Broadcast) -> None:
        c = b.counters
        task = self._tasks.get(b.id)
        if task is None:
            task = self._tasks[b.id] = self.progress.add_task(
                f"{b.id} {b.name}".strip(), total=c.audience_size_actual, delivered=0, failed=0, skipped=0, rate=""
            )
        self.progress.update(
            task, completed=c.recorded, total=c.audience_size_actual,
            delivered=c.delivered, failed=c.failed, skipped=c.skipped,
        )  # fmt: skip
        speed = next(t.speed for t in self.progress.tasks if t.id == task)
        self.progress.update(task, rate="" if not speed else f"{speed:.1f}/s")

    async def run(self, store: Any) -> None:
        with self.progress:
            while True:
                for b in _sending_now(store):
                    self._update(b)
                # drawn on this loop's beat (trio's clock), not only by rich's own thread
                self.progress.refresh()
                await trio.sleep(0.25)


# -- the command ------------------------------------------------------------------------------


@click.command()
@click.option(
    "--once",
    is_flag=True,
    help="Exit when nothing is due and nothing is left for this worker to send (instead of waiting for more)."
    " On a shared store what other workers hold is theirs: keep one worker without --once to take over"
    " from a worker that dies.",
)
@click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")
@click.option(
    "--interval",
    type=FiniteRange(min=0.1, max=3600),
    default=5.0,
    show_default=True,
    help="Seconds between plain progress lines.",
)
@click.option(
    "--idle-poll",
    type=FiniteRange(min=0.05, max=3600),
    default=1.0,
    show_default=True,
    help="Seconds between looks for due broadcasts.",
)
@click.option(
    "--concurrent",
    type=click.IntRange(min=1, max=64),
    default=DEFAULT_MAX_CONCURRENT,
    show_default=True,
    help="Broadcasts sent at the same time (those through one integration share its rate).",
)
@click.option(
    "--lease",
    type=FiniteRange(min=1.0, max=3600),
    default=WORKER_LEASE,
    show_default=True,
    help="Seconds this worker and its audience units stay live without a heartbeat (it beats every sixth"
    " of it); after that another worker takes its units over.",
)
@pass_app
def run(app: App, once: bool, plain: bool, interval: float, idle_poll: float, concurrent: int, lease: float) -> None:
    """Run the worker: fire due broadcasts and dispatch them, with live progress.

    Up to --concurrent broadcasts are sent at once; those through one integration
    share its rate. Broadcasts left SENDING by a stopped worker are resumed first; dispatch rows older
    than 30 days are purged every hour.

    Ctrl-C or SIGTERM stops it gracefully: nothing new is sent, the requests in flight
    finish and are recorded, and a later run resumes the rest; a second Ctrl-C stops at
    once (sends then in flight are marked outcome unknown). It exits 130 (SIGINT) or 143
    (SIGTERM).

    \b
    Examples:
      broadcaster run                 # until Ctrl-C
      broadcaster run --once          # until nothing is due or left to send here
      broadcaster run --once --plain | tee run.log
    """
    config = app.config
    with worker_lock(config.store):
        store = SecretResolvingStore(app.store, secrets_file=config.secrets_file)
        store.list_integrations()  # every secret resolves, or one clear error now
        display: PlainProgress | RichProgress = (
            PlainProgress(interval=interval) if plain or not terminal_console().is_terminal else RichProgress()
        )
        watch = StopWatch()
        try:
            finished = trio.run(_work, app, store, display, once, idle_poll, concurrent, watch, lease)
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            # Ctrl-C while starting or closing, outside the watched part
            watch.signum = watch.signum or signal.SIGINT
            watch.forced = True
    if watch.signum is not None:
        click.echo(_stopped_line(store, watch), err=True)
        click.get_current_context().exit(exit_code(watch.signum))
    if once:
        click.echo(f"idle: {len(finished)} broadcast(s) run")


def _stopped_line(store: Any, watch: StopWatch) -> str:
    sending = _sending(store)
    left = sum(contacts_left(b) for b in sending)
    how = "at once" if watch.forced else "gracefully"
    unknown = "; sends that were in flight become outcome unknown" if watch.forced else ""
    if not sending:
        return f"stopped {how} on {watch.name}: nothing left sending{unknown}"
    return (
        f"stopped {how} on {watch.name}: {len(sending)} broadcast(s) still SENDING"
        f" ({', '.join(b.id for b in sending)}), {left} contact(s) left{unknown};"
        " `broadcaster run` resumes them"
    )


def _stopping(signum: int) -> None:
    click.echo("stopping: nothing new is sent, waiting for the requests in flight (again to stop at once)", err=True)


async def _work(
    app: App,
    store: Any,
    display: PlainProgress | RichProgress,
    once: bool,
    idle_poll: float,
    concurrent: int,
    watch: StopWatch,
    lease: float = WORKER_LEASE,
) -> list[Broadcast]:
    config = app.config
    registry = app.registry
    clock = WallClock()
    # every lifecycle event of this store — the CLI's, the API's, any worker's — from the outbox
    delivery = OutboxDelivery(store, endpoints=config.webhooks, plugin_manager=registry.plugin_manager, clock=clock.now)

    def on_event(event: LifecycleEvent) -> None:
        delivery.wake()
        display.event(event)

    buckets: dict[str, TokenBucket] = {}  # the runtime's, read by its health tracker too
    runtime = Runtime(
        store=store,
        registry=registry,
        buckets=buckets,
        executor=HttpExecutor(),
        clock=clock,
        pacing=config.pacing,
        backoff=config.backoff,
        rates=dict(config.rates),
        on_event=on_event,
        health=HealthTracker(on_status=store_sink(app.store), clock=clock.now, buckets=buckets),
        max_lateness=config.max_lateness,
        worker_lease=lease,
    )
    finished: list[Broadcast] = []
    async with runtime.executor, trio.open_nursery() as guard:
        await guard.start(partial(watch.watch, runtime.stop, guard.cancel_scope, on_first=_stopping))
        async with trio.open_nursery() as outer:
            outer.start_soon(delivery.run)
            async with trio.open_nursery() as inner:
                assert runtime.health is not None
                inner.start_soon(runtime.health.run)
                if config.callbacks.enabled:
                    urls = await inner.start(
                        _serve_callbacks,
                        CallbackApp.for_store(store, registry),
                        config.callbacks.host,
                        config.callbacks.port,
                    )
                    click.echo(f"delivery callbacks on {', '.join(urls)}", err=True)
                inner.start_soon(display.run, store)
                finished = await run_worker(runtime, once=once, idle_poll=idle_poll, max_concurrent=concurrent)
                inner.cancel_scope.cancel()
            # --once: deliver what is owed (retries included) before exiting; a stop: the
            # rounds in flight end, the rest waits in the store for the next worker
            delivery.close(drain=once and not runtime.stop.is_set())
        guard.cancel_scope.cancel()
    return finished


async def _serve_callbacks(
    app: CallbackApp, host: str, port: int, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    await serve_callbacks(app, host=host, port=port, task_status=task_status)
