"""No token ever reaches an output; the plugin is found through its entry point only."""

from __future__ import annotations

import importlib.metadata
import json
from urllib.parse import quote

import broadcaster_instagram as ig
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from instagram_fakes import APP_SECRET, INTEGRATION, TOKEN, graph_error

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import TemplateMessage, TextMessage

SPELLINGS = (TOKEN, quote(TOKEN, safe=""), APP_SECRET)


def assert_clean(value: object) -> None:
    shown = f"{value!r} {value}"
    for secret in SPELLINGS:
        assert secret not in shown


def interpret(reply: HttpReply) -> object:
    call = ig.Instagram().build_call(integration=INTEGRATION, chat_id="1", message=TextMessage("x"))
    assert call is not None
    # (repr(call) shows the URL, token included: only call.redacted() is fit to log)
    assert_clean(call.redacted())
    return ig.Instagram().interpret_reply(integration=INTEGRATION, call=call, reply=reply)


ECHOING_REPLIES = [
    HttpReply.of_json(400, graph_error(987654, None, f"Invalid OAuth access token {TOKEN}")),
    HttpReply.of_json(400, graph_error(987654, None, f"bad url ...?access_token={quote(TOKEN, safe='')}")),
    HttpReply.of_json(400, graph_error(987654, None, f"secret {APP_SECRET}")),
    HttpReply.of_json(200, {"message_id": f"mid-{TOKEN}"}),
    HttpReply(status=200, body=f"not json {TOKEN}".encode()),
    HttpReply(status=400, body=f"<html>{TOKEN}</html>".encode()),
    HttpReply(status=503, body=TOKEN.encode()),
    HttpReply.of_json(400, {"error": {"code": TOKEN}}),
]


@pytest.mark.parametrize("reply", ECHOING_REPLIES)
def test_a_reply_echoing_the_token_leaves_no_trace(reply: HttpReply) -> None:
    assert_clean(interpret(reply))


@settings(max_examples=60)
@given(
    status=st.integers(100, 599),
    code=st.integers(-5, 3_000_000),
    prefix=st.text(max_size=20),
    secret=st.sampled_from(SPELLINGS),
)
def test_any_error_message_carrying_a_token_is_redacted(status: int, code: int, prefix: str, secret: str) -> None:
    assert_clean(interpret(HttpReply.of_json(status, graph_error(code, None, prefix + secret + prefix))))


def test_a_forged_callback_carrying_tokens_leaves_no_trace() -> None:
    seen = {
        "object": "instagram",
        "entry": [{"messaging": [{"timestamp": 1, "read": {"mid": f"m{TOKEN}{APP_SECRET}"}}]}],
    }
    body = json.dumps(seen).encode()
    headers = {"X-Hub-Signature-256": f"sha256={TOKEN}"}
    assert False is ig.Instagram().verify_callback(integration=INTEGRATION, headers=headers, body=body)
    updates = ig.Instagram().parse_callback(integration=INTEGRATION, headers=headers, body=body)
    assert 1 == len(updates or [])
    assert_clean(updates)


def test_configuration_errors_do_not_quote_the_token() -> None:
    with pytest.raises(ConfigError) as caught:
        ig.Instagram().build_call(integration=INTEGRATION, chat_id="1", message=TemplateMessage("t"))
    assert_clean(caught.value)


# -- discovery ---------------------------------------------------------------------------


def test_the_entry_point_is_registered_under_broadcaster() -> None:
    [entry] = [ep for ep in importlib.metadata.entry_points(group="broadcaster") if ep.name == "instagram"]
    assert "broadcaster_instagram" == entry.value
    assert ig is entry.load()
    assert "broadcaster-instagram" == entry.dist.name  # type: ignore[union-attr]


def test_loaded_through_its_entry_point_the_provider_registers() -> None:
    from broadcaster.plugins import ProviderRegistry, make_plugin_manager

    registry = ProviderRegistry(make_plugin_manager(environ={}), strict=True)
    info = registry.info("instagram")
    assert ("instagram", "broadcaster-instagram") == (info.plugin_name, info.distribution)
    assert isinstance(info.provider_object, ig.Instagram)
    call = registry.build_call(integration=INTEGRATION, chat_id="5", message=TextMessage("y"))
    assert isinstance(call, HttpCall)
    assert {"id": "5"} == call.json["recipient"]
