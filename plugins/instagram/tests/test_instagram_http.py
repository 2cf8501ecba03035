"""The codec end to end through ``httpx.MockTransport`` and a fake Graph server."""

from __future__ import annotations

import json

import broadcaster_instagram as ig
import pytest
from instagram_fakes import CATALOGUE, INTEGRATION, FakeGraph, send

from broadcaster.core.models import Integration, TextMessage
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import Delivered, Failed


def run(server: FakeGraph, chat_id: str, *, integration: Integration = INTEGRATION) -> object:
    call = ig.Instagram().build_call(integration=integration, chat_id=chat_id, message=TextMessage("Hello"))
    assert call is not None
    reply = send(call, server)
    return ig.Instagram().interpret_reply(integration=integration, call=call, reply=reply)


def test_a_send_reaches_the_graph_path_with_token_and_json_body() -> None:
    server = FakeGraph()
    assert Delivered(message_id="mid.1784", confirmed=True) == run(server, "1784")
    [request] = server.requests
    assert "graph.facebook.com" == request.url.host
    assert "application/json" == request.headers["content-type"]
    assert {"recipient": {"id": "1784"}, "messaging_type": "RESPONSE", "message": {"text": "Hello"}} == json.loads(
        request.content
    )


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_catalogued_errors_through_the_transport(case: str) -> None:
    status, body, expected = CATALOGUE[case]
    assert expected == run(FakeGraph({"victim": (status, body)}), "victim")


def test_a_wrong_token_is_auth_failed_end_to_end() -> None:
    wrong = Integration(name="ig-main", provider="instagram", settings={"access_token": "revoked"})
    assert Failed(ErrorKind.INTEGRATION, ErrorReason("ig-main", None, "auth_failed")) == run(
        FakeGraph(), "1", integration=wrong
    )


def test_a_configured_api_version_is_the_path_the_server_sees() -> None:
    integration = Integration(
        name="ig-main",
        provider="instagram",
        settings={"access_token": INTEGRATION.settings["access_token"], "api_version": "v23.0"},
    )
    assert Delivered(message_id="mid.7", confirmed=True) == run(
        FakeGraph(version="v23.0"), "7", integration=integration
    )


def test_an_html_gateway_page_through_the_transport() -> None:
    import httpx

    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html><body>Bad Gateway</body></html>", headers={"content-type": "text/html"})

    call = ig.Instagram().build_call(integration=INTEGRATION, chat_id="1", message=TextMessage("x"))
    assert call is not None
    result = ig.Instagram().interpret_reply(integration=INTEGRATION, call=call, reply=send(call, gateway))
    assert Failed(ErrorKind.TRANSIENT, ErrorReason("instagram", "5xx", "server_error")) == result
