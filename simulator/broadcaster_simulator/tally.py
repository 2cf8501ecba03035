"""Counting a run as it happens: rows and answers go into counters, never into lists.

The only per-contact memory kept is the index of each FAILED contact (an ``array`` of
ints, a few bytes each) when a retry chain will need them.

Rows are counted by *shape* — (status, integration, reason, kind, fallback) — keyed by
the identity of the status, reason and kind objects: a run has a handful of shapes, and
hashing enum members or reasons by value runs Python code for every row. The per-status,
per-reason and per-integration counters are derived from the shapes when read.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Iterable, Sequence

from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import RETRYABLE_KINDS, STATUS_OUTCOME, Outcome, Status
from broadcaster.core.reasons import ErrorReason

from .audience import contact_index
from .failures import Verdict

__all__ = ["RunTally", "Timeline"]

_D, _F, _S = Outcome.DELIVERED, Outcome.FAILED, Outcome.SKIPPED
_ACCEPTED = Verdict.ACCEPTED
_THROTTLED = Verdict.THROTTLED


class Timeline:
    """Per simulated minute since the scenario's start: sends (messages), 429 answers, FAILED and DELIVERED rows."""

    __slots__ = ("start", "sends", "throttled", "failed", "delivered", "_from", "_to", "_minute")

    def __init__(self, start: float) -> None:
        self.start = start
        self.sends: list[int] = []
        self.throttled: list[int] = []
        self.failed: list[int] = []
        self.delivered: list[int] = []
        # the minute last asked for, and the times it spans (virtual time mostly moves forward)
        self._from = self._to = start
        self._minute = -1

    def minute(self, now: float) -> int:
        if self._from <= now < self._to:
            return self._minute
        m = int((now - self.start) // 60)
        if m >= len(self.sends):
            grow = m + 1 - len(self.sends)
            for series in (self.sends, self.throttled, self.failed, self.delivered):
                series.extend([0] * grow)
        self._minute = m
        self._from = self.start + 60 * m
        self._to = self.start + 60 * (m + 1)
        if not self._from <= now < self._to:
            self._to = self._from  # float edge: do not cache a span that misses ``now``
        return m

    def __len__(self) -> int:
        return len(self.sends)


class _Shape:
    """One kind of row and how many there were."""

    __slots__ = ("status", "integration", "reason", "kind", "used_fallback", "outcome", "count")

    def __init__(self, row: DispatchRow) -> None:
        self.status = row.status
        self.integration = row.integration
        self.reason = row.error_reason
        self.kind = row.error_kind
        self.used_fallback = row.used_fallback
        self.outcome = STATUS_OUTCOME[row.status]
        self.count = 0


class RunTally:
    """What one broadcast of the chain came to."""

    def __init__(self, *, attempt: int, broadcast_id: str, timeline: Timeline, keep_failed: bool) -> None:
        self.attempt = attempt
        self.broadcast_id = broadcast_id
        self.timeline = timeline
        self.targeted = 0
        self.requests = 0
        self.accepted_answers = 0
        self._other_answers: Counter[Verdict] = Counter()
        self.started_at = 0.0
        self.finished_at = 0.0
        self.rate_limit_retries = 0
        self.rerouted = 0
        self.exhausted_batches = 0
        self.failed_indexes: array[int] | None = array("q") if keep_failed else None
        # (id(status), integration, id(reason), id(kind), used_fallback) -> shape; the shape
        # holds the objects, so their ids stay theirs for the tally's lifetime
        self._shapes: dict[tuple[int, str | None, int, int, bool], _Shape] = {}

    # -- feeding -------------------------------------------------------------------------------

    def answered(self, verdict: Verdict, now: float) -> None:
        timeline = self.timeline
        # the cached minute tested here, not through a call: this runs once per request
        m = timeline._minute if timeline._from <= now < timeline._to else timeline.minute(now)
        timeline.sends[m] += 1
        self.requests += 1
        if verdict is _ACCEPTED:
            self.accepted_answers += 1
            return
        if verdict is _THROTTLED:
            timeline.throttled[m] += 1
        self._other_answers[verdict] += 1

    def answered_batch(self, verdict: Verdict | None, verdicts: Sequence[Verdict], sends: int, now: float) -> None:
        """One request for ``sends`` recipients, answered as a whole (``verdict``) or per
        recipient (``verdicts``): one request, one answer, ``sends`` messages."""
        timeline = self.timeline
        m = timeline.minute(now)
        timeline.sends[m] += sends
        self.requests += 1
        if verdict is not None:
            if verdict is _THROTTLED:
                timeline.throttled[m] += 1
            self._other_answers[verdict] += 1
            return
        for each in verdicts:
            if each is _ACCEPTED:
                self.accepted_answers += 1
            else:
                self._other_answers[each] += 1

    def rows(self, rows: Iterable[DispatchRow]) -> None:
        timeline = self.timeline
        shapes = self._shapes
        for row in rows:
            key = (id(row.status), row.integration, id(row.error_reason), id(row.error_kind), row.used_fallback)
            shape = shapes.get(key)
            if shape is None:
                shape = shapes[key] = _Shape(row)
            shape.count += 1
            outcome = shape.outcome
            if outcome is _D:
                at = row.recorded_at
                m = timeline._minute if timeline._from <= at < timeline._to else timeline.minute(at)
                timeline.delivered[m] += 1
            elif outcome is _F:
                timeline.failed[timeline.minute(row.recorded_at)] += 1
                if self.failed_indexes is not None:
                    self.failed_indexes.append(contact_index(row.contact_id))

    # -- reading -------------------------------------------------------------------------------

    def _count(self, outcome: Outcome) -> int:
        return sum(s.count for s in self._shapes.values() if s.outcome is outcome)

    @property
    def delivered(self) -> int:
        return self._count(_D)

    @property
    def failed(self) -> int:
        return self._count(_F)

    @property
    def skipped(self) -> int:
        return self._count(_S)

    @property
    def failed_retryable(self) -> int:
        """FAILED rows an operator's Retry may clear (not blocked / unregistered / payload)."""
        return sum(s.count for s in self._shapes.values() if s.outcome is _F and s.kind in RETRYABLE_KINDS)

    @property
    def statuses(self) -> Counter[Status]:
        out: Counter[Status] = Counter()
        for s in self._shapes.values():
            out[s.status] += s.count
        return out

    @property
    def reasons(self) -> Counter[ErrorReason | None]:
        """FAILED rows per error reason."""
        out: Counter[ErrorReason | None] = Counter()
        for s in self._shapes.values():
            if s.outcome is _F:
                out[s.reason] += s.count
        return out

    @property
    def integrations(self) -> Counter[tuple[str, Outcome]]:
        out: Counter[tuple[str, Outcome]] = Counter()
        for s in self._shapes.values():
            out[(s.integration or "-", s.outcome)] += s.count
        return out

    @property
    def fallbacks_sent(self) -> int:
        return sum(s.count for s in self._shapes.values() if s.used_fallback and s.outcome is not _S)

    @property
    def fallbacks_delivered(self) -> int:
        return sum(s.count for s in self._shapes.values() if s.used_fallback and s.outcome is _D)

    @property
    def answers(self) -> Counter[Verdict]:
        out = Counter(self._other_answers)
        if self.accepted_answers:
            out[_ACCEPTED] = self.accepted_answers
        return out

    @property
    def recorded(self) -> int:
        return self.delivered + self.failed + self.skipped

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at
