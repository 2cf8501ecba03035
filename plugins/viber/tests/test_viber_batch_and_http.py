"""broadcast_message batches, and both endpoints through ``httpx.MockTransport``."""

from __future__ import annotations

import json

import broadcaster_viber as viber
import pytest
from viber_fakes import CATALOGUE, INTEGRATION, TOKEN, TOKEN_VALUE, FakeViber, error_body, send

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, RateLimited

PAIRS = [("c1", "userA=="), ("c2", "userB=="), ("c3", "userC==")]


def batch_call(pairs: list[tuple[str, str]] = PAIRS) -> HttpCall:
    call = viber.Viber().build_batch_call(integration=INTEGRATION, recipients=pairs, message=TextMessage("Hi"))
    assert call is not None
    return call


def read_batch(call: HttpCall, reply: HttpReply) -> object:
    return viber.Viber().interpret_batch_reply(integration=INTEGRATION, call=call, reply=reply)


def delivered(chat_id: str) -> Delivered:
    return Delivered(message_id=f"{TOKEN_VALUE}:{chat_id}", confirmed=False)


def test_build_batch_call_is_broadcast_message_in_recipient_order() -> None:
    call = batch_call()
    assert "https://chatapi.viber.com/pa/broadcast_message" == call.url
    assert TOKEN == call.header("X-Viber-Auth-Token")
    assert ("c1", "c2", "c3") == call.recipients
    assert {
        "broadcast_list": ["userA==", "userB==", "userC=="],
        "type": "text",
        "text": "Hi",
        "sender": {"name": "Shop"},
    } == call.json


@pytest.mark.parametrize("size", [0, 301])
def test_a_batch_outside_1_to_300_is_refused(size: int) -> None:
    pairs = [(f"c{i}", f"u{i}") for i in range(size)]
    with pytest.raises(ConfigError, match=f"1 to 300 receivers, not {size}"):
        batch_call(pairs)


def test_300_receivers_fit_in_one_call() -> None:
    assert 300 == len(batch_call([(f"c{i}", f"u{i}") for i in range(300)]).recipients)


def test_failed_list_maps_back_to_contacts_and_the_rest_are_accepted() -> None:
    body = {
        "status": 0,
        "status_message": "ok",
        "message_token": TOKEN_VALUE,
        "failed_list": [
            {"receiver": "userB==", "status": 6, "status_message": "Not subscribed"},
            {"receiver": "stranger==", "status": 5, "status_message": "Not registered"},  # not ours: ignored
            {"receiver": "userC==", "status": 12, "status_message": "tooManyRequests"},
        ],
    }
    assert {
        "c1": delivered("userA=="),
        "c2": CATALOGUE[6],
        "c3": CATALOGUE[12],
    } == read_batch(batch_call(), HttpReply.of_json(200, body))


def test_two_contacts_sharing_a_chat_get_the_same_result() -> None:
    call = batch_call([("c1", "same=="), ("c2", "same==")])
    body = {"status": 0, "message_token": 9, "failed_list": [{"receiver": "same==", "status": 5}]}
    assert {"c1": CATALOGUE[5], "c2": CATALOGUE[5]} == read_batch(call, HttpReply.of_json(200, body))


@pytest.mark.parametrize("status", [2, 19, 20])
def test_a_top_level_error_applies_to_every_recipient(status: int) -> None:
    result = read_batch(batch_call(), HttpReply.of_json(200, error_body(status)))
    assert {"c1": CATALOGUE[status], "c2": CATALOGUE[status], "c3": CATALOGUE[status]} == result


