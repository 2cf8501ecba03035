"""Proactive pacing per integration: an adaptive token bucket on the caller's clock.

The bucket runs at the integration's configured rate — the operator's **ceiling**, which
it never exceeds. When the provider says "too many requests" for the whole integration,
the bucket *measures* the provider's real limit from the rate it accepted, not from the
rate it was asked for:

* the first refusal of a burst opens a short observation window (``_OBSERVE`` s, long
  enough for the replies of the requests already in flight to come back). The bucket keeps
  the send times of recent accepted sends; the refused sends of the window and the
  accepted ones after the first refusal bound the provider's limit from both sides
  (:mod:`~.limitestimate`: a token bucket refills more than the accepted sends between a
  refusal and a later acceptance, and less than one more than those between any send and
  a later refusal). The bucket then runs at ``_MARGIN`` of the lower bound — a rate the
  provider surely takes;
* a measurement whose upper bound is far above (``_LOOSE``: a burst of a handful of
  replies) is *searched* once: from ``_SEARCH_AFTER`` s on the rate climbs over
  ``_SEARCH_RISE`` s half way to the upper bound; if the limit is there, the refusal this
  costs measures it closely from sends that left near it;
* a later burst mostly accepted (``_NEARLY_ALL``, or once a limit is known ``_OVERLOAD``)
  steps down by ``_STEP_DOWN``, as does a single refusal among accepted replies — by
  ``_CLIMB_STEP_DOWN`` while the rate was climbing, since the provider's burst let it
  climb further past the limit before it said so. So refusals that do not fall as the rate
  does (a per-chat cap reported for the integration) cannot walk it down to nothing. A lone
  refusal, or the sends in flight refused together, after ``_STRAY_AFTER`` sends accepted
  without one steps down too, though nothing measured (its pause hint stopped the sends that
  would have); a new measurement starts at most once per ``_GAP`` s;
* a bucket sharing the provider with other workers (:meth:`TokenBucket.measures_alone`) does
  not measure: its sends are not all the provider counts. A window at least ``_SHARED_MOSTLY``
  accepted, or after ``_STRAY_AFTER`` sends accepted without a refusal, steps down by
  ``_STEP_DOWN``; one mostly refused soon after the last refusal cuts by ``decrease``;
* after ``_PROBE_AFTER`` s without a refusal it climbs back slowly (``_PROBE_STEP`` of
  the estimate per ``_PROBE_PERIOD`` s) towards the ceiling, so a limit that was lowered
  for a while is won back, and forgets the estimate there;
* a pause hint is a floor on the pause, obeyed exactly, never read as a rate. When
  *nothing* sent after the first refusal was accepted, the refusals say nothing about the
  rate: with a long hint (>= ``_HINT_ONLY`` s, Telegram's flood wait, a storm) the pause
  alone is the answer and the rate is kept, so the storm costs its pauses and no slow
  climb after it; without one, the rate is cut by ``decrease`` as a blind fallback.

So a configured rate far above the real limit costs one or two bursts of refusals, then
runs at ~0.97 of the limit. A bucket whose configured rate is *below* the provider's limit
stays at it; :attr:`TokenBucket.unrefused` counts the sends accepted since the last refusal,
and :meth:`TokenBucket.allows_more` turns the sends the ceiling held back (no token to spare)
without a refusal since into a figure to suggest: after ``_ALLOWS_MORE_SECONDS`` of them at
the ceiling, the provider seems to allow more, so try ``_SUGGEST`` times it (if that is too
much, the measurement above finds the real limit within a second). A provider whose limit is
exactly the ceiling looks the same from here: the suggestion is a lead, not a measurement.

A provider that reports its budget on successful replies (:class:`~.results.RateState`,
fed through :meth:`TokenBucket.reported`) is obeyed *before* it refuses: told "0 left,
reset in 2 s" the bucket waits 2 s; told "10 left" it sends at most 10 more (less those
already in flight) before the reset (:mod:`~.ratebudget`), and resumes after it at its rate,
with no burst saved while it waited.

A bucket may also *warm up*: start with one token, not a full burst, and save no more than
``WARM_SLACK`` seconds of its rate (at least one token) for ``warmup`` seconds, at its full
rate from the first send. A real run starts cold — no connection to the provider is open
yet — so what waits for the connections arrives at the provider together: a burst saved up
meanwhile would come on top. The slack is what a busy event loop needs: with one token
only, every wake-up a millisecond late lost that millisecond of sending for good (at
1 000/s, the first half second ran at two thirds of the rate). (The rate itself needs no
ramp: a rate the provider does not take is measured from the first burst of refusals.)
Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from typing import Mapping, MutableMapping

from .channels import ChannelSpec
from .limitestimate import saturated_rate
from .ratebudget import ReportedBudget
from .results import RateState

__all__ = ["DEFAULT_WARMUP", "WARM_SLACK", "TokenBucket", "buckets_for"]

# Time is POSIX seconds, where a float resolves only ~2.4e-7 s (near 2e9). A wait computed
# to the exact instant a token is due may land a hair early after rounding, and the
# caller would be woken at the same instant forever. So every wait carries one extra
# microsecond: at the promised time the token is surely there, and the bucket never
# sends earlier than its rate allows (a provider enforcing the same rate never refuses).
_MIN_WAIT = 1e-6
#: after a refusal, the replies arriving within this many seconds measure the limit
#: (requests in flight come back within a round trip; Telegram's p99 is well under it)
_OBSERVE = 0.3
#: keep the send times of this many recent accepted sends (a burst's span is well under it)
_KEEP = 8192
#: a new measurement starts at most once per this many seconds
_GAP = 1.0
#: run this far under the measured lower bound (exact for a token bucket that sees the sends
#: when they left; the network's jitter on the way in bunches a few)
_MARGIN = 0.98
#: a window with at least this share accepted was only just over the limit: step down by _STEP_DOWN
_NEARLY_ALL = 0.9
#: with a limit already measured, a window must show this little accepted to re-measure it
_OVERLOAD = 0.75
_STEP_DOWN = 0.97
#: a refusal's pause hint at least this long, with nothing accepted, is a storm, not a rate
_HINT_ONLY = 2.0
#: no refusal for this long: start climbing back towards the ceiling
_PROBE_AFTER = 20.0
#: climb by this share of the estimate per _PROBE_PERIOD seconds
_PROBE_STEP = 0.05
_PROBE_PERIOD = 10.0
#: a measurement whose upper bound is this many times the rate set is loose: search above it
_LOOSE = 1.35
#: ... climbing this far towards the upper bound, over _SEARCH_RISE s once _SEARCH_AFTER s passed
_SEARCH_SHARE = 0.5
_SEARCH_AFTER = 1.0
_SEARCH_RISE = 2.0
#: sharing the provider with other workers, a window with this share accepted steps down
_SHARED_MOSTLY = 0.5
#: a lone refusal after this many sends accepted without one was only just over the limit
_STRAY_AFTER = 100
#: a single refusal while the rate climbs steps down this far
_CLIMB_STEP_DOWN = 0.93
#: the ceiling held this many seconds' worth of sends back without a refusal: suggest more
_ALLOWS_MORE_SECONDS = 10.0
#: ... and at least this many sends (a slow ceiling needs more than a handful to say so)
_ALLOWS_MORE_SENDS = 100
#: the suggestion is this many times the ceiling
_SUGGEST = 2.0
#: the most a warming bucket saves, in seconds of its rate (10 tokens at 1 000/s, one at 100/s)
WARM_SLACK = 0.01
#: how long a run's new buckets warm up (the runtime's default; the simulator uses it too,
#: so a simulated run makes the decisions a real one makes)
DEFAULT_WARMUP = 0.5


class TokenBucket:
    __slots__ = (
        "base_rate",
        "burst",
        "min_rate",
        "decrease",
        "warmup",
        "unrefused",
        "_held",
        "_tokens",
        "_last",
        "_held_until",
        "_learned",
        "_learned_at",
        "_search",
        "_paused_until",
        "_warm_until",
        "_observe_until",
        "_observed_rate",
        "_refused",
        "_ok",
        "_hint",
        "_known",
        "_climbing",
        "_clean",
        "_again",
        "_told",
        "_reported",
    )

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        now: float,
        min_rate: float = 0.5,
        decrease: float = 0.7,
        warmup: float = 0.0,
    ) -> None:
        """``rate`` is the ceiling; ``decrease`` cuts the rate on a refusal that measured
        nothing (every reply refused, no long pause hint)."""
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1 (exclusive), got {decrease!r}")
        if not warmup >= 0:
            raise ValueError(f"warmup must be >= 0 seconds, got {warmup!r}")
        self.warmup = warmup
        self._warm_until = now + warmup
        self.decrease = decrease
        self.base_rate = rate
        self.burst = float(burst)
        self.min_rate = min(min_rate, rate)
        #: sends accepted since the last refusal (the shell's "the provider seems to allow more")
        self.unrefused = 0
        #: sends taken at the ceiling with no token to spare, since the last refusal
        self._held = 0
        self._tokens = 1.0 if warmup > 0 else float(burst)
        self._last = now
        #: the provider's reported window held the sends until then: no burst saved over it
        self._held_until = now
        #: the measured limit (None: none known, run at the ceiling) and when it was set
        self._learned: float | None = None
        self._learned_at = now
        #: where the limit may still be, above a loose measurement: the rate climbs there first
        self._search: float | None = None
        self._paused_until = now
        #: an observation window after a refusal (see the module docstring)
        self._observe_until = -1e300
        self._observed_rate = rate
        #: the send times of the open window's refused sends
        self._refused: list[float] = []
        #: the send times of recent accepted sends (what a window's refusals are measured against)
        self._ok: list[float] = []
        self._hint = 0.0
        #: whether a limit was already measured when the window opened
        self._known = False
        #: whether the window opened while the rate climbed above what was measured
        self._climbing = False
        #: the sends accepted without a refusal before the window opened
        self._clean = 0
        #: whether this window's refusal was not the first this bucket saw or was told of
        self._again = False
        #: told of another worker's refusal (:meth:`adopt`)
        self._told = False
        #: the budget the provider's replies report (None until one does)
        self._reported: ReportedBudget | None = None

    @property
    def learned(self) -> float | None:
        """The provider's limit as measured (already under the margin), if one was."""
        return self._learned

    def allows_more(self) -> float | None:
        """The rate to suggest to the operator when the provider seems to allow more than
        the ceiling (see the module docstring), else None."""
        if self._held >= max(_ALLOWS_MORE_SENDS, _ALLOWS_MORE_SECONDS * self.base_rate):
            return _SUGGEST * self.base_rate
        return None

    def rate(self, now: float) -> float:
        if self._refused and now >= self._observe_until:
            self._settle(self._observe_until)
        learned = self._learned
        if learned is None:
            current = self.base_rate
        else:
            since = now - self._learned_at
            search = self._search
            if search is not None and since > _SEARCH_AFTER:
                # A loose measurement: the limit is somewhere between it and ``search``.
                # Going there costs at most one more refusal, which measures it closely.
                learned += (search - learned) * min(1.0, (since - _SEARCH_AFTER) / _SEARCH_RISE)
            quiet = since - _PROBE_AFTER
            current = learned if quiet <= 0 else learned * (1.0 + _PROBE_STEP * quiet / _PROBE_PERIOD)
            if current >= self.base_rate:
                self._learned = None  # climbed back to the ceiling: nothing left to remember
                current = self.base_rate
        return current

    def _refill(self, now: float) -> None:
        if self._refused and now >= self._observe_until:
            self._settle(self._observe_until)  # first: it may hold the sends of the pause
        if self._held_until > self._last:
            # held by the provider's reported window: no burst saved over the wait (a fresher
            # report may reopen the window early; then the bucket trickles at its rate)
            upto = min(now, self._held_until)
            self._tokens = min(1.0, self._tokens + (upto - self._last) * self.rate(now))
            self._last = upto
        if now > self._last:
            # warming up, no burst is saved: the connections are still opening, and what waits
            # for them arrives at the provider together (only the slack a late wake-up needs)
            rate = self.rate(now)
            cap = self.burst if now >= self._warm_until else max(1.0, min(self.burst, rate * WARM_SLACK))
            tokens = self._tokens + (now - self._last) * rate
            self._tokens = tokens if tokens < cap else cap  # min(cap, tokens), without the call
            self._last = now

    def try_take(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        reported = self._reported
        if reported is not None:
            blocked = reported.blocked_until(now)
            if blocked is not None:
                self._hold(blocked, now)
                return False
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            if self._tokens < 1.0 and self._learned is None and now >= self._warm_until:
                self._held += 1  # the ceiling, not the demand, paced this send
            if reported is not None:
                reported.spend(now)
            return True
        return False

    def next_available(self, now: float) -> float:
        """The earliest time a token may be taken (>= now)."""
        if now < self._paused_until:
            return self._paused_until
        reported = self._reported
        if reported is not None:
            blocked = reported.blocked_until(now)
            if blocked is not None:
                self._hold(blocked, now)
                return blocked
        if now > self._last or self._held_until > self._last:
            self._refill(now)  # not after a refused try_take at this ``now``: nothing to add
        if self._tokens >= 1.0:
            return now
        return now + (1.0 - self._tokens) / self.rate(now) + _MIN_WAIT

    def _hold(self, until: float, now: float) -> None:
        """The provider's reported window holds every send until ``until``: resume then
        at the bucket's rate, with at most one token, no burst saved meanwhile. The
        window refills the provider's side; a burst saved here would land on it together
        with the sends that go before the first report of the new window comes back, and
        overrun it."""
        self._held_until = max(self._held_until, until)

    def accepted(self, now: float, *, sent_at: float | None = None) -> None:
        """The provider accepted a send of this integration that left at ``sent_at``
        (default ``now``): its send time is kept for the next refusal's measurement."""
        ok = self._ok
        ok.append(now if sent_at is None else sent_at)
        if len(ok) >= _KEEP:
            del ok[: _KEEP // 2]  # replies come back roughly in send order: drop the oldest half
        if now >= self._observe_until:
            self.unrefused += 1

    def reported(self, now: float, state: RateState, *, sent_at: float) -> None:
        """A successful reply to the send that left at ``sent_at`` reported the provider's
        rate budget: keep within it (see :mod:`~.ratebudget`)."""
        if self._reported is None:
            self._reported = ReportedBudget()
        self._reported.report(state, now=now, sent_at=sent_at)

    def throttled(self, now: float, *, pause: float | None = None, sent_at: float | None = None) -> None:
        """The provider said "too many requests" for the whole integration, to a send that
        left at ``sent_at`` (default ``now``): the provider was saturated then. The refused
        sends of one burst measure the limit (:mod:`~.limitestimate`); a pause hint is obeyed
        as a floor on the pause, never read as a rate."""
        self._refill(now)
        self._tokens = 0.0
        clean, self.unrefused = self.unrefused, 0
        self._held = 0
        if pause is not None and pause > 0:
            self._paused_until = max(self._paused_until, now + pause)
            self._hint = max(self._hint, pause)
        left = now if sent_at is None else sent_at
        if now < self._observe_until:
            self._refused.append(left)  # the same burst: one more end of the saturated span
            return
        if now < self._observe_until - _OBSERVE + _GAP:
            return  # just measured: the stragglers of that burst are not a new signal
        # The first refusal of a burst: measure what the provider takes from the replies
        # still to come; meanwhile (usually paused anyway) hold the rate at its cut.
        current = self.rate(now)
        self._observed_rate = current if sent_at is None else min(current, self.rate(sent_at))
        self._again = self._told or self._observe_until > -1e299
        self._observe_until = now + _OBSERVE
        self._refused = [left]
        self._hint = pause if pause is not None and pause > 0 else 0.0
        self._known = self._learned is not None
        self._climbing = self._learned is not None and current > self._learned
        self._clean = clean
        self._set(max(self.min_rate, current * self.decrease), now)

    def _settle(self, now: float) -> None:
        """The observation window ended at ``now``: turn its replies into the provider's limit."""
        refused, hint = self._refused, self._hint
        self._refused = []
        earliest = min(refused)  # once, not per accepted send kept (thousands)
        measured = saturated_rate(refused, self._ok)
        if self._paused_until > now and self._mostly_refused(refused, earliest):
            # The provider was empty, and asked for a pause: resume after it at the rate,
            # no burst saved over it. A burst saved on top of what the provider refilled
            # meanwhile overruns a provider whose burst is smaller than this bucket's, and
            # its refusals, sent together, would measure nothing but cut the rate blindly
            # again after every pause (a storm at 200/s with a burst of 10 walked Telegram's
            # bucket down to 22/s that way).
            self._hold(self._paused_until, now)
        if measured is not None:
            # Once a limit is known, a burst mostly accepted was only just over it (or its
            # refusals do not fall as the rate does: a per-chat cap reported for the whole
            # integration): step down a little, do not re-measure each time, which would walk
            # the rate down to nothing.
            share = measured.accepted / (measured.accepted + len(refused))
            if share >= (_OVERLOAD if self._known else _NEARLY_ALL):
                self._set(max(self.min_rate, self._observed_rate * _STEP_DOWN), now)
            elif not self.measures_alone():
                # The provider counted other workers' sends too: this bucket's view of the
                # burst measures its luck among them, not the limit. Mostly accepted, after
                # a long clean run, or its first refusal (the fleet's rate was not yet known
                # too high), it was only just over; refused again soon after: far over, cut
                # as when nothing measured.
                just_over = share >= _SHARED_MOSTLY or self._just_over_unmeasured()
                step = _STEP_DOWN if just_over else self.decrease
                self._set(max(self.min_rate, self._observed_rate * step), now)
            else:
                rate = max(self.min_rate, min(self._observed_rate, measured.estimate) * _MARGIN)
                self._set(rate, now)
                high = min(self.base_rate, measured.high)
                if self._learned is not None and high > _LOOSE * rate:
                    self._search = _SEARCH_SHARE * high + (1 - _SEARCH_SHARE) * rate
        elif len(refused) == 1 and (self._clean >= _STRAY_AFTER or any(at > refused[0] for at in self._ok)):
            # A single refusal among accepted replies, or after a long run of them (its pause
            # hint stopped the sends that would have told): only just over the limit -- unless
            # the rate was climbing (a search or a probe), when the provider's burst let
            # it climb further over before it said so.
            step = _CLIMB_STEP_DOWN if self._climbing else _STEP_DOWN
            self._set(max(self.min_rate, self._observed_rate * step), now)
        elif hint >= _HINT_ONLY and not any(at > earliest for at in self._ok):
            # Nothing accepted but a long pause asked for: a storm, not a rate. Its pause is
            # the whole answer; the rate it was refused at stands.
            self._set(max(self.min_rate, self._observed_rate) if self._known else self.base_rate, now)
        elif self._just_over_unmeasured():
            self._set(max(self.min_rate, self._observed_rate * _STEP_DOWN), now)
        # else: refused without a measurable span and no long hint: the blind cut made at
        # the refusal stands

    def _just_over_unmeasured(self) -> bool:
        """Whether a burst of refusals that measured nothing of the limit was only just over:
        after a long clean run (the sends in flight refused together, the pause stopping
        those that would have told: a worker at exactly the provider's limit whose jitter
        emptied the provider's burst), or -- sharing the provider -- this bucket's first
        (where the workers' shares change, a newcomer starting, their sends meet at the
        provider unevenly for a moment). A cut by ``decrease`` there held the run, or the
        whole fleet, at 0.7 of the limit for ``_PROBE_AFTER`` s. Refused again soon after,
        it is far over."""
        return self._clean >= _STRAY_AFTER or not (self.measures_alone() or self._again)

    def _mostly_refused(self, refused: list[float], earliest: float) -> bool:
        """Whether the provider refused more of the sends between a burst's first and last
        refusal than it accepted (it was empty; not a few refusals among accepted sends)."""
        latest = max(refused)
        return len(refused) > 1 and sum(1 for at in self._ok if earliest < at < latest) < len(refused)

    def settled_rate(self, now: float) -> float:
        """The limit as the last settled measurement left it (the ceiling if none): while a
        refusal's observation window is open, the rate the refusal came at (the cut held
        meanwhile is a guard, not a measurement -- another worker taking it would keep it)."""
        if self._refused and now < self._observe_until:
            return min(self.base_rate, self._observed_rate)
        self.rate(now)  # a window that has ended settles first
        return self.base_rate if self._learned is None else self._learned

    def measures_alone(self) -> bool:
        """Whether the provider counts only this bucket's sends against the limit (True
        here; a bucket sharing an integration's rate with other workers says when not)."""
        return True

    def _set(self, rate: float, now: float) -> None:
        self._search = None
        self._learned = None if rate >= self.base_rate else rate
        self._learned_at = now

    # -- steering from outside: one integration's rate shared by several workers -----------
    # (core.sharedbucket: the worker's share of the ceiling, and what another worker learned)

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def set_ceiling(self, rate: float, burst: float, now: float) -> None:
        """Run under a new ceiling from ``now`` (this worker's share of the integration's
        rate): what was measured keeps its proportion to the ceiling, the tokens held
        never exceed the new burst."""
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self._refill(now)
        scale = rate / self.base_rate
        if self._learned is not None:
            self._learned *= scale
        if self._search is not None:
            self._search *= scale
        self._observed_rate *= scale
        self.base_rate = rate
        self.min_rate = min(self.min_rate, rate)
        self.burst = float(burst)
        self._tokens = min(self._tokens, self.burst)

    def adopt(self, rate: float, *, since: float, now: float) -> bool:
        """Slow to ``rate``, a limit measured at ``since`` elsewhere (another worker's
        bucket, in this bucket's terms): it climbs back from ``since`` as a limit measured
        here would. Kept only if it is slower than the current rate; returns whether."""
        self._told = True  # a refusal of this bucket's own after it is the fleet's second
        before = self.rate(now)
        kept = (self._learned, self._learned_at, self._search)
        self._set(max(self.min_rate, rate), since)
        if self.rate(now) >= before:
            self._learned, self._learned_at, self._search = kept
            return False
        self._refill(now)
        return True

    def empty(self, now: float) -> None:
        """Hold no token at ``now``: the bucket starts sending at its rate, without a burst
        (a worker whose share begins while the others keep the provider busy)."""
        self._tokens = 0.0
        self._last = now

    def pause(self, until: float, now: float) -> None:
        """Send nothing before ``until`` (a pause another worker was told to make)."""
        if until > max(now, self._paused_until):
            self._refill(now)
            self._tokens = 0.0
            self._paused_until = until


def buckets_for(
    channels: Mapping[str, ChannelSpec],
    *,
    rates: Mapping[str, float],
    now: float,
    shared: MutableMapping[str, TokenBucket] | None = None,
    warmup: float = 0.0,
    bucket_type: type[TokenBucket] | None = None,
) -> dict[str, TokenBucket]:
    """One bucket per integration of ``channels``, at its channel's rate and burst
    (``rates`` overrides the rate), warming up over ``warmup`` seconds.

    With ``shared`` (the buckets of every run in one process), an integration that
    already has a bucket there keeps it, and a new one is added to it: runs sending
    through one integration at the same time then take from one bucket, together within
    the provider's rate, and what one run learns from a refusal slows the others too.
    ``bucket_type`` makes the new ones (a :class:`~broadcaster.core.sharedbucket.SharedBucket`
    when several workers share the integration's rate).
    """
    pool: MutableMapping[str, TokenBucket] = {} if shared is None else shared
    make = bucket_type or TokenBucket
    for name, spec in channels.items():
        if name not in pool:
            pool[name] = make(rate=rates.get(name, spec.rate_per_second), burst=spec.burst, now=now, warmup=warmup)
    return {name: pool[name] for name in channels}
