"""WhatsApp Cloud API requests, replies and webhooks, against real-shaped payloads (providers.md §2)."""

from __future__ import annotations

import hashlib
import hmac
import json

import broadcaster_whatsapp
import httpx
import pytest

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import MAX_RETRY_AFTER, Delivered, DeliveryUpdate, Failed, RateLimited
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.testing import send_through_mock

TOKEN = "EAAGq7ZxK2pLw9fR4tYvN0bHs8cJd3mUoE5aWi6"
APP_SECRET = "fake-app-secret-abcdef"
SETTINGS = {"token": TOKEN, "phone_number_id": "106540352242922", "app_secret": APP_SECRET}
INTEGRATION = Integration("wa-main", "whatsapp", SETTINGS)
REGISTRY = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[broadcaster_whatsapp]))
R, C, INT, P, T = (
    ErrorKind.RATE_LIMITED,
    ErrorKind.PERMANENT_CONTACT,
    ErrorKind.INTEGRATION,
    ErrorKind.PAYLOAD,
    ErrorKind.TRANSIENT,
)


def text_call():
    return REGISTRY.build_call(integration=INTEGRATION, chat_id="16505551234", message=TextMessage("Hi"))


def interpret(reply: HttpReply):
    return REGISTRY.interpret_reply(integration=INTEGRATION, call=text_call(), reply=reply)


def graph_error(code: int, message: str = "(#x) something", status: int = 400, **extra) -> HttpReply:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Az8o", **extra}
    return HttpReply.of_json(status, {"error": error})


def test_text_request():
    call = text_call()
    assert ("POST", "https://graph.facebook.com/v21.0/106540352242922/messages") == (call.method, call.url)
    assert f"Bearer {TOKEN}" == call.header("Authorization")
    assert {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Hi"},
    } == call.json
    assert TOKEN in call.secrets


def test_template_request_with_parameters_and_configurable_endpoint():
    integration = Integration("wa", "whatsapp", {**SETTINGS, "base_url": "http://sim:9000/", "api_version": "v19.0"})
    message = TemplateMessage("order_update", "es", ("Ada", "42"))
    call = REGISTRY.build_call(integration=integration, chat_id="34600111222", message=message)
    assert "http://sim:9000/v19.0/106540352242922/messages" == call.url
    assert {
        "name": "order_update",
        "language": {"policy": "deterministic", "code": "es"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "42"}]}
        ],
    } == call.json["template"]
    assert "template" == call.json["type"]


def test_template_without_parameters_has_no_components():
    call = REGISTRY.build_call(integration=INTEGRATION, chat_id="1", message=TemplateMessage("hello_world", "en_US"))
    assert {"name": "hello_world", "language": {"policy": "deterministic", "code": "en_US"}} == call.json["template"]


@pytest.mark.parametrize("drop", ["token", "phone_number_id"])
def test_missing_settings_are_config_errors(drop):
    settings = {k: v for k, v in SETTINGS.items() if k != drop}
    with pytest.raises(ConfigError, match=drop):
        REGISTRY.build_call(integration=Integration("wa", "whatsapp", settings), chat_id="1", message=TextMessage("x"))


def test_accepted_is_not_delivered_yet():
    reply = HttpReply.of_json(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI", "message_status": "accepted"}],
        },
    )
    assert Delivered(message_id="wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI", confirmed=False) == interpret(reply)


AUTH = [0, 3, 10, 190, 200, 250, 299, 131005]
CATALOGUE = [
    (4, R, "app_rate_limit"),
    (80007, R, "waba_rate_limit"),
    (130429, R, "throughput_limit"),
    (131048, R, "spam_rate_limit"),
    (131064, R, "messaging_limit_violation"),
    (132069, R, "flow_throttled"),
    (133016, INT, "registration_rate_limit"),
    (368, INT, "policy_blocked"),
    (131031, INT, "account_locked"),
    (33, INT, "phone_number_deleted"),
    (131042, INT, "payment_issue"),
    (131045, INT, "certificate_error"),
    (131037, INT, "display_name_approval_required"),
    (131063, INT, "business_account_restricted"),
    (133010, INT, "phone_not_registered"),
    (130497, C, "country_restricted"),
    (131047, C, "re_engagement_message_required"),
    (131026, C, "message_undeliverable"),
    (131021, C, "recipient_is_sender"),
    (131050, C, "marketing_opt_out"),
    (131049, C, "ecosystem_limit"),
    (130472, C, "experiment_group"),
    (131030, P, "recipient_not_allowed"),
    (131051, P, "unsupported_message_type"),
    (131052, P, "media_download_error"),
    (131053, P, "media_upload_error"),
    (131008, P, "missing_parameter"),
    (131009, P, "invalid_parameter"),
    (100, P, "invalid_parameter"),
    (132000, P, "template_param_count_mismatch"),
    (132001, P, "template_not_found"),
    (132005, P, "template_text_too_long"),
    (132007, P, "template_policy_violation"),
    (132008, P, "template_param_invalid"),
    (132012, P, "template_param_format_mismatch"),
    (132015, P, "template_paused"),
    (132016, P, "template_disabled"),
    (132068, P, "flow_blocked"),
    (135000, P, "generic_user_error"),
    (131057, T, "maintenance_mode"),
    (131000, T, "unknown_error"),
    (131016, T, "service_unavailable"),
    (2, T, "service_unavailable"),
]


