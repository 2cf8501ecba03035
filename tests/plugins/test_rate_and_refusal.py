"""Richer results: build_call refuses as a value (nothing sent), and a success reports
the reply's rate budget for pacing."""

from __future__ import annotations

import math

import pytest

from broadcaster.core.models import Integration, TextMessage
from broadcaster.plugin import (
    ChannelSpec,
    Delivered,
    ErrorKind,
    ErrorReason,
    Failed,
    HttpCall,
    HttpReply,
    Provider,
    RateState,
    rate_state,
)
from broadcaster.plugins import ProviderRegistry, make_plugin_manager


class Limited(Provider):
    spec = ChannelSpec(provider="dc")

    def build_call(self, integration, chat_id, message):
        if len(message.text) > 20:
            return Failed(ErrorKind.PAYLOAD, ErrorReason("dc", "50035", "message_too_long"))
        return HttpCall("POST", "https://dc.test/messages", json={"to": chat_id, "content": message.text})

    def interpret_reply(self, integration, call, reply):
        return Delivered("m1", confirmed=True, rate=rate_state(reply))


REGISTRY = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[Limited()]))
DC = Integration("dc-main", "dc")


def test_a_refused_message_is_a_failed_value_and_no_call():
    result = REGISTRY.build_call(integration=DC, chat_id="1", message=TextMessage("x" * 21))
    assert Failed(ErrorKind.PAYLOAD, ErrorReason("dc", "50035", "message_too_long")) == result


def test_rate_headers_of_a_success_reach_the_result():
    call = REGISTRY.build_call(integration=DC, chat_id="1", message=TextMessage("hi"))
    reply = HttpReply(200, (("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset-After", "2.5")))
    result = REGISTRY.interpret_reply(integration=DC, call=call, reply=reply)
    assert Delivered("m1", confirmed=True, rate=RateState(remaining=0, reset_after=2.5)) == result
    assert 2.5 == result.rate.pause()  # "0 remaining, reset in 2.5 s": wait, do not collect 429s


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), None),
        ((("X-RateLimit-Remaining", "4"),), RateState(remaining=4)),
        ((("X-RateLimit-Remaining", "-1"), ("X-RateLimit-Reset-After", "nan")), None),
        ((("X-RateLimit-Reset-After", "inf"), ("X-RateLimit-Limit", "abc")), None),
        ((("x-ratelimit-limit", "50"), ("x-ratelimit-remaining", "49")), RateState(remaining=49, limit=50)),
    ],
)
def test_rate_state_ignores_garbage(headers, expected):
    assert expected == rate_state(HttpReply(200, headers))


def test_pause_is_zero_while_budget_is_left():
    assert 0.0 == RateState(remaining=3, reset_after=9.0).pause()
    assert 0.0 == RateState(remaining=0).pause()


@pytest.mark.parametrize("bad", [{"remaining": -1}, {"reset_after": -0.5}, {"reset_after": math.inf}, {"limit": -2}])
def test_a_rate_state_cannot_hold_nonsense(bad):
    with pytest.raises(ValueError):
        RateState(**bad)
