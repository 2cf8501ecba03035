"""Counting a run as it happens: rows and answers go into counters, never into lists.

The only per-contact memory kept is the index of each FAILED contact (an ``array`` of
ints, a few bytes each) when a retry chain will need them.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Iterable

from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import RETRYABLE_KINDS, STATUS_OUTCOME, Outcome, Status

from .audience import contact_index
from .failures import Verdict

__all__ = ["RunTally", "Timeline"]

_D, _F, _S = Outcome.DELIVERED, Outcome.FAILED, Outcome.SKIPPED


class Timeline:
    """Per simulated minute since the scenario's start: requests, 429s, FAILED and DELIVERED rows."""

    __slots__ = ("start", "sends", "throttled", "failed", "delivered")

    def __init__(self, start: float) -> None:
        self.start = start
        self.sends: list[int] = []
        self.throttled: list[int] = []
        self.failed: list[int] = []
        self.delivered: list[int] = []

    def minute(self, now: float) -> int:
        m = int((now - self.start) // 60)
        if m >= len(self.sends):
            grow = m + 1 - len(self.sends)
            for series in (self.sends, self.throttled, self.failed, self.delivered):
                series.extend([0] * grow)
        return m

    def __len__(self) -> int:
        return len(self.sends)


class RunTally:
    """What one broadcast of the chain came to."""

    def __init__(self, *, attempt: int, broadcast_id: str, timeline: Timeline, keep_failed: bool) -> None:
        self.attempt = attempt
        self.broadcast_id = broadcast_id
        self.timeline = timeline
        self.targeted = 0
        self.delivered = 0
        self.failed = 0
        self.skipped = 0
        #: FAILED rows an operator's Retry may clear (not blocked / unregistered / payload)
        self.failed_retryable = 0
        self.statuses: Counter[Status] = Counter()
        self.reasons: Counter[object] = Counter()
        self.integrations: Counter[tuple[str, Outcome]] = Counter()
        self.fallbacks_sent = 0
        self.fallbacks_delivered = 0
        self.requests = 0
        self.answers: Counter[Verdict] = Counter()
        self.started_at = 0.0
        self.finished_at = 0.0
        self.rate_limit_retries = 0
        self.rerouted = 0
        self.exhausted_batches = 0
        self.failed_indexes: array[int] | None = array("q") if keep_failed else None

    # -- feeding -------------------------------------------------------------------------------

    def answered(self, verdict: Verdict, now: float) -> None:
        timeline = self.timeline
        m = timeline.minute(now)
        timeline.sends[m] += 1
        if verdict is Verdict.THROTTLED:
            timeline.throttled[m] += 1
        self.requests += 1
        self.answers[verdict] += 1

    def rows(self, rows: Iterable[DispatchRow]) -> None:
        timeline = self.timeline
        statuses = self.statuses
        for row in rows:
            status = row.status
            statuses[status] += 1
            outcome = STATUS_OUTCOME[status]
            self.integrations[(row.integration or "-", outcome)] += 1
            if outcome is _D:
                self.delivered += 1
                timeline.delivered[timeline.minute(row.recorded_at)] += 1
                if row.used_fallback:
                    self.fallbacks_sent += 1
                    self.fallbacks_delivered += 1
            elif outcome is _F:
                self.failed += 1
                timeline.failed[timeline.minute(row.recorded_at)] += 1
                self.reasons[row.error_reason] += 1
                if row.used_fallback:
                    self.fallbacks_sent += 1
                if row.error_kind in RETRYABLE_KINDS:
                    self.failed_retryable += 1
                if self.failed_indexes is not None:
                    self.failed_indexes.append(contact_index(row.contact_id))
            else:
                self.skipped += 1

    # -- reading -------------------------------------------------------------------------------

    @property
    def recorded(self) -> int:
        return self.delivered + self.failed + self.skipped

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at
