"""The finer statuses and the one total mapping onto the seed's three outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadcaster.core.outcomes import RETRYABLE_KINDS, STATUS_OUTCOME, ErrorKind, Outcome, Status, outcome_of

D, F, S = Outcome.DELIVERED, Outcome.FAILED, Outcome.SKIPPED

# Written out independently of the module, from the seed ("Delivery & Logs"):
# SKIPPED = filtered at dispatch time, nothing sent; FAILED = attempted, provider
# (or network) answered with an error; DELIVERED = the provider accepted.
EXPECTED = {
    "accepted": D,
    "delivered": D,
    "no_reachable_channel": S,
    "channel_mismatch": S,
    "opted_out": S,
    "missing_required_field": S,
    "no_matching_template_route": S,
    "flow_unpublished": S,
    "cancelled": S,
    "dedup_hit": S,
    "provider_error": F,
    "auth_failed": F,
    "rate_limit_exhausted": F,
    "outcome_unknown": F,
}


def test_every_status_is_mapped() -> None:
    assert set(Status) == set(STATUS_OUTCOME)


def test_mapping_matches_the_seed_grouping_exactly() -> None:
    assert EXPECTED == {status.value: outcome for status, outcome in STATUS_OUTCOME.items()}


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.value)
def test_outcome_of(status: Status) -> None:
    assert EXPECTED[status.value] is outcome_of(status)


def test_the_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        STATUS_OUTCOME[Status.CANCELLED] = Outcome.FAILED  # type: ignore[index]


def test_three_outcomes_with_their_seed_names() -> None:
    assert ["DELIVERED", "FAILED", "SKIPPED"] == [o.value for o in Outcome]


def test_every_outcome_has_a_status() -> None:
    assert set(Outcome) == set(STATUS_OUTCOME.values())


def test_retryable_kinds() -> None:
    # Retry helps once the cause is addressed for throttling, broken credentials, blips and
    # unknown fates; it cannot help a blocked contact or a wrong payload.
    assert {ErrorKind.RATE_LIMITED, ErrorKind.INTEGRATION, ErrorKind.TRANSIENT, ErrorKind.UNKNOWN} == set(
        RETRYABLE_KINDS
    )
    assert {ErrorKind.PERMANENT_CONTACT, ErrorKind.PAYLOAD} == set(ErrorKind) - RETRYABLE_KINDS


def test_the_documented_taxonomy_is_the_real_one() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "outcomes.md").read_text(encoding="utf-8")
    documented = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[1] in Outcome.__members__:
            documented[cells[0].strip("`")] = Outcome[cells[1]]
    assert EXPECTED == documented
