"""The Instagram codec's pure hooks: request building and reply reading."""

from __future__ import annotations

import json

import broadcaster_instagram as ig
import pytest
from instagram_fakes import CATALOGUE, INTEGRATION, TOKEN, graph_error

from broadcaster.core.channels import DeliveryConfirmation, MessageKind
from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason, parse_reason
from broadcaster.core.results import Delivered, Failed, RateLimited


def call_for(text: str = "hi", chat_id: str = "17841400000000001") -> HttpCall:
    call = ig.Instagram().build_call(integration=INTEGRATION, chat_id=chat_id, message=TextMessage(text))
    assert call is not None
    return call


def interpret(reply: HttpReply) -> object:
    return ig.Instagram().interpret_reply(integration=INTEGRATION, call=call_for(), reply=reply)


# -- the channel -----------------------------------------------------------------------


def test_channel_declares_instagram_capabilities() -> None:
    spec = ig.Instagram().spec
    assert "instagram" == spec.provider
    assert frozenset({MessageKind.TEXT}) == spec.kinds
    assert not spec.has_templates
    assert 24 * 3600.0 == spec.window_seconds
    assert DeliveryConfirmation.NONE == spec.confirmation
    assert 300.0 == spec.rate_per_second
    assert 1 == spec.max_batch
    assert ("access_token",) == spec.required_settings
    assert {"access_token", "app_secret"} == set(spec.secret_settings)


def test_window_is_open_for_23_hours_and_closed_after_24() -> None:
    spec = ig.Instagram().spec
    assert spec.window_open(last_inbound_at=1000.0, now=1000.0 + 23 * 3600)
    assert not spec.window_open(last_inbound_at=1000.0, now=1000.0 + 24 * 3600)
    assert not spec.window_open(last_inbound_at=None, now=1000.0)


# -- requests --------------------------------------------------------------------------


def test_build_call_is_the_send_api_request_with_the_token_in_the_query() -> None:
    call = call_for("Sale starts now", chat_id="17841400000000001")
    assert "POST" == call.method
    assert "https://graph.facebook.com/v21.0/me/messages?access_token=IGQVJtok%2Fen%2BSECRET%3D42" == call.url
    assert "application/json" == call.header("content-type")
    assert {
        "recipient": {"id": "17841400000000001"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Sale starts now"},
    } == call.json
    # both spellings of the token, so redaction catches it in any text
    assert {TOKEN, "IGQVJtok%2Fen%2BSECRET%3D42"} <= set(call.secrets)
    assert "***" in call.redacted() and TOKEN not in call.redacted() and "SECRET" not in call.redacted()


def test_base_url_version_and_account_are_settings() -> None:
    integration = Integration(
        name="ig2",
        provider="instagram",
        settings={
            "access_token": "t0k",
            "base_url": "https://graph.instagram.com/",
            "api_version": "22.0",
            "account_id": "17841400000000999",
        },
    )
    call = ig.Instagram().build_call(integration=integration, chat_id="42", message=TextMessage("x"))
    assert call is not None
    assert "https://graph.instagram.com/v22.0/17841400000000999/messages?access_token=t0k" == call.url


def test_the_provider_object_passes_the_load_checks() -> None:
    from broadcaster.plugins import check_provider

    assert None is check_provider(ig.Instagram())
    assert "instagram" == ig.Instagram().name


def test_a_template_is_a_configuration_error_that_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        ig.Instagram().build_call(integration=INTEGRATION, chat_id="1", message=TemplateMessage("promo"))
    text = str(caught.value)
    assert "'ig-main' is Instagram, which has no message templates (asked to send template 'promo')" in text
    assert "WhatsApp" in text  # the hint says where templates do work


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "integration 'ig' (instagram) has no 'access_token' setting"),
        ({"access_token": "  "}, "integration 'ig' (instagram) has no 'access_token' setting"),
        ({"access_token": "t", "base_url": "graph.facebook.com"}, "base_url 'graph.facebook.com' is not an http"),
    ],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, str], expected: str) -> None:
    integration = Integration(name="ig", provider="instagram", settings=settings)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ig.Instagram().build_call(integration=integration, chat_id="1", message=TextMessage("x"))


# -- replies ---------------------------------------------------------------------------


def test_success_is_delivered_and_final() -> None:
    reply = HttpReply.of_json(200, {"recipient_id": "17841400000000001", "message_id": "aWdfZAG1faXRlbToxOklH"})
    assert Delivered(message_id="aWdfZAG1faXRlbToxOklH", confirmed=True) == interpret(reply)


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_every_catalogued_error_maps_as_providers_md_lists_it(case: str) -> None:
    status, body, expected = CATALOGUE[case]
    result = interpret(HttpReply.of_json(status, body))
    assert expected == result
    reason = result.reason  # type: ignore[attr-defined]
    assert reason == parse_reason(str(reason))


