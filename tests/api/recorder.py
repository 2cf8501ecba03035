"""A stand-in worker in its own process: records rows of a SENDING broadcast, then ends it.

python -m tests.api.recorder DB BROADCAST_ID c1,c3 ...   (one batch per argument, 0.3 s apart)
"""

from __future__ import annotations

import sys
import time

import attrs

from broadcaster.core.lifecycle import State
from broadcaster.core.outcomes import Status
from broadcaster.store import open_store

from .conftest import record


def main(db: str, broadcast_id: str, *batches: str) -> None:
    store = open_store(db)
    try:
        for batch in batches:
            time.sleep(0.3)
            record(store, broadcast_id, {cid: Status.DELIVERED for cid in batch.split(",")})
            print(f"{time.time():.6f} {batch}", flush=True)
        time.sleep(0.3)
        b = store.get_broadcast(broadcast_id)
        store.update_broadcast(
            attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=time.time())),
            expected_state=State.SENDING,
        )
    finally:
        store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
