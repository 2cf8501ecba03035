"""Shared provider limits: this worker's share of each integration's rate, renewed in the store.

When several workers share a store (PostgreSQL), :func:`~broadcaster.runtime.serve.run_worker`
makes every integration's bucket a :class:`~broadcaster.core.sharedbucket.SharedBucket` and
runs :func:`keep_rate_shares` beside the broadcasts. Every ``RENEW_EVERY`` seconds, per
bucket, one short transaction reads the integration's share rows and limit row, lets the
pure core decide (:mod:`broadcaster.core.rateshare`: this worker's row and grant, what its
own refusals publish, what another worker's refusal makes it adopt) and writes the result;
then the bucket takes the decisions. A grant lasts ``SHARE_LEASE`` seconds: a worker whose
renewals stop (killed, its database unreachable: renewals go on being tried) stops
sending when it ends, and the others
take its share at their next renewal once its row's lease has passed.

The cost: one transaction per integration with sends waiting per worker per renewal, a
few per second whatever the send rate (``bench/shared_limits.py`` prints it).
"""

from __future__ import annotations

import logging

import trio

from ..core.errors import StoreUnreachable
from ..core.sharedbucket import SharedBucket
from .context import Runtime

__all__ = ["RENEW_EVERY", "SHARE_LEASE", "keep_rate_shares", "renew_rate_shares"]

log = logging.getLogger(__name__)

#: how long a grant lasts without a renewal (a newcomer among others waits this long)
SHARE_LEASE = 2.0
#: how often the shares are renewed (a lease spans several missed renewals)
RENEW_EVERY = 0.25


async def renew_rate_shares(runtime: Runtime, *, lease: float = SHARE_LEASE) -> int:
    """Renew the share of every shared bucket once; returns how many were renewed.

    Each renewal's transaction runs in a thread: a slow database delays the renewal (the
    grant in force runs on meanwhile, and ends if it is not renewed), never the sends."""
    store = runtime.store
    me = store.worker_id
    renewed = 0
    for name, bucket in list(runtime.buckets.items()):
        if not isinstance(bucket, SharedBucket):
            continue
        now = runtime.clock.now()
        decide = bucket.decider(me=me, now=now, lease=lease)
        sync = await trio.to_thread.run_sync(store.sync_rate_share, name, decide)
        bucket.apply(sync, now)
        renewed += 1
        if sync.adopt is not None:
            log.info(
                "%s: worker %s was refused by the provider: slowing to %.0f %% of the rate%s",
                name,
                sync.adopt.updated_by,
                100 * sync.adopt.factor,
                f", paused {sync.adopt.paused_until - now:.1f} s" if sync.adopt.paused_until > now else "",
            )
    return renewed


async def keep_rate_shares(runtime: Runtime, *, every: float = RENEW_EVERY, lease: float = SHARE_LEASE) -> None:
    """Renew the shares every ``every`` seconds, until cancelled."""
    if not 0 < every < lease:
        raise ValueError(f"shares must be renewed more often than their lease, got every={every} lease={lease}")
    while True:
        try:
            await renew_rate_shares(runtime, lease=lease)
        except StoreUnreachable as exc:
            # the grants in force end at their lease: no send goes past them unshared
            runtime.outage.failed(exc)
        await trio.sleep(every)