def test_a_refused_broadcast_slows_the_integration_not_one_receiver() -> None:
    # status 12 on send_message is mostly the receiver's 100/h cap (scope contact); on a
    # whole broadcast it is the request rate, 500 per 10 s (scope integration)
    assert CATALOGUE[12] == RateLimited(None, ErrorReason("viber", "12", "too_many_requests"), "contact")
    result = read_batch(batch_call(), HttpReply.of_json(200, error_body(12)))
    refused = RateLimited(None, ErrorReason("viber", "12", "too_many_requests"), "integration")
    assert {"c1": refused, "c2": refused, "c3": refused} == result
    # a receiver listed in failed_list with 12 keeps the receiver's scope
    body = {"status": 0, "message_token": 9, "failed_list": [{"receiver": "userB==", "status": 12}]}
    assert read_batch(batch_call(), HttpReply.of_json(200, body))["c2"] == CATALOGUE[12]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            HttpReply(status=200, body=b"{"),
            Failed(ErrorKind.UNKNOWN, ErrorReason("viber", "200", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply.of_json(200, {"status": 0, "message_token": 1, "failed_list": "userA=="}),
            Failed(ErrorKind.UNKNOWN, ErrorReason("viber", "200", "malformed_reply: failed_list is not a list")),
        ),
        (
            HttpReply.of_json(200, {"status": 0, "failed_list": []}),
            Failed(ErrorKind.UNKNOWN, ErrorReason("viber", "200", "malformed_reply: status 0 without a message_token")),
        ),
        (HttpReply(status=503, body=b""), Failed(ErrorKind.TRANSIENT, ErrorReason("viber", "5xx", "server_error"))),
    ],
)
def test_an_unreadable_batch_reply_is_the_same_failure_for_everyone(reply: HttpReply, expected: Failed) -> None:
    assert {"c1": expected, "c2": expected, "c3": expected} == read_batch(batch_call(), reply)


def test_garbage_failed_list_entries_are_skipped() -> None:
    body = {
        "status": 0,
        "message_token": TOKEN_VALUE,
        "failed_list": [
            None,
            "userA==",
            {"receiver": "userA=="},
            {"receiver": "userB==", "status": True},
            {"receiver": ["userC=="], "status": 6},
        ],
    }
    expected = {"c1": delivered("userA=="), "c2": delivered("userB=="), "c3": delivered("userC==")}
    assert expected == read_batch(batch_call(), HttpReply.of_json(200, body))


# -- through httpx.MockTransport ----------------------------------------------------------


def test_send_message_end_to_end() -> None:
    server = FakeViber()
    call = viber.Viber().build_call(integration=INTEGRATION, chat_id="userA==", message=TextMessage("Hi"))
    assert call is not None
    reply = send(call, server)
    result = viber.Viber().interpret_reply(integration=INTEGRATION, call=call, reply=reply)
    assert Delivered(message_id=str(TOKEN_VALUE), confirmed=False) == result
    [request] = server.requests
    assert "/pa/send_message" == request.url.path
    assert {"receiver": "userA==", "type": "text", "text": "Hi", "sender": {"name": "Shop"}} == json.loads(
        request.content
    )


@pytest.mark.parametrize("status", sorted(CATALOGUE))
def test_every_status_through_the_transport(status: int) -> None:
    call = viber.Viber().build_call(integration=INTEGRATION, chat_id="victim", message=TextMessage("Hi"))
    assert call is not None
    reply = send(call, FakeViber({"victim": status}))
    assert CATALOGUE[status] == viber.Viber().interpret_reply(integration=INTEGRATION, call=call, reply=reply)


def test_a_broadcast_end_to_end_maps_failures_to_contacts() -> None:
    server = FakeViber({"userB==": 6, "userC==": 11})
    call = batch_call()
    result = read_batch(call, send(call, server))
    assert {"c1": delivered("userA=="), "c2": CATALOGUE[6], "c3": CATALOGUE[11]} == result
    assert "/pa/broadcast_message" == server.requests[0].url.path


def test_a_broadcast_without_permission_fails_everyone_as_configuration() -> None:
    call = batch_call()
    result = read_batch(call, send(call, FakeViber(whole=20)))
    assert {"c1": CATALOGUE[20], "c2": CATALOGUE[20], "c3": CATALOGUE[20]} == result
