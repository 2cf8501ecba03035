"""A real worker process for the crash test: ``python crash_worker.py DB_PATH RATE``.

It opens the SQLite file, resumes any broadcast left SENDING by a killed predecessor,
fires due ones and runs them to their end, then exits 0. The test kills it with SIGKILL
at random moments and starts it again; nothing here knows it is being killed.
"""

from __future__ import annotations

import random
import sys

import broadcaster_telegram
import trio

from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.context import Runtime, WallClock
from broadcaster.runtime.http import HttpExecutor
from broadcaster.runtime.serve import run_worker
from broadcaster.store.sqlite import open_store


async def work(db_path: str, rate: float) -> None:
    pm = make_plugin_manager(autoload=False, plugins=[broadcaster_telegram])
    with open_store(db_path) as store:
        async with HttpExecutor() as executor:
            runtime = Runtime(
                store=store,
                registry=ProviderRegistry.from_plugin_manager(pm),
                executor=executor,
                clock=WallClock(),
                rng=random.Random(),
                rates={"tg": rate},
                poll_interval=0.2,
            )
            await run_worker(runtime, once=True, idle_poll=0.05)


if __name__ == "__main__":
    trio.run(work, sys.argv[1], float(sys.argv[2]))
