"""``workers``: the ``broadcaster run`` processes sharing this store, live and lost."""

from __future__ import annotations

import time

import click
from rich.table import Table

from ..store.base import WorkerInfo
from .base import App, emit_json, json_option, pass_app
from .render import console
from .times import format_time

__all__ = ["workers"]


def _status(worker: WorkerInfo, now: float) -> str:
    # a worker nobody has marked yet (all others gone too) is lost once its lease passed
    return "live" if worker.live and worker.lease_until >= now else "lost"


@click.command()
@json_option
@pass_app
def workers(app: App, as_json: bool) -> None:
    """Workers of this store: host, pid, start, heartbeat, broadcasts, and lost ones.

    A worker renews its lease with every heartbeat; one whose lease passed is shown as
    lost, with the broadcasts whose unrecorded sends another worker took over (they become
    FAILED outcome_unknown, never resent).

    \b
    Examples:
      broadcaster workers
      broadcaster --store postgresql://broadcaster@db.internal:5432/broadcaster workers --json
    """
    now = time.time()
    found = app.service.workers()
    if as_json:
        emit_json([
            {
                "id": w.id, "host": w.host, "pid": w.pid, "status": _status(w, now), "startedAt": w.started_at,
                "heartbeatAt": w.heartbeat_at, "leaseUntil": w.lease_until, "broadcasts": list(w.broadcasts),
                "lostAt": w.lost_at, "takenOver": list(w.taken_over),
            }
            for w in found
        ])  # fmt: skip
        return
    if not found:
        click.echo("no workers")
        return
    zone = app.zone
    table = Table("worker", "host", "pid", "status", "started", "heartbeat", "broadcasts", "taken over")
    for w in found:
        table.add_row(
            w.id, w.host, str(w.pid), _status(w, now), format_time(w.started_at, zone),
            format_time(w.heartbeat_at, zone), ", ".join(w.broadcasts) or "-", ", ".join(w.taken_over) or "-",
        )  # fmt: skip
    console().print(table)
