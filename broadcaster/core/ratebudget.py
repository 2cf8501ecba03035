"""The rate budget a provider reports on its *successful* replies, kept per integration.

Many APIs say on every reply how many requests are left in the current window and when it
refills (``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset-After: 2``; a plugin reads them
into a :class:`~broadcaster.core.results.RateState`). Told "0 left, reset in 2 s", the
sender should wait 2 s rather than collect a burst of 429s; told "10 left" it should send
no more than 10 before the reset.

A reply's count is already stale when it arrives: the requests that left after the one it
answers are still in flight, and each will take from the same window. So the budget is the
reported count *minus the sends taken since that request left* (the caller passes the
reply's ``sent_at``), and every later send takes one more from it. A reply to an older
request than the freshest report already read says nothing new and is ignored. Once the
window has reset the budget is unknown again (None) until the next report.

Pure: ``now`` is always passed in.
"""

from __future__ import annotations

from bisect import bisect_right

from .results import RateState

__all__ = ["ReportedBudget"]

#: keep the send times of at most this many seconds (replies come back well within it)
_HORIZON = 60.0
#: prune the send times once this many are kept
_PRUNE_AT = 4096


class ReportedBudget:
    """What the provider's rate headers leave of the current window."""

    __slots__ = ("left", "until", "_reported_sent_at", "_sent")

    def __init__(self) -> None:
        #: requests the provider will still take before ``until`` (None: not known)
        self.left: int | None = None
        #: when the provider's current window refills
        self.until = -1e300
        self._reported_sent_at = -1e300
        #: when each recent send left (ascending): how many left after a reply's request
        self._sent: list[float] = []

    def report(self, state: RateState, *, now: float, sent_at: float) -> None:
        """A successful reply to the request sent at ``sent_at`` reported ``state``."""
        if state.remaining is None or state.reset_after is None:
            return  # a count without a reset time (or the reverse) bounds nothing
        if sent_at < self._reported_sent_at:
            return  # a fresher report was read already
        self._reported_sent_at = sent_at
        sent = self._sent
        since = len(sent) - bisect_right(sent, sent_at)
        self.left = state.remaining - since
        self.until = now + state.reset_after

    def spend(self, now: float) -> None:
        """One send left at ``now`` (call for every send once a report was read)."""
        sent = self._sent
        sent.append(now)
        if len(sent) >= _PRUNE_AT:
            del sent[: bisect_right(sent, now - _HORIZON)]
        if self.left is not None:
            if now >= self.until:
                self.left = None  # the window refilled: unknown until the next report
            else:
                self.left -= 1

    def blocked_until(self, now: float) -> float | None:
        """When sending may resume, if the reported window is spent; else None."""
        left = self.left
        if left is None:
            return None
        if now >= self.until:
            self.left = None
            return None
        return self.until if left <= 0 else None
