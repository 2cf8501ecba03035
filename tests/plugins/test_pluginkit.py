"""broadcaster.pluginkit: the helpers the provider plugins share."""

from __future__ import annotations

import hashlib
import hmac
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster import pluginkit
from broadcaster.core.channels import ChannelSpec
from broadcaster.core.errors import ConfigError
from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.models import Integration
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import MAX_RETRY_AFTER, Failed
from broadcaster.pluginkit import (
    base_url,
    header_value,
    json_object,
    malformed_reply,
    meta_signature_ok,
    parse_json_object,
    reason_from_text,
    require_setting,
    retry_after_header,
    same_secret,
    seconds,
    secrets_of,
    verify_hmac_sha256,
)

SPEC = ChannelSpec(provider="acme", secret_settings=("token", "app_secret"))


def acme(**settings: str) -> Integration:
    return Integration("acme-main", "acme", settings)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_public_names_exist_and_are_exactly_these() -> None:
    assert {
        "META_SIGNATURE_HEADER",
        "base_url",
        "header_value",
        "json_object",
        "malformed_reply",
        "meta_signature_ok",
        "parse_json_object",
        "rate_state",
        "reason_from_text",
        "require_setting",
        "retry_after_header",
        "same_secret",
        "seconds",
        "secrets_of",
        "verify_hmac_sha256",
    } == set(pluginkit.__all__)
    assert all(hasattr(pluginkit, name) for name in pluginkit.__all__)


# -- require_setting -----------------------------------------------------------------------


def test_a_setting_comes_back_trimmed() -> None:
    assert "abc" == require_setting(acme(token="  abc \n"), "token", provider="acme")


def test_the_default_stands_in_for_an_absent_setting_only() -> None:
    assert "v21.0" == require_setting(acme(), "api_version", provider="acme", default="v21.0")
    assert "v19.0" == require_setting(acme(api_version="v19.0"), "api_version", provider="acme", default="v21.0")


@pytest.mark.parametrize("settings", [{}, {"token": ""}, {"token": " \t"}])
def test_a_missing_or_blank_setting_names_integration_provider_and_setting(settings: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        require_setting(Integration("acme-main", "acme", settings), "token", provider="acme")
    assert "integration 'acme-main' (acme) has no 'token' setting" == caught.value.message
    assert "set token in the integration's settings" == caught.value.hint


def test_a_non_string_setting_is_refused_and_a_hint_can_be_given() -> None:
    integration = Integration("acme-main", "acme", {"token": 5})  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as caught:
        require_setting(integration, "token", provider="acme", hint="ask the acme console for one")
    assert "ask the acme console for one" == caught.value.hint


# -- base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "https://api.acme.example"),
        ({"base_url": ""}, "https://api.acme.example"),
        ({"base_url": "  "}, "https://api.acme.example"),
        ({"base_url": "http://localhost:9000/pa/"}, "http://localhost:9000/pa"),
        ({"base_url": " https://sim.example// "}, "https://sim.example"),
    ],
)
def test_base_url_defaults_and_loses_its_trailing_slashes(settings: dict[str, str], expected: str) -> None:
    assert expected == base_url(Integration("acme-main", "acme", settings), "https://api.acme.example/")


