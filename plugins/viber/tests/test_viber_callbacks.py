"""Viber callbacks: the content signature and delivered / seen / failed events."""

from __future__ import annotations

import hashlib
import hmac
import json

import broadcaster_viber as viber
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from viber_fakes import INTEGRATION, TOKEN

from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate


def sign(body: bytes, key: str = TOKEN) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: dict[str, str], body: bytes) -> bool | None:
    return viber.Viber().verify_callback(integration=INTEGRATION, headers=headers, body=body)


def parse(payload: object) -> object:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return viber.Viber().parse_callback(integration=INTEGRATION, headers={}, body=body)


def test_a_correct_signature_on_the_raw_bytes_is_accepted() -> None:
    body = '{"event":"message","message":{"text":"привет"}}'.encode()
    assert True is verify({"X-Viber-Content-Signature": sign(body)}, body)
    assert True is verify({"x-viber-content-signature": sign(body).upper()}, body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Viber-Content-Signature": ""},
        {"X-Viber-Content-Signature": sign(b"another body")},
        {"X-Viber-Content-Signature": sign(b"{}", key="other-token")},
        {"X-Viber-Content-Signature": "ünïcødé"},
        {"X-Hub-Signature-256": "sha256=" + sign(b"{}")},
    ],
)
def test_anything_else_is_refused(headers: dict[str, str]) -> None:
    assert False is verify(headers, b"{}")


@settings(max_examples=50)
@given(headers=st.dictionaries(st.text(max_size=30), st.text(max_size=80), max_size=4), body=st.binary(max_size=200))
def test_verify_never_raises_and_refuses_forgeries(headers: dict[str, str], body: bytes) -> None:
    assert False is verify(headers, body)


def both_ids(status: str, **extra: object) -> list[DeliveryUpdate]:
    return [
        DeliveryUpdate(message_id="4912661846655238145", status=status, at=1457764197.627, **extra),  # type: ignore[arg-type]
        DeliveryUpdate(
            message_id="4912661846655238145:01234567890A=",
            status=status,
            at=1457764197.627,
            **extra,  # type: ignore[arg-type]
        ),
    ]


EVENT = {"timestamp": 1457764197627, "message_token": 4912661846655238145, "user_id": "01234567890A="}


def test_delivered_is_a_delivered_update_for_the_send_and_for_the_broadcast_row() -> None:
    assert both_ids("delivered") == parse({"event": "delivered", **EVENT})


def test_seen_is_a_read_update() -> None:
    assert both_ids("read") == parse({"event": "seen", **EVENT})


def test_failed_is_a_late_failure_with_the_description() -> None:
    reason = ErrorReason("viber", "delivery_failed", "keyboard validation failed")
    expected = both_ids("failed", reason=reason, kind=ErrorKind.PAYLOAD)
    assert expected == parse({"event": "failed", **EVENT, "desc": "keyboard\nvalidation failed"})


def test_failed_without_a_description_still_has_a_reason() -> None:
    [update, _] = parse({"event": "failed", **EVENT})  # type: ignore[misc]
    assert ErrorReason("viber", "delivery_failed", "no_description") == update.reason


def test_without_a_user_id_only_the_token_is_named() -> None:
    event = {"event": "delivered", "timestamp": 1000, "message_token": "77"}
    assert [DeliveryUpdate(message_id="77", status="delivered", at=1.0)] == parse(event)


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "subscribed", "timestamp": 1, "user": {"id": "u"}},
        {"event": "unsubscribed", "timestamp": 1, "user_id": "u"},
        {"event": "conversation_started", "timestamp": 1, "message_token": 5, "user": {"id": "u"}},
        {"event": "message", "timestamp": 1, "message_token": 5, "sender": {"id": "u"}},
        {"event": "webhook", "timestamp": 1, "message_token": 5},
        {"event": "delivered", "timestamp": 1},
        {"event": "delivered", "message_token": 5},
        {"event": "delivered", "timestamp": "yesterday", "message_token": 5},
        {"event": "delivered", "timestamp": -1, "message_token": 5},
        {"event": ["delivered"], "timestamp": 1, "message_token": 5},
        {"event": "delivered", "timestamp": 1, "message_token": True},
        [{"event": "delivered", "timestamp": 1, "message_token": 5}],
        b"\xff\xfe",
        b"",
    ],
)
def test_events_that_change_no_row_parse_to_nothing(payload: object) -> None:
    assert [] == parse(payload)


@settings(max_examples=50)
@given(body=st.binary(max_size=300))
def test_garbage_never_raises(body: bytes) -> None:
    assert [] == parse(body)


@settings(max_examples=50)
@given(
    event=st.fixed_dictionaries(
        {},
        optional={
            "event": st.one_of(st.sampled_from(["delivered", "seen", "failed"]), st.text(max_size=5), st.integers()),
            "timestamp": st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none()),
            "message_token": st.one_of(
                st.integers(), st.text(max_size=10), st.none(), st.lists(st.integers(), max_size=2)
            ),
            "user_id": st.one_of(st.text(max_size=10), st.integers(), st.none()),
            "desc": st.one_of(st.text(max_size=300), st.integers()),
        },
    )
)
def test_event_shaped_junk_never_raises(event: dict[str, object]) -> None:
    updates = parse(event)
    assert isinstance(updates, list)
    assert all(update.status in ("delivered", "read", "failed") for update in updates)
