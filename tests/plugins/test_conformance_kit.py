"""The conformance kit catches each broken promise (a kit that never fails would prove nothing)."""

from __future__ import annotations

import re
import types

import pytest

import broadcaster.testing
from broadcaster.core.channels import ChannelSpec
from broadcaster.core.http import HttpCall
from broadcaster.core.models import Integration
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason, sanitize_reason_text
from broadcaster.core.results import Delivered, Failed, RateLimited
from broadcaster.plugin import Provider
from broadcaster.testing import ConformanceError, check_provider_conformance, send_through_mock

TOKEN = "fake-acme-token-123456"
INTEGRATION = Integration("acme-main", "acme", {"token": TOKEN})


def make_plugin(**overrides):
    """A correct little plugin; ``overrides`` swap in broken hook bodies."""

    def build(integration, chat_id, message):
        return HttpCall(
            "POST",
            f"https://acme.test/send?key={integration.settings['token']}",
            json={"to": chat_id, "text": message.text},
            secrets=(integration.settings["token"],),
        )

    def read(integration, call, reply):
        if reply.status == 401:
            return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed(integration.name))
        body, problem = reply.json_body()
        if problem or not isinstance(body, dict):
            return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "bad", problem or "not an object"))
        if reply.status == 200:
            return Delivered(message_id=None, confirmed=True)
        return Failed(ErrorKind.PAYLOAD, ErrorReason("acme", "err", "refused"))

    hooks = {"build": build, "read": read, **overrides}

    class Acme(Provider):
        @property
        def spec(self) -> ChannelSpec:
            return ChannelSpec(provider="acme", required_settings=("token",), secret_settings=("token",))

        def build_call(self, integration, chat_id, message):
            from broadcaster.core.errors import ConfigError

            if "token" not in integration.settings:
                raise ConfigError("acme needs a token")
            return hooks["build"](integration, chat_id, message)

        def interpret_reply(self, integration, call, reply):
            return hooks["read"](integration, call, reply)

    return Acme()


def check(plugin):
    check_provider_conformance(plugin, provider="acme", integration=INTEGRATION, max_examples=30)


def test_a_correct_plugin_passes():
    check(make_plugin())


def leaky_reason(integration, call, reply):
    text = reply.body.decode("utf-8", "replace")
    return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "err", sanitize_reason_text(text)))


def redacts_whole_secrets_only(integration, call, reply):
    # the bug of issue 10: "token part SECRETSECRET" echoed half a token into every row
    text = reply.body.decode("utf-8", "replace").replace(TOKEN, "***")
    return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "err", sanitize_reason_text(text)))


def raising(integration, call, reply):
    return Delivered(message_id=reply.json_body()[0]["id"])


def unbounded_json(integration, call, reply):
    import json

    try:
        json.loads(reply.body)
    except ValueError:
        pass  # but not RecursionError: 2 KB of "[[[[" raises it
    return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "bad", "whatever"))


def negative_hint(integration, call, reply):
    hint = RateLimited()
    object.__setattr__(hint, "retry_after", -1.0)  # past the converter, as a careless plugin might
    return hint


def unbounded_hint(integration, call, reply):
    hint = RateLimited()
    object.__setattr__(hint, "retry_after", 1e308)
    return hint


def garbled_success_is_transient(integration, call, reply):
    if 200 <= reply.status < 300 and reply.json_body()[1] is not None:
        return Failed(ErrorKind.TRANSIENT, ErrorReason("acme", "bad", "unreadable"))
    return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "bad", "whatever"))


def proxy_page_blames_the_contact(integration, call, reply):
    if not 200 <= reply.status < 300 and reply.json_body()[1] is not None:
        return Failed(ErrorKind.PERMANENT_CONTACT, ErrorReason("acme", "bad", "unreadable"))
    return Failed(ErrorKind.UNKNOWN, ErrorReason("acme", "bad", "whatever"))


def bad_auth(integration, call, reply):
    return Failed(ErrorKind.INTEGRATION, ErrorReason.auth_failed("acme"))


def unlisted_secret(integration, chat_id, message):
    return HttpCall("POST", f"https://acme.test/send?key={integration.settings['token']}", json={})


def relative_url(integration, chat_id, message):
    return HttpCall("POST", "/send", json={}, secrets=(TOKEN,))


def not_json(integration, chat_id, message):
    return HttpCall("POST", "https://acme.test/send", json={"when": object()})


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"read": leaky_reason}, "contains a secret"),
        ({"read": raising}, "interpret_reply raised"),
        ({"read": redacts_whole_secrets_only}, "contains a secret or part of one"),
        ({"read": unbounded_json}, "interpret_reply raised RecursionError"),
        ({"read": negative_hint}, "must be a finite number of seconds from 0 to 3600.0"),
        ({"read": unbounded_hint}, "must be a finite number of seconds from 0 to 3600.0"),
        ({"read": garbled_success_is_transient}, "an unreadable 2xx reply is Failed(TRANSIENT)"),
        ({"read": proxy_page_blames_the_contact}, "is Failed(PERMANENT_CONTACT)"),
        ({"read": bad_auth}, "auth failures are <integration>:auth_failed"),
        ({"build": unlisted_secret}, "does not list in HttpCall.secrets"),
        ({"build": relative_url}, "not an absolute http(s) URL"),
        ({"build": not_json}, "not JSON-serialisable"),
    ],
)
def test_each_broken_promise_is_caught(overrides, complaint):
    with pytest.raises(ConformanceError, match=re.escape(complaint)) as caught:
        check(make_plugin(**overrides))
    assert TOKEN not in str(caught.value)


def test_short_fake_secrets_are_refused():
    with pytest.raises(ConformanceError, match="at least 8 characters"):
        check_provider_conformance(make_plugin(), provider="acme", integration=Integration("a", "acme", {"token": "x"}))


def test_the_kit_imports_without_pytest_or_hypothesis():
    # broadcaster.testing resolves its names lazily: importing it loads neither
    assert isinstance(broadcaster.testing, types.ModuleType)
    assert "strategies" in dir(broadcaster.testing)


def test_send_through_mock_round_trips_method_url_headers_and_json():
    import httpx

    seen = {}

    def handler(request):
        seen.update(method=request.method, url=str(request.url), auth=request.headers["x-key"], body=request.content)
        return httpx.Response(201, headers={"retry-after": "2"}, content=b"{}")

    call = HttpCall("PUT", "https://acme.test/x?y=1", headers={"x-key": "k"}, json={"a": 1})
    reply = send_through_mock(call, handler)
    assert {"method": "PUT", "url": "https://acme.test/x?y=1", "auth": "k", "body": b'{"a":1}'} == seen
    assert (201, "2", b"{}") == (reply.status, reply.header("Retry-After"), reply.body)


def test_pytest_plugin_fixtures(plugin_manager, provider_registry):
    assert () == tuple(p for p in plugin_manager.list_name_plugin() if p[0] in ("telegram", "whatsapp"))
    assert {"telegram", "whatsapp"} <= set(provider_registry.providers)
