"""Telegram requests and replies, against real-shaped bodies from providers.md §1."""

from __future__ import annotations

import json

import broadcaster_telegram
import httpx
import pytest

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import MAX_RETRY_AFTER, Delivered, Failed, RateLimited, Rerouted
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.testing import send_through_mock

TOKEN = "123456789:AAEqZ7-Xk2pLw9_fR4tYvN0bHs8cJd3mUo"
INTEGRATION = Integration("tg-main", "telegram", {"token": TOKEN})
REGISTRY = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[broadcaster_telegram]))


def call(chat_id: str = "42", text: str = "hi"):
    return REGISTRY.build_call(integration=INTEGRATION, chat_id=chat_id, message=TextMessage(text))


def interpret(reply: HttpReply):
    return REGISTRY.interpret_reply(integration=INTEGRATION, call=call(), reply=reply)


def error(status: int, description: str, **parameters) -> HttpReply:
    body = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return HttpReply.of_json(status, body)


def test_build_call_is_the_real_send_message_request():
    built = call("-100200300", "Hello")
    assert "POST" == built.method
    assert f"https://api.telegram.org/bot{TOKEN}/sendMessage" == built.url
    assert {"chat_id": -100200300, "text": "Hello"} == built.json
    assert (TOKEN,) == built.secrets
    assert "POST https://api.telegram.org/bot***/sendMessage" == built.redacted()


def test_base_url_is_configurable_and_usernames_stay_strings():
    integration = Integration("tg", "telegram", {"token": TOKEN, "base_url": "http://localhost:8081/"})
    built = REGISTRY.build_call(integration=integration, chat_id="@channel", message=TextMessage("x"))
    assert f"http://localhost:8081/bot{TOKEN}/sendMessage" == built.url
    assert "@channel" == built.json["chat_id"]


@pytest.mark.parametrize(
    "settings",
    [{}, {"token": ""}, {"token": TOKEN + " "}, {"token": TOKEN, "base_url": "api.telegram.org"}],
)
def test_bad_settings_are_config_errors_without_the_token(settings):
    with pytest.raises(ConfigError) as caught:
        REGISTRY.build_call(integration=Integration("tg", "telegram", settings), chat_id="1", message=TextMessage("x"))
    assert TOKEN not in str(caught.value)


def test_templates_are_refused_as_configuration():
    with pytest.raises(ConfigError, match="no templates"):
        REGISTRY.build_call(integration=INTEGRATION, chat_id="1", message=TemplateMessage("t"))


def test_success_is_confirmed_delivery_with_the_message_id():
    reply = HttpReply.of_json(200, {"ok": True, "result": {"message_id": 777, "chat": {"id": 42}, "text": "hi"}})
    assert Delivered(message_id="777", confirmed=True) == interpret(reply)


C, P = ErrorKind.PERMANENT_CONTACT, ErrorKind.PAYLOAD

CATALOGUE = [
    (403, "Forbidden: bot was blocked by the user", C, "telegram:403:blocked_by_user"),
    (403, "Forbidden: user is deactivated", C, "telegram:403:user_deactivated"),
    (403, "Forbidden: bot was kicked from the group chat", C, "telegram:403:bot_kicked"),
    (403, "Forbidden: bot was kicked from the supergroup chat", C, "telegram:403:bot_kicked"),
    (403, "Forbidden: bot was kicked from the channel chat", C, "telegram:403:bot_kicked"),
    (403, "Forbidden: bot is not a member of the group chat", C, "telegram:403:bot_not_member"),
    (403, "Forbidden: bot is not a member of the supergroup chat", C, "telegram:403:bot_not_member"),
    (403, "Forbidden: bot is not a member of the channel chat", C, "telegram:403:bot_not_member"),
    (403, "Forbidden: the group chat was deleted", C, "telegram:403:chat_deleted"),
    (403, "Forbidden: bot can't initiate conversation with a user", C, "telegram:403:cant_initiate_conversation"),
    (403, "Forbidden: bot can't send messages to bots", C, "telegram:403:recipient_is_bot"),
    (400, "Bad Request: chat not found", C, "telegram:400:chat_not_found"),
    (400, "Bad Request: message text is empty", P, "telegram:400:message_text_empty"),
    (400, "Bad Request: message is too long", P, "telegram:400:message_too_long"),
    (400, "Bad Request: can't parse entities: Unsupported start tag", P, "telegram:400:cant_parse_entities"),
    (400, "Bad Request: CHAT_WRITE_FORBIDDEN", C, "telegram:400:no_write_rights"),
    (400, "Bad Request: have no rights to send a message", C, "telegram:400:no_write_rights"),
    (500, "Internal Server Error: restart", ErrorKind.TRANSIENT, "telegram:5xx:server_error"),
    (502, "Bad Gateway", ErrorKind.TRANSIENT, "telegram:5xx:server_error"),
    (503, "Service Unavailable", ErrorKind.TRANSIENT, "telegram:5xx:server_error"),
    (504, "Gateway Timeout", ErrorKind.TRANSIENT, "telegram:5xx:server_error"),
    (401, "Unauthorized", ErrorKind.INTEGRATION, "tg-main:auth_failed"),
    (404, "Not Found", ErrorKind.INTEGRATION, "tg-main:auth_failed"),
    (404, "Not Found: method not found", ErrorKind.INTEGRATION, "tg-main:auth_failed"),
]


