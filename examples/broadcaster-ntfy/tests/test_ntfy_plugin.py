"""The example ntfy plugin: requests, every reply it knows, the httpx bridge, the kit.

This file doubles as the test template for a new plugin: pure hook tests with
real-shaped replies, the same through ``httpx.MockTransport``, a secret-leak test, the
entry point, and the conformance kit.
"""

from __future__ import annotations

import importlib.metadata
import json

import broadcaster_ntfy as ntfy
import httpx
import pytest

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed, RateLimited
from broadcaster.testing import check_provider_conformance, send_through_mock

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
INTEGRATION = Integration("alerts", "ntfy", {"token": TOKEN, "title": "Shop news"})
PUBLISHED = {"id": "sPs71M8A2T", "time": 1673542291, "expires": 1673585491, "event": "message", "topic": "shop"}


def call_for(integration: Integration = INTEGRATION, topic: str = "shop") -> HttpCall:
    call = ntfy.Ntfy().build_call(integration=integration, chat_id=topic, message=TextMessage("Sale!"))
    assert call is not None
    return call


def interpret(reply: HttpReply) -> object:
    return ntfy.Ntfy().interpret_reply(integration=INTEGRATION, call=call_for(), reply=reply)


def ntfy_error(code: int, error: str) -> dict[str, object]:
    return {"code": code, "http": code // 100, "error": error, "link": "https://ntfy.sh/docs/publish/"}


def test_build_call_is_the_json_publish_form_with_a_bearer_token() -> None:
    call = call_for()
    assert ("POST", "https://ntfy.sh/") == (call.method, call.url)
    assert f"Bearer {TOKEN}" == call.header("Authorization")
    assert {"topic": "shop", "message": "Sale!", "title": "Shop news"} == call.json
    assert (TOKEN,) == call.secrets


def test_without_a_token_there_is_no_auth_header_and_no_secret() -> None:
    call = call_for(Integration("public", "ntfy", {"base_url": "http://localhost:8080/"}))
    assert "http://localhost:8080/" == call.url
    assert None is call.header("Authorization")
    assert () == call.secrets


def test_templates_and_bad_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="'alerts' is ntfy, which has no templates"):
        ntfy.Ntfy().build_call(integration=INTEGRATION, chat_id="t", message=TemplateMessage("x"))
    with pytest.raises(ConfigError, match="base_url 'ntfy.sh' is not an http"):
        call_for(Integration("x", "ntfy", {"base_url": "ntfy.sh"}))


def test_the_provider_object_passes_the_load_checks() -> None:
    from broadcaster.plugins import check_provider

    assert None is check_provider(ntfy.Ntfy())
    assert "ntfy" == ntfy.Ntfy().name


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (HttpReply.of_json(200, PUBLISHED), Delivered(message_id="sPs71M8A2T", confirmed=True)),
        (
            HttpReply.of_json(401, ntfy_error(40101, "unauthorized")),
            Failed(ErrorKind.INTEGRATION, ErrorReason("alerts", None, "auth_failed")),
        ),
        (
            HttpReply.of_json(403, ntfy_error(40301, "forbidden")),
            Failed(ErrorKind.INTEGRATION, ErrorReason("alerts", None, "auth_failed")),
        ),
        (
            HttpReply.of_json(429, ntfy_error(42901, "limit reached: too many requests"), headers={"Retry-After": "5"}),
            RateLimited(retry_after=5.0, reason=ErrorReason("ntfy", "429", "too_many_requests")),
        ),
        (
            HttpReply.of_json(429, ntfy_error(42901, "limit reached"), headers={"Retry-After": "-3"}),
            RateLimited(retry_after=None, reason=ErrorReason("ntfy", "429", "too_many_requests")),
        ),
        (
            HttpReply.of_json(413, ntfy_error(41301, "too large")),
            Failed(ErrorKind.PAYLOAD, ErrorReason("ntfy", "41301", "message_too_large")),
        ),
        (
            HttpReply.of_json(400, ntfy_error(40009, "invalid request: topic invalid")),
            Failed(ErrorKind.PAYLOAD, ErrorReason("ntfy", "40009", "invalid request: topic invalid")),
        ),
        (
            HttpReply(status=502, body=b"<html>"),
            Failed(ErrorKind.TRANSIENT, ErrorReason("ntfy", "5xx", "server_error")),
        ),
        (
            HttpReply(status=200, body=b'{"id": "sPs7'),
            Failed(ErrorKind.UNKNOWN, ErrorReason("ntfy", "200", "malformed_reply: body is not valid JSON")),
        ),
        (
            HttpReply.of_json(200, ["sPs71M8A2T"]),
            Failed(ErrorKind.UNKNOWN, ErrorReason("ntfy", "200", "malformed_reply: no message id")),
        ),
        (
            HttpReply(status=404, body=b"page not found"),
            Failed(ErrorKind.TRANSIENT, ErrorReason("ntfy", "404", "malformed_reply: body is not valid JSON")),
        ),
    ],
)
def test_replies_map_to_results(reply: HttpReply, expected: object) -> None:
    assert expected == interpret(reply)


def test_a_server_echoing_the_token_leaves_no_trace() -> None:
    for reply in [
        HttpReply.of_json(400, ntfy_error(40000, f"bad token {TOKEN}")),
        HttpReply.of_json(200, {"id": TOKEN}),
        HttpReply(status=200, body=TOKEN.encode()),
    ]:
        result = interpret(reply)
        assert TOKEN not in repr(result)


def fake_ntfy(request: httpx.Request) -> httpx.Response:
    """Answers like an ntfy server that requires our token."""
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return httpx.Response(403, json=ntfy_error(40301, "forbidden"))
    body = json.loads(request.content)
    return httpx.Response(200, json={**PUBLISHED, "topic": body["topic"], "message": body["message"]})


def send(call: HttpCall) -> HttpReply:
    return send_through_mock(call, fake_ntfy)


def test_through_httpx_mock_transport() -> None:
    call = call_for()
    assert Delivered(message_id="sPs71M8A2T", confirmed=True) == ntfy.Ntfy().interpret_reply(
        integration=INTEGRATION, call=call, reply=send(call)
    )
    wrong = Integration("alerts", "ntfy", {"token": "tk_wrong_token_000"})
    call = call_for(wrong)
    assert Failed(ErrorKind.INTEGRATION, ErrorReason("alerts", None, "auth_failed")) == ntfy.Ntfy().interpret_reply(
        integration=wrong, call=call, reply=send(call)
    )


def test_found_through_its_entry_point() -> None:
    [entry] = [ep for ep in importlib.metadata.entry_points(group="broadcaster") if ep.name == "ntfy"]
    assert ntfy is entry.load()


def test_passes_the_conformance_kit() -> None:
    check_provider_conformance(ntfy, provider="ntfy", integration=INTEGRATION, chat_id="shop", max_examples=150)


def test_the_installed_plugin_passes_the_conformance_kit() -> None:
    check_provider_conformance(None, provider="ntfy", integration=INTEGRATION, chat_id="shop", max_examples=30)