def test_throttling_never_carries_a_hint_even_with_a_retry_after_header() -> None:
    reply = HttpReply.of_json(400, graph_error(613), headers={"Retry-After": "30"})
    result = interpret(reply)
    assert isinstance(result, RateLimited)
    assert None is result.retry_after


def test_an_unknown_code_keeps_the_providers_words_without_the_code_prefix() -> None:
    reply = HttpReply.of_json(400, graph_error(2534014, None, "(#2534014) Something\nnew   happened"))
    assert Failed(ErrorKind.PAYLOAD, ErrorReason("instagram", "2534014", "Something new happened")) == interpret(reply)


def test_an_unknown_transient_error_is_transient() -> None:
    flagged = HttpReply.of_json(400, graph_error(77777, None, "Try again", is_transient=True))
    assert Failed(ErrorKind.TRANSIENT, ErrorReason("instagram", "77777", "Try again")) == interpret(flagged)
    on_5xx = HttpReply.of_json(502, graph_error(77777, None, ""))
    assert Failed(ErrorKind.TRANSIENT, ErrorReason("instagram", "77777", "unknown_error")) == interpret(on_5xx)


def test_an_unknown_error_longer_than_a_reason_is_cut_to_a_valid_one() -> None:
    result = interpret(HttpReply.of_json(400, graph_error(999, None, "x" * 5000)))
    assert isinstance(result, Failed)
    assert "x" * 200 == result.reason.reason


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"", Failed(ErrorKind.UNKNOWN, ErrorReason("instagram", "200", "malformed_reply: empty body"))),
        (
            200,
            b'{"recipient_id": "1", "message_id": "m',
            Failed(ErrorKind.UNKNOWN, ErrorReason("instagram", "200", "malformed_reply: body is not valid JSON")),
        ),
        (
            200,
            b'{"message_id": "\xc3\x28"}',
            Failed(ErrorKind.UNKNOWN, ErrorReason("instagram", "200", "malformed_reply: body is not UTF-8")),
        ),
        (
            200,
            b'["message_id"]',
            Failed(
                ErrorKind.UNKNOWN, ErrorReason("instagram", "200", "malformed_reply: success reply has no message_id")
            ),
        ),
        (
            200,
            b'{"message_id": 12}',
            Failed(
                ErrorKind.UNKNOWN, ErrorReason("instagram", "200", "malformed_reply: success reply has no message_id")
            ),
        ),
        (
            400,
            b"<html>Bad gateway</html>",
            Failed(ErrorKind.TRANSIENT, ErrorReason("instagram", "400", "malformed_reply: body is not valid JSON")),
        ),
        (
            400,
            b'{"error": "nope"}',
            Failed(
                ErrorKind.TRANSIENT,
                ErrorReason("instagram", "400", "malformed_reply: no Graph error object in the reply"),
            ),
        ),
        (
            400,
            b'{"error": {"code": "10", "error_subcode": 2534022}}',
            Failed(
                ErrorKind.TRANSIENT,
                ErrorReason("instagram", "400", "malformed_reply: the error object has no integer code"),
            ),
        ),
        (
            403,
            b'{"error": {"code": true}}',
            Failed(
                ErrorKind.TRANSIENT,
                ErrorReason("instagram", "403", "malformed_reply: the error object has no integer code"),
            ),
        ),
        (
            502,
            b"<html>502 Bad Gateway</html>",
            Failed(ErrorKind.TRANSIENT, ErrorReason("instagram", "5xx", "server_error")),
        ),
        (
            429,
            b"slow down",
            RateLimited(retry_after=None, reason=ErrorReason("instagram", "429", "too_many_requests")),
        ),
    ],
)
def test_unreadable_replies_are_failures_that_say_why(status: int, body: bytes, expected: object) -> None:
    assert expected == interpret(HttpReply(status=status, body=body))


def test_a_graph_error_in_a_200_is_still_an_error() -> None:
    reply = HttpReply(status=200, body=json.dumps(graph_error(10, 2534022)).encode())
    assert Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("instagram", "10", "outside_allowed_window")) == interpret(
        reply
    )


def test_a_negative_code_still_makes_a_well_formed_reason() -> None:
    result = interpret(HttpReply.of_json(400, graph_error(-1, None, "An unknown error occurred")))
    assert Failed(ErrorKind.PAYLOAD, ErrorReason("instagram", "neg1", "An unknown error occurred")) == result
