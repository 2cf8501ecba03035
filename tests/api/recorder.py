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
            items = [item.partition("=") for item in batch.split(",")]
            record(store, broadcast_id, {cid: Status(status or "delivered") for cid, _, status in items})
            print(f"{time.time():.6f} {','.join(cid for cid, _, _ in items)}", flush=True)
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