@pytest.mark.parametrize("code", AUTH)
def test_auth_codes_are_integration_auth_failed(code):
    assert Failed(INT, ErrorReason.parse("wa-main:auth_failed")) == interpret(graph_error(code, status=401))


@pytest.mark.parametrize(("code", "kind", "token"), [entry for entry in CATALOGUE if entry[1] is not R])
def test_every_catalogued_failure(code, kind, token):
    assert Failed(kind, ErrorReason("whatsapp", str(code), token)) == interpret(graph_error(code))


@pytest.mark.parametrize(("code", "kind", "token"), [entry for entry in CATALOGUE if entry[1] is R])
def test_rate_limits_slow_the_whole_integration(code, kind, token):
    expected = RateLimited(None, ErrorReason("whatsapp", str(code), token), scope="integration")
    assert expected == interpret(graph_error(code, status=429 if code == 4 else 400))


def test_pair_rate_limit_backs_off_only_this_contact():
    expected = RateLimited(6.0, ErrorReason.parse("whatsapp:131056:pair_rate_limit"), scope="contact")
    assert expected == interpret(
        graph_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit")
    )


@pytest.mark.parametrize(("code", "kind", "token"), CATALOGUE[:12])
def test_catalogued_errors_through_httpx(code, kind, token):
    call = text_call()

    def handler(request: httpx.Request) -> httpx.Response:
        assert f"Bearer {TOKEN}" == request.headers["authorization"]
        assert "Hi" == json.loads(request.content)["text"]["body"]
        return httpx.Response(400, json={"error": {"code": code, "message": "x", "error_subcode": 2494055}})

    result = REGISTRY.interpret_reply(integration=INTEGRATION, call=call, reply=send_through_mock(call, handler))
    assert ErrorReason("whatsapp", str(code), token) == result.reason


def test_success_through_httpx():
    call = text_call()
    reply = send_through_mock(call, lambda request: httpx.Response(200, json={"messages": [{"id": "wamid.X"}]}))
    assert Delivered("wamid.X", confirmed=False) == REGISTRY.interpret_reply(
        integration=INTEGRATION, call=call, reply=reply
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            graph_error(99999, f"(#99999) New thing for {TOKEN}\n"),
            Failed(P, ErrorReason("whatsapp", "99999", "(#99999) New thing for ***")),
        ),
        (graph_error(99999, "Boom", status=503), Failed(T, ErrorReason("whatsapp", "99999", "Boom"))),
        (graph_error(99999, "Blip", is_transient=True), Failed(T, ErrorReason("whatsapp", "99999", "Blip"))),
        (
            HttpReply(200, body=b'{"messages": [{"id"'),
            Failed(ErrorKind.UNKNOWN, ErrorReason("whatsapp", "200", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply.of_json(200, {"messages": []}),
            Failed(ErrorKind.UNKNOWN, ErrorReason("whatsapp", "200", "malformed_reply: reply without messages[0].id")),
        ),
        (HttpReply(502, body=b"<html>"), Failed(T, ErrorReason("whatsapp", "5xx", "body is not valid JSON"))),
        (HttpReply(401, body=b""), Failed(INT, ErrorReason.parse("wa-main:auth_failed"))),
        (
            HttpReply(429, headers={"Retry-After": "3"}),
            RateLimited(3.0, ErrorReason.parse("whatsapp:429:too_many_requests")),
        ),
        (
            HttpReply.of_json(400, {"error": {"code": "abc"}}),
            Failed(T, ErrorReason("whatsapp", "400", "malformed_reply: error reply without an integer error.code")),
        ),
        (
            HttpReply.of_json(400, ["error"]),
            Failed(T, ErrorReason("whatsapp", "400", "malformed_reply: reply is not a JSON object")),
        ),
        # a proxy's HTML page at 403 says nothing about the contact: transient, and says why
        (
            HttpReply(403, body=b"<html><h1>403 Forbidden</h1></html>"),
            Failed(T, ErrorReason("whatsapp", "403", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply(200, body=b"[" * 2000 + b"]" * 2000),
            Failed(
                ErrorKind.UNKNOWN, ErrorReason("whatsapp", "200", "malformed_reply: body nests deeper than 64 levels")
            ),
        ),
    ],
)
def test_unknown_and_unreadable_replies(reply, expected):
    assert expected == interpret(reply)


def webhook(*statuses) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "106540352242922"},
        "statuses": list(statuses),
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def test_status_webhooks_become_row_updates():
    body = webhook(
        {"id": "wamid.A", "status": "sent", "timestamp": "1700000000", "recipient_id": "1650"},
        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000005"},
        {"id": "wamid.B", "status": "read", "timestamp": 1700000009},
        {"id": "wamid.C", "status": "played", "timestamp": "1700000010"},
        {
            "id": "wamid.D",
            "status": "failed",
            "timestamp": "1700000011",
            "errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24h"}}],
        },
        {"id": "wamid.E", "status": "failed", "timestamp": "1700000012", "errors": [{"code": 190, "title": "expired"}]},
    )
    assert REGISTRY.verify_callback(integration=INTEGRATION, headers=signed(body), body=body) is True
    assert (
        DeliveryUpdate("wamid.A", "sent", 1700000000.0),
        DeliveryUpdate("wamid.A", "delivered", 1700000005.0),
        DeliveryUpdate("wamid.B", "read", 1700000009.0),
        DeliveryUpdate(
            "wamid.D", "failed", 1700000011.0, ErrorReason.parse("whatsapp:131047:re_engagement_message_required"), C
        ),
        DeliveryUpdate("wamid.E", "failed", 1700000012.0, ErrorReason.parse("wa-main:auth_failed"), INT),
    ) == REGISTRY.parse_callback(integration=INTEGRATION, headers={}, body=body)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=00"},
        {"X-Hub-Signature-256": "sha1=abc"},
        {"X-Hub-Signature-256": "sha256=é"},
    ],
)
def test_bad_signatures_are_refused(headers):
    assert REGISTRY.verify_callback(integration=INTEGRATION, headers=headers, body=webhook()) is False