@pytest.mark.parametrize("value", ["api.acme.example", "ftp://x", "https://", "/v1", "HTTPS//x"])
def test_base_url_must_be_absolute_http(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        base_url(acme(base_url=value), "https://api.acme.example")
    assert caught.value.message.startswith(f"integration 'acme-main': base_url {value.strip().rstrip('/')!r} is not")
    assert "https://api.acme.example" in (caught.value.hint or "")


# -- secrets_of ----------------------------------------------------------------------------


def test_secrets_are_the_set_secret_settings_in_spec_order() -> None:
    integration = acme(app_secret="s3cret-app", token="tok-123", other="not-secret")
    assert ("tok-123", "s3cret-app") == secrets_of(integration, SPEC)
    assert () == secrets_of(acme(token=""), SPEC)


def test_url_encoded_spellings_are_added_once_each() -> None:
    assert ("a/b+c=", "a%2Fb%2Bc%3D", "a/b%2Bc%3D") == secrets_of(acme(token="a/b+c="), SPEC, url_encoded=True)
    assert ("plain-token",) == secrets_of(acme(token="plain-token"), SPEC, url_encoded=True)


def test_the_call_secrets_come_first_without_duplicates() -> None:
    call = HttpCall(method="POST", url="https://x.example/", secrets=("old-token", "tok-123"))
    assert ("old-token", "tok-123", "s3cret-app") == secrets_of(
        acme(token="tok-123", app_secret="s3cret-app"), SPEC, call=call
    )


# -- callbacks -----------------------------------------------------------------------------


def test_header_value_is_case_insensitive_and_skips_non_strings() -> None:
    headers = {"x-other": "1", "X-Hub-Signature-256": b"bytes", "x-hub-signature-256": "sha256=ab"}
    assert "sha256=ab" == header_value(headers, "X-HUB-SIGNATURE-256")  # type: ignore[arg-type]
    assert None is header_value({"x-other": "1"}, "x-hub-signature-256")


def test_same_secret() -> None:
    assert same_secret("tok", "tok")
    assert not same_secret("tok", "tok ")
    assert not same_secret("tok", None)
    assert not same_secret("tok", "tök")  # non-ASCII must not raise


def test_a_valid_hmac_passes_in_either_case_and_with_surrounding_space() -> None:
    body = '{"event":"delivered","é":1}'.encode()
    digest = sign("key", body)
    assert verify_hmac_sha256("key", body, digest)
    assert verify_hmac_sha256(b"key", body, f" {digest.upper()}\n")
    assert verify_hmac_sha256("key", body, f"sha256={digest}", prefix="sha256=")


@pytest.mark.parametrize(
    ("signature", "prefix"),
    [
        (None, ""),
        ("", ""),
        ("0" * 64, ""),
        ("SHA256=" + "0" * 64, "sha256="),
        ("sha256=héllo", "sha256="),
    ],
)
def test_anything_but_the_right_hmac_fails(signature: str | None, prefix: str) -> None:
    assert False is verify_hmac_sha256("key", b"{}", signature, prefix=prefix)


def test_the_prefix_is_required_when_given() -> None:
    assert False is verify_hmac_sha256("key", b"{}", sign("key", b"{}"), prefix="sha256=")


@settings(max_examples=50)
@given(secret=st.text(min_size=1), body=st.binary(), other=st.binary())
def test_hmac_accepts_its_own_signature_and_no_other_body(secret: str, body: bytes, other: bytes) -> None:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert verify_hmac_sha256(secret, body, signature)
    assert verify_hmac_sha256(secret, other, signature) is (other == body)


def test_meta_signature_is_the_sha256_prefixed_header() -> None:
    body = b'{"object":"instagram"}'
    good = {"x-hub-signature-256": f"sha256={sign('app-secret', body)}"}
    assert meta_signature_ok(app_secret="app-secret", headers=good, body=body)
    assert not meta_signature_ok(app_secret="other-secret", headers=good, body=body)
    assert not meta_signature_ok(
        app_secret="app-secret", headers={"X-Hub-Signature": good["x-hub-signature-256"]}, body=body
    )
    assert not meta_signature_ok(
        app_secret="app-secret", headers={"X-Hub-Signature-256": sign("app-secret", body)}, body=body
    )


# -- replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"ok": true}', {"ok": True}),
        (b"", "empty body"),
        (b"{", "body is not valid JSON"),
        (b"\xff", "body is not UTF-8"),
        (b"[1]", "reply is not a JSON object"),
        (b"null", "reply is not a JSON object"),
    ],
)
def test_json_object(body: bytes, expected: object) -> None:
    assert expected == json_object(HttpReply(status=200, body=body))


def test_json_object_wording_for_another_shape_is_the_plugins() -> None:
    assert "the reply is not a JSON object" == json_object(
        HttpReply(status=200, body=b"0"), not_an_object="the reply is not a JSON object"
    )


@pytest.mark.parametrize(
    ("value", "divisor", "expected"),
    [
        (3, 1, 3.0),
        (2.5, 1, 2.5),
        (1700000000123, 1000, 1700000000.123),
        (0, 1000, 0.0),
        (-1, 1, None),
        (True, 1, None),
        ("3", 1, None),
        (None, 1, None),
        (math.inf, 1, None),
        (math.nan, 1, None),
        (10**400, 1, None),
    ],
)
def test_seconds(value: object, divisor: float, expected: float | None) -> None:
    assert expected == seconds(value, divisor=divisor)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-1", None),
        ("nan", None),
        ("inf", float(MAX_RETRY_AFTER)),
        ("1e999", float(MAX_RETRY_AFTER)),
        ("-inf", None),
        ("Wed, 21 Oct 2015", None),
    ],
)
def test_retry_after_header(header: str, expected: float | None) -> None:
    assert expected == retry_after_header(HttpReply(status=429, headers={"Retry-After": header}))


def test_no_retry_after_header_is_no_hint() -> None:
    assert None is retry_after_header(HttpReply(status=429))


def test_reason_text_is_redacted_before_it_is_sanitised() -> None:
    reason = reason_from_text("acme", "400", "bad token tok-123\nsee docs", secrets=("tok-123",))
    assert ErrorReason("acme", "400", "bad token *** see docs") == reason
    assert ErrorReason("acme", None, "nothing_said") == reason_from_text(
        "acme", None, " \n ", secrets=(), fallback="nothing_said"
    )


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (200, ErrorKind.UNKNOWN, "200"),
        (204, ErrorKind.UNKNOWN, "204"),
        (400, ErrorKind.TRANSIENT, "400"),
        (502, ErrorKind.TRANSIENT, "502"),
        (-1, ErrorKind.TRANSIENT, "http"),
    ],
)
def test_malformed_reply(status: int, kind: ErrorKind, code: str) -> None:
    expected = Failed(kind, ErrorReason("acme", code, "malformed_reply: echo ***"))
    assert expected == malformed_reply("acme", status, "echo tok-123", secrets=("tok-123",))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"event": "seen"}', {"event": "seen"}),
        (b"", None),
        (b"\xff", None),
        (b"[{}]", None),
        (b'"text"', None),
        (b"[" * 100_000, None),  # too deep for the parser: still no exception
    ],
)
def test_parse_json_object(body: bytes, expected: object) -> None:
    assert expected == parse_json_object(body)
