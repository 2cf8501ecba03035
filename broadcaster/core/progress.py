"""Is a SENDING broadcast still moving? (An operator's "is it stuck?")

A run writes a final row every few moments while it sends; even a provider outage fails
contacts (rows) within minutes, since every batch's backoff budget runs out. So a SENDING
broadcast with no new row for much longer than that has nobody sending it — most often
no worker runs (`broadcaster run` was stopped) — and the operator should be told, as
GOV.UK Notify flags jobs stuck "in progress" after half an hour.
"""

from __future__ import annotations

from .lifecycle import State
from .models import Broadcast

__all__ = ["STALLED_AFTER", "stalled_for"]

#: no new row for this long means stalled: longer than a full backoff budget of one batch
#: (8 rounds capped at 300 s, about 20 minutes) plus the time its requests take
STALLED_AFTER = 30 * 60.0


def stalled_for(
    broadcast: Broadcast, last_recorded_at: float | None, now: float, *, after: float = STALLED_AFTER
) -> float | None:
    """How long a SENDING broadcast has gone without a new row (since it started, before
    its first), when that is more than ``after``; None otherwise."""
    if broadcast.state is not State.SENDING:
        return None
    since = last_recorded_at if last_recorded_at is not None else broadcast.counters.started_at
    if since is None:
        return None
    quiet = now - since
    return quiet if quiet > after else None
