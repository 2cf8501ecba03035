"""Domain-model values: counters and their derived rates, audiences, chats, HTTP values."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.http import REDACTED, HttpCall, HttpReply, redact
from broadcaster.core.lifecycle import State
from broadcaster.core.models import Audience, Broadcast, Chat, Contact, Counters, DispatchRow, Mode
from broadcaster.core.outcomes import Outcome, Status

# -- counters ------------------------------------------------------------------------------


def test_rates_exactly_as_the_seed_defines_them() -> None:
    counters = Counters(audience_size_estimate=120, audience_size_actual=100, delivered=60, failed=15, skipped=25)
    assert 60 / 100 == counters.delivery_rate
    assert (15 + 25) / 100 == counters.drop_rate


def test_rates_use_the_actual_size_not_the_estimate() -> None:
    counters = Counters(audience_size_estimate=1000, audience_size_actual=10, delivered=10)
    assert 1.0 == counters.delivery_rate
    assert 0.0 == counters.drop_rate


@pytest.mark.parametrize("actual", [None, 0])
def test_rates_are_none_before_or_without_an_audience(actual: int | None) -> None:
    counters = Counters(audience_size_estimate=50, audience_size_actual=actual)
    assert (None, None) == (counters.delivery_rate, counters.drop_rate)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_rates_sum_to_one_when_every_contact_has_a_row(delivered: int, failed: int, skipped: int) -> None:
    actual = delivered + failed + skipped
    counters = Counters(audience_size_actual=actual, delivered=delivered, failed=failed, skipped=skipped)
    assert actual == counters.recorded
    if actual == 0:
        assert counters.delivery_rate is None
    else:
        assert counters.delivery_rate is not None and counters.drop_rate is not None
        assert pytest.approx(1.0) == counters.delivery_rate + counters.drop_rate


def test_count_adds_to_the_right_counter_and_returns_a_new_value() -> None:
    start = Counters(audience_size_actual=5)
    after = start.count(Outcome.DELIVERED).count(Outcome.FAILED, 2).count(Outcome.SKIPPED, 3)
    assert Counters(audience_size_actual=5, delivered=1, failed=2, skipped=3) == after
    assert Counters(audience_size_actual=5) == start


def test_duration() -> None:
    assert Counters().duration is None
    assert Counters(started_at=100.0).duration is None
    assert 42.5 == Counters(started_at=100.0, finished_at=142.5).duration


# -- audience --------------------------------------------------------------------------------


def test_audience_is_a_filter_or_ids() -> None:
    assert not Audience(filter="city = 'Oslo'").is_explicit
    assert Audience(contact_ids=("c1",)).is_explicit
    # an empty filter means "everyone"; an empty list is still an explicit list
    assert not Audience(filter="").is_explicit
    assert Audience(contact_ids=()).is_explicit


@pytest.mark.parametrize("kwargs", [{}, {"filter": "a = 1", "contact_ids": ("c1",)}], ids=["neither", "both"])
def test_audience_needs_exactly_one(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="either a filter or an explicit contact-ID list, exactly one"):
        Audience(**kwargs)  # type: ignore[arg-type]


# -- contacts, broadcasts, rows ------------------------------------------------------------------


def test_chat_on_finds_the_chat_for_an_integration() -> None:
    contact = Contact("c1", chats=[Chat("tg", "100"), Chat("wa", "+47", last_inbound_at=5.0), Chat("tg", "200")])
    assert Chat("wa", "+47", 5.0) == contact.chat_on("wa")
    assert Chat("tg", "100") == contact.chat_on("tg")  # the first one wins
    assert contact.chat_on("viber") is None
    assert isinstance(contact.chats, tuple)


def test_values_are_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Counters().delivered = 3  # type: ignore[misc]


def test_broadcast_defaults() -> None:
    broadcast = Broadcast(id="b1", routes=[], channels=["wa"])
    assert (Mode.FLOW, State.DRAFT, None, False) == (
        broadcast.mode,
        broadcast.state,
        broadcast.retry_of,
        broadcast.cancel_requested,
    )
    assert ("wa",) == broadcast.channels
    assert Audience(filter="") == broadcast.audience


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(Status.ACCEPTED, Outcome.DELIVERED), (Status.DEDUP_HIT, Outcome.SKIPPED), (Status.AUTH_FAILED, Outcome.FAILED)],
)
def test_row_outcome_follows_its_status(status: Status, outcome: Outcome) -> None:
    assert outcome is DispatchRow("b1", "c1", status).outcome


# -- HTTP values ---------------------------------------------------------------------------------


def test_header_lookup_is_case_insensitive() -> None:
    reply = HttpReply(429, headers={"Retry-After": "7", "Content-Type": "application/json"})
    assert "7" == reply.header("retry-after") == reply.header("RETRY-AFTER")
    assert reply.header("x-missing") is None
    call = HttpCall("POST", "https://api.example/send", headers=[("Authorization", "Bearer t")])
    assert "Bearer t" == call.header("authorization")
    assert (("Authorization", "Bearer t"),) == call.headers


def test_headers_keep_their_first_match() -> None:
    reply = HttpReply(200, headers=[("X-A", "1"), ("x-a", "2")])
    assert "1" == reply.header("x-a")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (None, "empty body")),
        (b"\xff\xfe\xfd", (None, "body is not UTF-8")),
        (b"<html>Bad Gateway</html>", (None, "body is not valid JSON")),
        (b'{"ok": false, "error_code": 403}', ({"ok": False, "error_code": 403}, None)),
        (b"[1, 2]", ([1, 2], None)),
    ],
)
def test_json_body(body: bytes, expected: tuple[object, str | None]) -> None:
    assert expected == HttpReply(200, body=body).json_body()


def test_of_json() -> None:
    reply = HttpReply.of_json(200, {"ok": True}, headers={"X-Request-Id": "r1"})
    assert ({"ok": True}, None) == reply.json_body()
    assert "application/json" == reply.header("Content-Type")
    assert "r1" == reply.header("x-request-id")


def test_redact_longest_first() -> None:
    # "bot123" contains "123": redacting the short one first would leave "bot***".
    assert f"GET https://x/{REDACTED}/send" == redact("GET https://x/bot123/send", ["123", "bot123"])
    assert "a *** b ***" == redact("a s1 b s1", ["s1"])
    assert "nothing to hide" == redact("nothing to hide", ["", "absent"])


def test_call_redacted_description_hides_secrets() -> None:
    call = HttpCall("POST", "https://api.telegram.org/botSECRET/sendMessage", secrets=["SECRET"])
    assert "POST https://api.telegram.org/bot***/sendMessage" == call.redacted()
    assert "secrets=" not in repr(call)  # the list of secrets itself is never shown


def test_http_call_repr_never_shows_its_secrets():
    from broadcaster.core.http import HttpCall

    call = HttpCall(
        "POST",
        "https://api.telegram.org/bot123:SECRET/sendMessage",
        headers={"X-Viber-Auth-Token": "VTOKEN"},
        json={"chat_id": 1},
        secrets=("123:SECRET", "VTOKEN"),
    )
    shown = repr(call)
    assert "SECRET" not in shown and "VTOKEN" not in shown
    assert "https://api.telegram.org/bot***/sendMessage" in shown
