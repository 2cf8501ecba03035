"""One integration's rate shared by several workers: who may send how much, and when.

Each worker that has sends waiting for an integration holds a *share row* in the store
(``ShareRow``: from when it may send, and until when its row — and so its grant — lasts)
and renews it a few times a second. From the rows it reads, a worker takes a *grant*
(:func:`plan_share`): the fraction of the integration's rate it may use, step by step up to
``valid_until``; past that, without a renewal, it sends nothing. The rules make the
fractions of all valid grants add up to at most 1 at every instant:

* a grant counts every row that was live when it was planned, and every newcomer from the
  moment that newcomer may start (``starts_at``): fractions only fall inside a grant;
  they rise only at a renewal, once a row is really gone (deleted, or its lease passed —
  its holder's grant ended with it);
* a newcomer that finds other live rows starts only once every grant planned before its
  row existed has ended (``lease`` later, plus ``CLOCK_SKEW`` for hosts' clocks): those
  grants could not count it. Alone, it starts at once.

So N workers together never exceed the integration's rate, a worker that dies stops
counting when its lease passes, and one that joins costs the others nothing until it starts.
The shares are equal: a worker with little to send wastes part of its share until its
demand stops and it drops its row (see :mod:`broadcaster.core.sharedbucket`).

The *limit row* (``LimitRow``) carries what a refusal taught one worker to all of them:
the measured limit as a fraction of the ceiling and the pause the provider asked for. A
worker publishes after a refusal of its own (:func:`limit_to_publish`) and adopts what
another published (:func:`limit_to_adopt`). Pure: ``now`` is always passed in.
"""

from __future__ import annotations

import math
from typing import Sequence

import attrs

__all__ = [
    "CLOCK_SKEW",
    "NO_GRANT",
    "Grant",
    "LimitRow",
    "LocalLimit",
    "RateSync",
    "ShareRow",
    "SharePlan",
    "decide_sync",
    "limit_to_adopt",
    "limit_to_publish",
    "plan_share",
]

#: how far apart the clocks of hosts sharing a store may be (they keep NTP time)
CLOCK_SKEW = 0.05
#: after its own refusal, a worker publishes what its bucket makes of it for this long
#: (the measurement settles a few tenths of a second after the first refusal)
PUBLISH_FOR = 1.0


@attrs.frozen
class ShareRow:
    """A worker's claim on a share of one integration's rate."""

    worker_id: str
    starts_at: float
    lease_until: float


@attrs.frozen
class Grant:
    """The fraction of the integration's rate a worker may use: ``steps`` are
    ``(from, fraction)`` in time order, the last holding until ``valid_until``."""

    steps: tuple[tuple[float, float], ...]
    valid_until: float

    def fraction(self, now: float) -> float:
        if now >= self.valid_until:
            return 0.0
        current = 0.0
        for start, fraction in self.steps:
            if start > now:
                break
            current = fraction
        return current

    def following(self, previous: Grant) -> Grant:
        """This grant, after ``previous``: a moment before this one's first step (a caller
        whose clock was read just before the renewal's), the fraction ``previous`` had in
        force then, not none -- a bucket that saw none would drop its tokens as if its
        share had ended. Only the step in force at this grant's start is kept (the rest
        of ``previous`` is past), and only while ``previous`` was valid."""
        if not self.steps or not previous.steps:
            return self
        first = self.steps[0][0]
        earlier = [step for step in previous.steps if step[0] < first][-1:]
        if not earlier or previous.valid_until <= earlier[0][0]:
            return self
        if previous.valid_until < first:
            earlier.append((previous.valid_until, 0.0))
        steps = self.steps
        if earlier[-1][1] == steps[0][1]:
            steps = steps[1:]  # the same fraction goes on: one step
        return Grant((*earlier, *steps), self.valid_until)

    def next_start(self, now: float) -> float | None:
        """The first time at or after ``now`` with a share to send on, if the grant has one."""
        if self.fraction(now) > 0:
            return now
        for start, fraction in self.steps:
            if start > now and fraction > 0 and start < self.valid_until:
                return start
        return None