@pytest.mark.parametrize(("status", "description", "kind", "reason"), CATALOGUE)
def test_every_catalogued_error(status, description, kind, reason):
    assert Failed(kind, ErrorReason.parse(reason)) == interpret(error(status, description))


@pytest.mark.parametrize(("status", "description", "kind", "reason"), CATALOGUE)
def test_every_catalogued_error_through_httpx(status, description, kind, reason):
    built = call()

    def handler(request: httpx.Request) -> httpx.Response:
        assert f"/bot{TOKEN}/sendMessage" == request.url.path
        assert {"chat_id": 42, "text": "hi"} == json.loads(request.content)
        return httpx.Response(status, json={"ok": False, "error_code": status, "description": description})

    reply = send_through_mock(built, handler)
    assert Failed(kind, ErrorReason.parse(reason)) == REGISTRY.interpret_reply(
        integration=INTEGRATION, call=built, reply=reply
    )


def test_flood_control_uses_the_body_hint_first():
    reply = HttpReply.of_json(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
        headers={"Retry-After": "99"},
    )
    assert RateLimited(17.0, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


def test_flood_control_falls_back_to_the_retry_after_header_through_httpx():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "5"}, json={"ok": False, "description": "Too Many Requests"})

    reply = send_through_mock(call(), handler)
    assert RateLimited(5.0, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


@pytest.mark.parametrize("header", ["-3", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "nan", ""])
def test_garbage_retry_after_gives_no_hint(header):
    reply = HttpReply.of_json(429, {"ok": False, "description": "Too Many Requests"}, headers={"Retry-After": header})
    assert RateLimited(None, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


@pytest.mark.parametrize("header", ["inf", "1e999", "1e308"])
def test_an_endless_retry_after_is_capped_not_obeyed_forever(header):
    reply = HttpReply.of_json(429, {"ok": False, "description": "Too Many Requests"}, headers={"Retry-After": header})
    assert RateLimited(MAX_RETRY_AFTER, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


def test_a_retry_after_parameter_on_another_status_is_flood_control():
    reply = error(400, "Bad Request: restarting", retry_after=5)
    assert RateLimited(5.0, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


def test_migrated_group_reroutes_to_the_supergroup():
    reply = error(
        400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001234567890123
    )
    assert Rerouted("-1001234567890123", ErrorReason.parse("telegram:400:chat_migrated")) == interpret(reply)


def test_migration_without_a_usable_chat_id_is_a_contact_failure():
    reply = error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id="soon")
    assert Failed(C, ErrorReason.parse("telegram:400:chat_migrated")) == interpret(reply)


@pytest.mark.parametrize(("status", "kind"), [(400, P), (403, C), (409, P), (413, P)])
def test_unknown_errors_keep_the_description(status, kind):
    reply = error(status, "Bad Request: something\nnew  happened")
    assert Failed(kind, ErrorReason("telegram", str(status), "Bad Request: something new happened")) == interpret(reply)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            HttpReply(200, body=b""),
            Failed(ErrorKind.UNKNOWN, ErrorReason("telegram", "200", "malformed_reply: empty body")),
        ),
        (
            HttpReply(200, body=b'{"ok": tr'),
            Failed(ErrorKind.UNKNOWN, ErrorReason("telegram", "200", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply(200, body=b"[1]"),
            Failed(ErrorKind.UNKNOWN, ErrorReason("telegram", "200", "malformed_reply: reply is not a JSON object")),
        ),
        (
            HttpReply.of_json(200, {"ok": True, "result": {}}),
            Failed(
                ErrorKind.UNKNOWN, ErrorReason("telegram", "200", "malformed_reply: ok reply without result.message_id")
            ),
        ),
        (
            HttpReply(200, body=b"[" * 2000 + b"]" * 2000),
            Failed(
                ErrorKind.UNKNOWN, ErrorReason("telegram", "200", "malformed_reply: body nests deeper than 64 levels")
            ),
        ),
        (
            HttpReply(502, body=b"<html>Bad Gateway</html>"),
            Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "5xx", "server_error")),
        ),
        # an unreadable non-2xx came from something in between: never the contact's fault
        (
            HttpReply(403, body=b"<html><h1>403 Forbidden</h1> by the proxy</html>"),
            Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "403", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply(400, body=b"\xff"),
            Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "400", "malformed_reply: body is not UTF-8")),
        ),
        (
            HttpReply.of_json(400, {"ok": "no"}),
            Failed(ErrorKind.TRANSIENT, ErrorReason("telegram", "400", "malformed_reply: reply has no boolean 'ok'")),
        ),
        (
            HttpReply.of_json(403, {"ok": False}),
            Failed(
                ErrorKind.TRANSIENT,
                ErrorReason("telegram", "403", "malformed_reply: error reply without a description"),
            ),
        ),
        (
            HttpReply(400, body=b"{" * 5000),
            Failed(
                ErrorKind.TRANSIENT, ErrorReason("telegram", "400", "malformed_reply: body nests deeper than 64 levels")
            ),
        ),
    ],
)
def test_unreadable_replies_say_what_was_wrong(reply, expected):
    assert expected == interpret(reply)


