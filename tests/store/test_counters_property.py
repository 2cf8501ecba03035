"""Counters equal row counts whatever the sequence of claims, records and late updates."""

from __future__ import annotations

from typing import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broadcaster.core.models import Broadcast, DispatchRow
from broadcaster.core.outcomes import Outcome, Status
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate
from broadcaster.store import SQLStore

CONTACTS = [f"c{i}" for i in range(6)]
REASON = ErrorReason("whatsapp", "131026", "undeliverable")

claims = st.tuples(st.just("claim"), st.lists(st.sampled_from(CONTACTS), max_size=4))
records = st.tuples(
    st.just("record"),
    st.lists(st.tuples(st.sampled_from(CONTACTS), st.sampled_from(list(Status))), min_size=1, max_size=5),
)
updates = st.tuples(
    st.just("update"),
    st.tuples(st.sampled_from(CONTACTS), st.sampled_from(["sent", "delivered", "read", "failed"])),
)


# new_store is a factory: each example gets an empty store of the engine
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(claims, records, updates), max_size=15))
def test_counters_equal_rows(new_store: Callable[[], SQLStore], steps: list[tuple[str, object]]) -> None:
    store = new_store()
    store.create_broadcast(Broadcast("b"))
    first_status: dict[str, Status] = {}
    for kind, payload in steps:
        if kind == "claim":
            store.claim("b", [(cid, "wa") for cid in payload], now=1.0)  # type: ignore[union-attr]
        elif kind == "record":
            rows = [
                DispatchRow("b", cid, status, integration="wa", message_id=f"m-{cid}", recorded_at=2.0)
                for cid, status in payload  # type: ignore[union-attr]
            ]
            store.record(rows)
            for cid, status in payload:  # type: ignore[union-attr]
                first_status.setdefault(cid, status)
        else:
            cid, status = payload  # type: ignore[misc]
            reason = REASON if status == "failed" else None
            store.apply_delivery_update("wa", DeliveryUpdate(f"m-{cid}", status, 3.0, reason))
    counts = store.count_rows("b")
    counters = store.get_broadcast("b").counters
    assert (counts[Outcome.DELIVERED], counts[Outcome.FAILED], counts[Outcome.SKIPPED]) == (
        counters.delivered,
        counters.failed,
        counters.skipped,
    )
    # exactly one final row per recorded contact, whatever was recorded twice
    assert len(first_status) == sum(counts.values())
    failed_expected = sorted(
        cid
        for cid, status in first_status.items()
        if status in (Status.PROVIDER_ERROR, Status.AUTH_FAILED, Status.RATE_LIMIT_EXHAUSTED, Status.OUTCOME_UNKNOWN)
        or (status is Status.ACCEPTED and _failed_later(steps, cid))
    )
    assert failed_expected == list(store.failed_contact_ids("b"))


def _failed_later(steps: list[tuple[str, object]], cid: str) -> bool:
    """Did a 'failed' update for ``cid`` arrive after its ACCEPTED row and before any 'delivered'?"""
    recorded = False
    for kind, payload in steps:
        if kind == "record" and any(c == cid for c, _ in payload):  # type: ignore[union-attr]
            recorded = True
        elif kind == "update" and recorded and payload[0] == cid:  # type: ignore[index]
            if payload[1] in ("delivered", "read"):  # type: ignore[index]
                return False
            if payload[1] == "failed":  # type: ignore[index]
                return True
    return False
