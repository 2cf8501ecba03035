"""Webhook signature checks and the (few) webhook events that touch a dispatch row."""

from __future__ import annotations

import hashlib
import hmac
import json

import broadcaster_instagram as ig
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from instagram_fakes import APP_SECRET, INTEGRATION

from broadcaster.core.errors import ConfigError
from broadcaster.core.models import Integration
from broadcaster.core.results import DeliveryUpdate


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: dict[str, str], body: bytes) -> bool | None:
    return ig.Instagram().verify_callback(integration=INTEGRATION, headers=headers, body=body)


def parse(body: bytes) -> object:
    return ig.Instagram().parse_callback(integration=INTEGRATION, headers={}, body=body)


SEEN = {
    "object": "instagram",
    "entry": [
        {
            "id": "17841400000000999",
            "time": 1700000001234,
            "messaging": [
                {
                    "sender": {"id": "17841400000000001"},
                    "recipient": {"id": "17841400000000999"},
                    "timestamp": 1700000000500,
                    "read": {"mid": "aWdfZAG1faXRlbToxOklH"},
                }
            ],
        }
    ],
}


# -- signatures ------------------------------------------------------------------------


def test_a_correct_signature_on_the_raw_bytes_is_accepted() -> None:
    # non-ASCII text: signing re-serialised JSON instead of the raw bytes would fail here
    body = '{"object":"instagram","entry":[{"messaging":[{"message":{"text":"héllo ✓"}}]}]}'.encode()
    assert True is verify({"X-Hub-Signature-256": sign(body)}, body)
    assert True is verify({"x-hub-signature-256": sign(body)}, body)  # header names are case-insensitive


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": ""},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": sign(b"other body")},
        {"X-Hub-Signature-256": sign(b"{}", secret="wrong secret")},
        {"X-Hub-Signature-256": sign(b"{}")[len("sha256=") :]},  # no prefix
        {"X-Hub-Signature": "sha1=" + hmac.new(APP_SECRET.encode(), b"{}", hashlib.sha1).hexdigest()},
        {"X-Hub-Signature-256": "sha256=ünïcødé"},
    ],
)
def test_anything_else_is_refused(headers: dict[str, str]) -> None:
    assert False is verify(headers, b"{}")


def test_without_an_app_secret_checking_is_a_configuration_error() -> None:
    bare = Integration(name="ig-main", provider="instagram", settings={"access_token": "t"})
    with pytest.raises(ConfigError, match="'ig-main' \\(instagram\\) cannot check webhook signatures: no 'app_secret'"):
        ig.Instagram().verify_callback(integration=bare, headers={}, body=b"{}")


@settings(max_examples=50)
@given(headers=st.dictionaries(st.text(max_size=30), st.text(max_size=80), max_size=4), body=st.binary(max_size=200))
def test_verify_never_raises_and_refuses_forgeries(headers: dict[str, str], body: bytes) -> None:
    assert False is verify(headers, body)


# -- parsing ---------------------------------------------------------------------------


def test_a_seen_event_is_a_read_update_keyed_on_the_mid() -> None:
    assert [DeliveryUpdate(message_id="aWdfZAG1faXRlbToxOklH", status="read", at=1700000000.5)] == parse(
        json.dumps(SEEN).encode()
    )


@pytest.mark.parametrize(
    "payload",
    [
        # an inbound message from the user: no row of ours
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": 1, "message": {"mid": "m", "text": "hi"}}]}]},
        # the echo of our own send: we already recorded it at send time
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": 1, "message": {"mid": "m", "is_echo": True}}]}]},
        # Messenger-style read receipt: a watermark, not a message id
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": 1, "read": {"watermark": 1700000000000}}]}]},
        # not Instagram at all
        {**SEEN, "object": "page"},
        {"object": "instagram"},
        {"object": "instagram", "entry": "nope"},
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": "soon", "read": {"mid": "m"}}]}]},
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": -5, "read": {"mid": "m"}}]}]},
        {"object": "instagram", "entry": [{"messaging": [{"timestamp": 1, "read": {"mid": ""}}]}]},
        [SEEN],
    ],
)
def test_events_that_change_no_row_parse_to_nothing(payload: object) -> None:
    assert [] == parse(json.dumps(payload).encode())


@settings(max_examples=50)
@given(body=st.binary(max_size=300))
def test_garbage_parses_to_nothing_and_never_raises(body: bytes) -> None:
    assert [] == parse(body)
