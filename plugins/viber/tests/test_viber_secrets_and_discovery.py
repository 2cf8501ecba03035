"""No auth token ever reaches an output; the plugin is found through its entry point only."""

from __future__ import annotations

import importlib.metadata
import json

import broadcaster_viber as viber
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from viber_fakes import INTEGRATION, TOKEN

from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage


def assert_clean(value: object) -> None:
    assert TOKEN not in f"{value!r} {value}"


def single(reply: HttpReply) -> object:
    call = viber.Viber().build_call(integration=INTEGRATION, chat_id="u", message=TextMessage("x"))
    assert call is not None
    assert_clean(call.redacted())
    return viber.Viber().interpret_reply(integration=INTEGRATION, call=call, reply=reply)


def batch(reply: HttpReply) -> object:
    pairs = [("c1", "u1"), ("c2", TOKEN)]  # even a chat id equal to the token is not shown back
    call = viber.Viber().build_batch_call(integration=INTEGRATION, recipients=pairs, message=TextMessage("x"))
    assert call is not None
    return viber.Viber().interpret_batch_reply(integration=INTEGRATION, call=call, reply=reply)


ECHOING_REPLIES = [
    HttpReply.of_json(200, {"status": 0, "message_token": TOKEN}),
    HttpReply.of_json(200, {"status": 0, "message_token": f"x{TOKEN}x", "failed_list": []}),
    HttpReply.of_json(200, {"status": 2, "status_message": f"invalid token {TOKEN}"}),
    HttpReply.of_json(200, {"status": 0, "message_token": 1, "failed_list": [{"receiver": TOKEN, "status": 6}]}),
    HttpReply(status=200, body=f"garbage {TOKEN}".encode()),
    HttpReply(status=500, body=TOKEN.encode()),
    HttpReply(status=401, body=TOKEN.encode()),
]


@pytest.mark.parametrize("reply", ECHOING_REPLIES)
def test_a_reply_echoing_the_token_leaves_no_trace(reply: HttpReply) -> None:
    assert_clean(single(reply))
    assert_clean(batch(reply))


@settings(max_examples=60)
@given(status=st.integers(100, 599), body=st.binary(max_size=40), position=st.integers(0, 40))
def test_any_reply_carrying_the_token_is_redacted(status: int, body: bytes, position: int) -> None:
    body = body[:position] + TOKEN.encode() + body[position:]
    assert_clean(single(HttpReply(status=status, body=body)))
    assert_clean(batch(HttpReply(status=status, body=body)))


def test_forged_callbacks_carrying_the_token_leave_no_trace() -> None:
    event = {"event": "failed", "timestamp": 1, "message_token": TOKEN, "user_id": TOKEN, "desc": f"bad {TOKEN}"}
    body = json.dumps(event).encode()
    headers = {"X-Viber-Content-Signature": TOKEN}
    assert False is viber.Viber().verify_callback(integration=INTEGRATION, headers=headers, body=body)
    updates = viber.Viber().parse_callback(integration=INTEGRATION, headers=headers, body=body)
    assert 2 == len(updates or [])
    assert_clean(updates)


def test_configuration_errors_do_not_quote_the_token() -> None:
    long_name = Integration(name="v", provider="viber", settings={"auth_token": TOKEN, "sender_name": "N" * 40})
    for integration, message in [(INTEGRATION, TemplateMessage("t")), (long_name, TextMessage("x"))]:
        with pytest.raises(ConfigError) as caught:
            viber.Viber().build_call(integration=integration, chat_id="u", message=message)
        assert_clean(caught.value)


def test_the_entry_point_is_registered_under_broadcaster() -> None:
    [entry] = [ep for ep in importlib.metadata.entry_points(group="broadcaster") if ep.name == "viber"]
    assert "broadcaster_viber" == entry.value
    assert viber is entry.load()
    assert "broadcaster-viber" == entry.dist.name  # type: ignore[union-attr]


def test_loaded_through_its_entry_point_the_provider_registers() -> None:
    from broadcaster.plugins import ProviderRegistry, make_plugin_manager

    registry = ProviderRegistry(make_plugin_manager(environ={}), strict=True)
    info = registry.info("viber")
    assert ("viber", "broadcaster-viber") == (info.plugin_name, info.distribution)
    assert isinstance(info.provider_object, viber.Viber)
    assert 300 == info.spec.max_batch
    call = registry.build_batch_call(integration=INTEGRATION, recipients=[("c", "u")], message=TextMessage("y"))
    assert call is not None
    assert ("c",) == call.recipients
