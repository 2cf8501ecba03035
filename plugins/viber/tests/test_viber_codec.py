"""The Viber codec's pure hooks: send_message requests and Viber's 200-with-status replies."""

from __future__ import annotations

import broadcaster_viber as viber
import pytest
from viber_fakes import CATALOGUE, INTEGRATION, TOKEN, error_body

from broadcaster.core.channels import DeliveryConfirmation, MessageKind
from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason, parse_reason
from broadcaster.core.results import Delivered, Failed


def call_for(chat_id: str = "jc9HsWTZ2Yf2NkRZ8KcNug==", integration: Integration = INTEGRATION) -> HttpCall:
    call = viber.Viber().build_call(integration=integration, chat_id=chat_id, message=TextMessage("Hi"))
    assert call is not None
    return call


def interpret(reply: HttpReply) -> object:
    return viber.Viber().interpret_reply(integration=INTEGRATION, call=call_for(), reply=reply)


def test_channel_declares_viber_capabilities() -> None:
    spec = viber.Viber().spec
    assert "viber" == spec.provider
    assert frozenset({MessageKind.TEXT}) == spec.kinds
    assert None is spec.window_seconds
    assert spec.window_open(last_inbound_at=None, now=1e9)
    assert DeliveryConfirmation.CALLBACK == spec.confirmation
    assert 300 == spec.max_batch
    # any 10 s window stays within broadcast_message's 500 requests
    assert 500 >= spec.burst + 10 * spec.rate_per_second
    assert ("auth_token", "sender_name") == spec.required_settings
    assert ("auth_token",) == spec.secret_settings


def test_build_call_is_send_message_with_the_token_in_its_header() -> None:
    call = call_for("jc9HsWTZ2Yf2NkRZ8KcNug==")
    assert ("POST", "https://chatapi.viber.com/pa/send_message") == (call.method, call.url)
    assert TOKEN == call.header("x-viber-auth-token")
    assert "application/json" == call.header("content-type")
    assert {
        "receiver": "jc9HsWTZ2Yf2NkRZ8KcNug==",
        "type": "text",
        "text": "Hi",
        "sender": {"name": "Shop"},
    } == call.json
    assert (TOKEN,) == call.secrets
    assert () == call.recipients


def test_optional_settings_shape_the_request() -> None:
    integration = Integration(
        name="v",
        provider="viber",
        settings={
            "auth_token": "t",
            "sender_name": "Shop",
            "sender_avatar": "https://example.com/a.jpg",
            "min_api_version": "7",
            "base_url": "http://localhost:9000/pa/",
        },
    )
    call = call_for("u1", integration)
    assert "http://localhost:9000/pa/send_message" == call.url
    assert {"name": "Shop", "avatar": "https://example.com/a.jpg"} == call.json["sender"]
    assert 7 == call.json["min_api_version"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"sender_name": "Shop"}, "integration 'v' (viber) has no 'auth_token' setting"),
        ({"auth_token": "t"}, "integration 'v' (viber) has no 'sender_name' setting"),
        ({"auth_token": "t", "sender_name": "S" * 29}, "sender_name is 29 characters; Viber allows 28"),
        (
            {"auth_token": "t", "sender_name": "S", "min_api_version": "v2"},
            "min_api_version 'v2' is not a whole number",
        ),
        ({"auth_token": "t", "sender_name": "S", "base_url": "ftp://x"}, "base_url 'ftp://x' is not an http"),
    ],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, str], expected: str) -> None:
    integration = Integration(name="v", provider="viber", settings=settings)
    with pytest.raises(ConfigError) as caught:
        viber.Viber().build_call(integration=integration, chat_id="u", message=TextMessage("x"))
    assert expected in str(caught.value)


def test_a_template_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="'viber-main' is Viber, which has no message templates"):
        viber.Viber().build_call(integration=INTEGRATION, chat_id="u", message=TemplateMessage("promo"))