def test_a_signature_with_another_secret_is_refused():
    body = webhook()
    assert REGISTRY.verify_callback(integration=INTEGRATION, headers=signed(body, "other-secret"), body=body) is False


def test_verifying_without_an_app_secret_is_a_config_error():
    integration = Integration("wa", "whatsapp", {"token": TOKEN, "phone_number_id": "1"})
    with pytest.raises(ConfigError, match="app_secret"):
        REGISTRY.verify_callback(integration=integration, headers={}, body=b"{}")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff",
        b"[]",
        b'{"entry": 5}',
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": 1}]}}]}]}',
        webhook({"id": "w", "status": "failed", "timestamp": "x"}),
    ],
)
def test_malformed_webhooks_yield_nothing(body):
    assert () == REGISTRY.parse_callback(integration=INTEGRATION, headers={}, body=body)


def test_a_failed_status_without_errors_still_has_a_reason():
    (update,) = REGISTRY.parse_callback(
        integration=INTEGRATION, headers={}, body=webhook({"id": "w", "status": "failed", "timestamp": "5"})
    )
    assert ErrorReason.parse("whatsapp:delivery_failed_without_error") == update.reason


def test_spec():
    spec = REGISTRY.spec("whatsapp")
    assert (86400.0, 80.0, True) == (spec.window_seconds, spec.rate_per_second, spec.has_templates)


# -- issue 10: the seed's own reason strings ------------------------------------------------


def test_the_seeds_unsupported_message_type_is_a_payload_error():
    # delivery-and-logs / retry-failed-contacts: "whatsapp:1:Unsupported message type" — don't retry
    result = interpret(graph_error(1, "Unsupported message type"))
    assert Failed(P, ErrorReason.parse("whatsapp:1:Unsupported message type")) == result


def test_code_1_from_a_server_error_is_transient():
    assert Failed(T, ErrorReason.parse("whatsapp:1:api_unknown")) == interpret(graph_error(1, "", status=500))


@pytest.mark.parametrize("header", ["1e308", "99999999999", "inf"])
def test_a_huge_retry_after_header_is_capped(header):
    reply = HttpReply.of_json(429, {"error": {"code": 130429, "message": "x"}}, headers={"Retry-After": header})
    result = interpret(reply)
    assert isinstance(result, RateLimited)
    assert result.retry_after in (MAX_RETRY_AFTER, None)
    if header != "inf":
        assert MAX_RETRY_AFTER == result.retry_after


def test_a_message_echoing_part_of_the_token_is_redacted():
    result = interpret(graph_error(99999, f"bad token ...{TOKEN[10:30]}... or {TOKEN[:12].lower()}"))
    assert Failed(P, ErrorReason("whatsapp", "99999", "bad token ...***... or ***")) == result