@pytest.mark.parametrize("status", [400, 403, 409, 429, 500, 200])
def test_a_token_echoed_by_the_provider_never_reaches_the_reason(status):
    reply = error(status, f"Bad Request: invalid token {TOKEN} in /bot{TOKEN}/sendMessage")
    result = interpret(reply)
    assert TOKEN not in repr(result)
    assert TOKEN not in str(getattr(result, "reason", ""))


def test_callbacks_carry_no_receipts_and_need_the_secret_token():
    integration = Integration("tg", "telegram", {"token": TOKEN, "secret_token": "s3cret-token"})
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
    assert REGISTRY.verify_callback(integration=integration, headers=good, body=b"{}") is True
    assert REGISTRY.verify_callback(integration=integration, headers={}, body=b"{}") is False
    assert REGISTRY.verify_callback(integration=INTEGRATION, headers=good, body=b"{}") is False
    assert () == REGISTRY.parse_callback(integration=integration, headers=good, body=b'{"update_id": 1}')


def test_spec():
    spec = REGISTRY.spec("telegram")
    assert (None, 30.0, 1) == (spec.window_seconds, spec.rate_per_second, spec.max_batch)
    assert not spec.has_templates


# -- issue 10: hostile or odd replies ------------------------------------------------------


@pytest.mark.parametrize("body", [{"description": "Too Many Requests"}, {}, {"ok": "false"}])
def test_a_429_without_an_ok_field_still_honours_the_retry_after_header(body):
    reply = HttpReply.of_json(429, body, headers={"Retry-After": "12"})
    assert RateLimited(12.0, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


@pytest.mark.parametrize(
    "reply",
    [
        error(429, "Too Many Requests: retry after 1e308", retry_after=1e308),
        HttpReply.of_json(429, {"ok": False, "description": "Too Many Requests"}, headers={"Retry-After": "1e308"}),
        error(400, "Bad Request: wait", retry_after=10**30),
    ],
)
def test_a_huge_retry_after_is_capped_so_the_budget_decides(reply):
    result = interpret(reply)
    assert isinstance(result, RateLimited) and MAX_RETRY_AFTER == result.retry_after == 3600.0


@pytest.mark.parametrize("hint", [-5, "soon", None, True, float("nan")])
def test_a_negative_or_non_numeric_retry_after_gives_no_hint(hint):
    body = {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": hint}}
    reply = HttpReply(429, {"content-type": "application/json"}, json.dumps(body).encode())
    assert RateLimited(None, ErrorReason.parse("telegram:429:too_many_requests")) == interpret(reply)


@pytest.mark.parametrize("new_chat", [0, "0", "-0", "--5", ""])
def test_migrate_to_chat_zero_or_garbage_does_not_reroute(new_chat):
    reply = error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=new_chat)
    assert Failed(C, ErrorReason.parse("telegram:400:chat_migrated")) == interpret(reply)


def test_a_migrate_to_chat_id_given_as_digits_reroutes():
    reply = error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id="-100777")
    assert Rerouted("-100777", ErrorReason.parse("telegram:400:chat_migrated")) == interpret(reply)


@pytest.mark.parametrize(
    "echo",
    [
        TOKEN.split(":")[1],  # the secret half alone
        TOKEN.split(":")[0],  # the bot id alone
        TOKEN.split(":")[1][5:20],  # a piece from the middle
        TOKEN.split(":")[1].upper() + " " + TOKEN[3:14],  # a piece next to noise
    ],
)
def test_a_description_echoing_part_of_the_token_never_reaches_the_reason(echo):
    result = interpret(error(400, f"Bad Request: token part {echo} is wrong"))
    assert isinstance(result, Failed)
    shown = str(result.reason)
    for i in range(len(TOKEN) - 8 + 1):
        assert TOKEN[i : i + 8] not in shown, shown
    assert shown.startswith("telegram:400:Bad Request: token part ***")
