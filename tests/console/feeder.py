"""A stand-in worker at a steady rate: records rows of a SENDING broadcast, then ends it.

python -m tests.console.feeder DB BROADCAST_ID ROWS RATE   (rows per second, in tenths of a second)
Prints the achieved rate when done.
"""

from __future__ import annotations

import sys
import time

import attrs

from broadcaster.core.lifecycle import State
from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.store import open_store

FAILURE = ErrorReason("telegram", "5xx", "server_error")


def row(broadcast_id: str, i: int, now: float) -> DispatchRow:
    failed = i % 10 == 3
    return DispatchRow(
        broadcast_id,
        f"x{i:06d}",
        Status.PROVIDER_ERROR if failed else Status.DELIVERED,
        contact_name=f"Live Contact {i}",
        integration="tg",
        error_reason=FAILURE if failed else None,
        error_kind=ErrorKind.TRANSIENT if failed else None,
        sent_at=now,
        recorded_at=now,
    )


def main(db: str, broadcast_id: str, rows: str, rate: str) -> None:
    total, per_tick = int(rows), max(1, round(float(rate) / 10))
    store = open_store(db)
    try:
        started = time.monotonic()
        for tick, first in enumerate(range(0, total, per_tick)):
            time.sleep(max(0.0, started + tick * 0.1 - time.monotonic()))
            now = time.time()
            store.record([row(broadcast_id, i, now) for i in range(first, min(total, first + per_tick))])
        took = time.monotonic() - started
        b = store.get_broadcast(broadcast_id)
        store.update_broadcast(
            attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=time.time())),
            expected_state=State.SENDING,
        )
        print(f"{total / took:.0f}", flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
