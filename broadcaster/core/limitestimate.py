"""What one burst of refusals says about a provider's real rate limit.

A provider that limits a rate keeps a bucket of its own (Telegram, most HTTP APIs): it
refuses a request only when that bucket is empty. So between two refused sends of one
burst — the first one and the last one, by the time they *left* — the provider was
saturated the whole time, and what it accepted in between is exactly what it refilled in
that span, give or take the fraction of a token it held at either end:

    accepted between them = limit x span + (tokens at the first) - (tokens at the last),

both terms in [0, 1). So ``accepted / span`` is the limit to within one send over the span,
whatever rate the sends left at, however the replies were reordered on the way back, and
whatever the provider's burst is (it was spent before the first refusal). That is the rate
the provider *accepted*, not the one it was asked for: the configured rate plays no part.

The caller keeps the send times (``sent_at``) of recent accepted sends and of the refused
ones of the burst. A burst with a single refusal, or none accepted inside its span, measures
nothing (see :func:`saturated_rate`).

Pure: no clock, no state; the same times give the same answer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterable, Sequence

import attrs

__all__ = ["Saturation", "saturated_rate"]

#: bound the limit with at most this many of a burst's sends (pairs grow as its square)
_PAIRS = 256


@attrs.frozen
class Saturation:
    """The provider's limit as one burst of refusals measured it."""

    #: accepted sends per second between the first and last refused send
    rate: float
    #: how many were accepted in that span (the estimate is within 1 / span of the limit)
    accepted: int
    #: seconds between the first and last refused send
    span: float
    #: the least and most limit a token bucket answering these sends could have
    low: float = 0.0
    high: float = float("inf")

    @property
    def estimate(self) -> float:
        """The limit to run at: the least a token bucket answering these sends could have
        (it surely takes that much), or, where no token bucket could answer them so (a
        window counter, arrival jitter), the accepted rate over the span."""
        return self.low if 0 < self.low <= self.high else self.rate


def saturated_rate(refused: Sequence[float], accepted: Iterable[float]) -> Saturation | None:
    """The limit measured from the send times of one burst's ``refused`` sends and of recent
    ``accepted`` ones (any order; those before the first refusal are ignored). None when
    the burst says nothing about a rate: fewer than two refusals (no span), or nothing
    accepted inside the span (a storm, or a limit far below what a burst can resolve)."""
    if len(refused) < 2:
        return None
    first, last = min(refused), max(refused)
    span = last - first
    if span <= 0:
        return None
    after = sorted([(at, True) for at in accepted if at > first] + [(at, False) for at in refused])
    inside = sum(1 for at, ok in after if ok and at < last)
    if inside == 0:
        return None
    low, high = _bounds(after[-_PAIRS:])
    return Saturation(inside / span, inside, span, low, high)


def _bounds(events: list[tuple[float, bool]]) -> tuple[float, float]:
    """The least and most limit a token bucket could have that answers ``events`` (send
    time, accepted), in time order, starting from a refusal. Between a refused send x and
    a later accepted one y the provider refilled more than the n accepted between them
    (it held under one token at x, at least one at y): limit > n / (y - x). Between any send
    x after the first refusal and a later refused y it refilled less than n + 1 (it held at
    least none after x, under one at y): limit < (n + 1) / (y - x).

    Sends that left at the same instant reached the provider in an order these times do
    not tell (a loop that let several go at once; a connection that opened for several):
    each bound counts them the way that keeps it true -- the lower one without the
    accepted sends at x's or y's instant, the upper one with them."""
    low, high = 0.0, float("inf")
    count = len(events)
    times = [at for at, _ in events]
    # accepted[i]: accepted sends among events[:i]
    accepted = [0] * (count + 1)
    for i, (_, ok) in enumerate(events):
        accepted[i + 1] = accepted[i] + ok
    # the first event at each event's instant, and the first after it
    first_at = [bisect_left(times, at) for at in times]
    after = [bisect_right(times, at) for at in times]
    for i, (x, x_ok) in enumerate(events):
        for j in range(after[i], count):
            y, y_ok = events[j]
            if y_ok:
                if not x_ok:
                    # accepted strictly between the two instants
                    between = accepted[first_at[j]] - accepted[after[i]]
                    low = max(low, between / (y - x))
            else:
                # accepted from x's instant to y's, x itself aside
                between = accepted[after[j]] - accepted[first_at[i]] - x_ok
                high = min(high, (between + 1) / (y - x))
    return low, high
