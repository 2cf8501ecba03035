"""A token bucket for an integration whose rate several workers share.

:class:`SharedBucket` is the adaptive :class:`~broadcaster.core.ratelimit.TokenBucket`
running under this worker's *grant* (:mod:`broadcaster.core.rateshare`): its ceiling is the
granted fraction of the integration's rate and its burst the same fraction of the burst
(at least one token), both following the grant's steps; outside a grant (none yet, or it
ran out unrenewed) it gives no token at all, and a share that begins starts with none
saved up — other workers keep the provider busy meanwhile (or did until a moment ago), so
a newcomer's burst would come on top of their pace. What it measures after a refusal keeps its
proportion to the ceiling, so a fraction of the measured limit is exactly what a share of
the provider's real limit is. But a share's own sends do not measure the provider's limit
(the provider counts the other workers' sends too): a burst of refusals steps its rate down,
or cuts it when mostly refused (:meth:`~.ratelimit.TokenBucket.measures_alone`), and what
it publishes for the others is the settled result, never the guard cut held while its
replies still come in — the pause reaches them at once.

The shell renews the grant a few times a second (:meth:`SharedBucket.decider` on the rows
read under the store's lock, the rows written, then :meth:`SharedBucket.apply`). A bucket
*wants* a share while the dispatcher asks it for tokens (or it is paused); one not asked
for ``IDLE_AFTER`` seconds drops its row, and the others' shares grow at their next renewal.
Pure: ``now`` is always passed in.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Sequence

from .ratelimit import TokenBucket
from .rateshare import NO_GRANT, Grant, LimitRow, LocalLimit, RateSync, ShareRow, decide_sync

__all__ = ["IDLE_AFTER", "WAIT_FOR_GRANT", "SharedBucket"]

#: a bucket not asked for a token this long gives its share back (the dispatcher asks
#: whenever it has a send waiting, so only a run that has sent its last asks no more)
IDLE_AFTER = 1.0
#: without a grant to wait for, the dispatcher asks again this often (the shell renews
#: grants on its own beat, so this only bounds how late a new grant is noticed)
WAIT_FOR_GRANT = 0.05


class SharedBucket(TokenBucket):
    __slots__ = (
        "ceiling",
        "full_burst",
        "_grant",
        "_fraction",
        "_gated",
        "_asked_at",
        "_waits_until",
        "_refused_at",
        "_seen_at",
        "_published",
    )

    def __init__(self, *, rate: float, burst: int, now: float, **options: float) -> None:
        super().__init__(rate=rate, burst=burst, now=now, **options)
        #: the integration's whole rate and burst, shared by the workers
        self.ceiling = rate
        self.full_burst = float(burst)
        self._grant: Grant = NO_GRANT
        #: the fraction the bucket's ceiling is set to now
        self._fraction = 1.0
        #: outside a grant when last asked (a share that begins starts without tokens)
        self._gated = True
        self._asked_at: float | None = None
        #: a start the dispatcher was told to wait for (it asks again then, not before)
        self._waits_until = -math.inf
        self._refused_at: float | None = None
        #: the newest limit row taken into account, and the last one this worker wrote
        self._seen_at = -math.inf
        self._published: LimitRow | None = None

    @property
    def grant(self) -> Grant:
        return self._grant

    # -- the dispatcher's side ---------------------------------------------------------------

    def try_take(self, now: float) -> bool:
        self._asked_at = now
        if not self._follow(now):
            return False
        return super().try_take(now)

    def next_available(self, now: float) -> float:
        self._asked_at = now
        if not self._follow(now):
            start = self._grant.next_start(now)
            at = now + WAIT_FOR_GRANT if start is None else start
            self._waits_until = at
            return at
        return super().next_available(now)

    def measures_alone(self) -> bool:
        return self._fraction >= 1.0  # with a share of the rate, other workers send too

    def throttled(self, now: float, *, pause: float | None = None, sent_at: float | None = None) -> None:
        super().throttled(now, pause=pause, sent_at=sent_at)
        self._refused_at = now

    def _follow(self, now: float) -> bool:
        """Set the ceiling to the grant's fraction at ``now``; False outside the grant."""
        fraction = self._grant.fraction(now)
        if fraction <= 0:
            self._gated = True
            return False
        if fraction != self._fraction:
            self.set_ceiling(self.ceiling * fraction, max(1.0, self.full_burst * fraction), now)
            self._fraction = fraction
        if self._gated:
            # Its share begins (or begins again) while other workers keep — or kept until a
            # moment ago — the provider at their pace: tokens saved up while waiting would
            # be a burst on top of theirs.
            self._gated = False
            self.empty(now)
        return True

    # -- the shell's side: one renewal -------------------------------------------------------

    def wants(self, now: float) -> bool:
        """Whether the dispatcher asked for a token in the last ``IDLE_AFTER`` seconds (a
        pause, or a share's start it was told to wait for, counts as asking)."""
        if self._asked_at is None:
            return False
        return now - max(self._asked_at, self.paused_until, self._waits_until) <= IDLE_AFTER

    def local_limit(self, now: float) -> LocalLimit:
        """What this worker says of the provider's limit: the settled measurement (while a
        refusal's replies still come in, the rate it came at -- the pause is what reaches
        the others at once), and its pause."""
        factor = min(1.0, self.settled_rate(now) / self.base_rate)
        return LocalLimit(factor=factor, paused_until=self.paused_until, refused_at=self._refused_at)

    def decider(
        self, *, me: str, now: float, lease: float
    ) -> Callable[[Sequence[ShareRow], LimitRow | None], RateSync]:
        """What to write and grant, as a function of the integration's rows (read under the
        store's lock). The bucket's state is taken now: the function is pure and may run
        in another thread while the bucket goes on pacing."""
        return partial(
            decide_sync,
            local=self.local_limit(now),
            wants=self.wants(now),
            published=self._published,
            seen_at=self._seen_at,
            me=me,
            now=now,
            lease=lease,
        )

    def apply(self, sync: RateSync, now: float) -> None:
        """Take a renewal's decisions once its rows are written."""
        self._grant = sync.plan.grant.following(self._grant)
        adopt = sync.adopt
        if adopt is not None:
            self._seen_at = adopt.updated_at
            self.adopt(adopt.factor * self.base_rate, since=adopt.updated_at, now=now)
            self.pause(adopt.paused_until, now)
        if sync.publish is not None:
            self._published = sync.publish
            self._seen_at = max(self._seen_at, sync.publish.updated_at)