def test_the_provider_object_passes_the_load_checks() -> None:
    from broadcaster.plugins import check_provider

    assert None is check_provider(viber.Viber())
    assert "viber" == viber.Viber().name


def test_status_zero_is_accepted_with_the_64_bit_token_as_a_string() -> None:
    body = {"status": 0, "status_message": "ok", "message_token": 5741311803571721087, "chat_hostname": "SN-CHAT-05_"}
    assert Delivered(message_id="5741311803571721087", confirmed=False) == interpret(HttpReply.of_json(200, body))


@pytest.mark.parametrize("status", sorted(CATALOGUE))
def test_every_catalogued_status_maps_as_providers_md_lists_it(status: int) -> None:
    result = interpret(HttpReply.of_json(200, error_body(status)))
    assert CATALOGUE[status] == result
    reason = result.reason  # type: ignore[attr-defined]
    assert reason == parse_reason(str(reason))


def test_the_status_decides_not_the_message_text() -> None:
    # the send-message doc's own example: human text, plus token fields, still status 12
    body = {"status": 12, "status_message": "Too many requests", "message_token": 1, "chat_hostname": "SN"}
    assert CATALOGUE[12] == interpret(HttpReply.of_json(200, body))


@pytest.mark.parametrize("status", [25, 99, 1000, -3])
def test_unlisted_statuses_are_general_errors(status: int) -> None:
    code = str(status) if status >= 0 else f"neg{-status}"
    expected = Failed(ErrorKind.TRANSIENT, ErrorReason("viber", code, "general_error"))
    assert expected == interpret(HttpReply.of_json(200, error_body(status)))


def _f(kind: ErrorKind, code: str, reason: str) -> Failed:
    return Failed(kind, ErrorReason("viber", code, reason))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"", _f(ErrorKind.UNKNOWN, "200", "malformed_reply: empty body")),
        (200, b'{"status": 0, "message_tok', _f(ErrorKind.UNKNOWN, "200", "malformed_reply: body is not valid JSON")),
        (200, b"[0]", _f(ErrorKind.UNKNOWN, "200", "malformed_reply: the reply is not a JSON object")),
        (200, b'{"status": "0"}', _f(ErrorKind.UNKNOWN, "200", "malformed_reply: the reply has no integer status")),
        (200, b'{"status": false}', _f(ErrorKind.UNKNOWN, "200", "malformed_reply: the reply has no integer status")),
        (
            200,
            b'{"status_message": "ok"}',
            _f(ErrorKind.UNKNOWN, "200", "malformed_reply: the reply has no integer status"),
        ),
        (200, b'{"status": 0}', _f(ErrorKind.UNKNOWN, "200", "malformed_reply: status 0 without a message_token")),
        (502, b"<html>Bad Gateway</html>", _f(ErrorKind.TRANSIENT, "5xx", "server_error")),
        (500, b'{"status": 0, "message_token": 1}', _f(ErrorKind.TRANSIENT, "5xx", "server_error")),
        # an unreadable non-2xx (a proxy's page) is transient, and the reason says so
        (403, b"<html>Forbidden</html>", _f(ErrorKind.TRANSIENT, "403", "malformed_reply: body is not valid JSON")),
        (429, b"", _f(ErrorKind.TRANSIENT, "429", "malformed_reply: empty body")),
        (403, b'{"status": 5}', _f(ErrorKind.TRANSIENT, "403", "http_error")),
        (200, b"[" * 2000, _f(ErrorKind.UNKNOWN, "200", "malformed_reply: body nests deeper than 64 levels")),
    ],
)
def test_unreadable_or_http_level_replies(status: int, body: bytes, expected: object) -> None:
    assert expected == interpret(HttpReply(status=status, body=body))


def test_a_stringified_token_is_accepted() -> None:
    reply = HttpReply.of_json(200, {"status": 0, "message_token": "5741311803571721087"})
    assert Delivered(message_id="5741311803571721087", confirmed=False) == interpret(reply)