NO_GRANT = Grant((), -math.inf)


@attrs.frozen
class SharePlan:
    """What a renewal writes (``row``; None: delete this worker's row) and grants."""

    row: ShareRow | None
    grant: Grant


def plan_share(rows: Sequence[ShareRow], *, me: str, now: float, lease: float, wants: bool) -> SharePlan:
    """This worker's row and grant, from the integration's rows as read (under the store's
    lock, so that two newcomers see each other). ``wants``: it has sends waiting."""
    if not lease > 0:
        raise ValueError(f"a share lease must be > 0 seconds, got {lease!r}")
    if not wants:
        return SharePlan(None, NO_GRANT)
    others = [r for r in rows if r.worker_id != me and r.lease_until > now]
    mine = next((r for r in rows if r.worker_id == me and r.lease_until > now), None)
    if mine is not None:
        starts = mine.starts_at
    else:
        starts = now + lease + CLOCK_SKEW if others else now
    until = now + lease
    changes = {now} | {at for at in (starts, *(r.starts_at for r in others)) if now < at < until}
    steps: list[tuple[float, float]] = []
    for at in sorted(changes):
        fraction = 0.0 if at < starts else 1.0 / (1 + sum(1 for r in others if r.starts_at <= at))
        if not steps or steps[-1][1] != fraction:
            steps.append((at, fraction))
    return SharePlan(ShareRow(me, starts, until), Grant(tuple(steps), until))


@attrs.frozen
class LimitRow:
    """What the provider taught one worker, for all: the limit as a fraction of the
    ceiling (``factor``, measured at ``updated_at``) and the pause it asked for."""

    factor: float
    paused_until: float
    updated_at: float
    updated_by: str


@attrs.frozen
class LocalLimit:
    """A worker's bucket as the limit row sees it."""

    #: the bucket's measured limit over its ceiling (1.0: none measured)
    factor: float
    paused_until: float
    #: when it last had a refusal of its own (None: never)
    refused_at: float | None


def limit_to_publish(
    local: LocalLimit, row: LimitRow | None, *, published: LimitRow | None, me: str, now: float
) -> LimitRow | None:
    """The row to write after this worker's own refusal (None: nothing new to say).

    ``published`` is what this worker wrote last: while its measurement settles it
    writes each change, then it is quiet; a pause already in the row is kept."""
    if local.refused_at is None or now - local.refused_at > PUBLISH_FOR:
        return None
    if published is not None and published.updated_at >= local.refused_at:
        if (published.factor, published.paused_until) == (local.factor, local.paused_until):
            return None
    paused = local.paused_until if row is None else max(local.paused_until, row.paused_until)
    return LimitRow(local.factor, paused, now, me)


def limit_to_adopt(row: LimitRow | None, *, seen_at: float, me: str) -> LimitRow | None:
    """Another worker's row, newer than the last one this worker saw (``seen_at``)."""
    if row is None or row.updated_by == me or row.updated_at <= seen_at:
        return None
    return row


@attrs.frozen
class RateSync:
    """One renewal's decisions: the share row and grant, the limit row to write (if any)
    and another worker's limit row to adopt (if any)."""

    plan: SharePlan
    publish: LimitRow | None
    adopt: LimitRow | None


def decide_sync(
    rows: Sequence[ShareRow],
    limit: LimitRow | None,
    *,
    local: LocalLimit,
    wants: bool,
    published: LimitRow | None,
    seen_at: float,
    me: str,
    now: float,
    lease: float,
) -> RateSync:
    """Everything a worker decides from the integration's rows at one renewal."""
    return RateSync(
        plan=plan_share(rows, me=me, now=now, lease=lease, wants=wants),
        publish=limit_to_publish(local, limit, published=published, me=me, now=now),
        adopt=limit_to_adopt(limit, seen_at=seen_at, me=me),
    )
