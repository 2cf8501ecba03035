"""``provider:code:reason`` as a value: parse, format, and every malformation named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.errors import ConfigError, ReasonFormatError
from broadcaster.core.reasons import ErrorReason, parse_reason, sanitize_reason_text

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
ALNUM = TOKEN_CHARS[:62]

tokens = st.builds(lambda head, tail: head + tail, st.sampled_from(ALNUM), st.text(TOKEN_CHARS, max_size=15))
# Printable text, no control characters (C0 or DEL); any other character is allowed.
reason_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(i) for i in range(32)] + ["\x7f"])


@st.composite
def reason_texts(draw: st.DrawFn, *, colons: bool) -> str:
    text = draw(st.text(reason_chars, min_size=1, max_size=200))
    if not colons:
        text = text.replace(":", "_")
    text = text.strip()
    return text or "x"


@st.composite
def error_reasons(draw: st.DrawFn) -> ErrorReason:
    provider = draw(tokens)
    code = draw(st.none() | tokens)
    return ErrorReason(provider, code, draw(reason_texts(colons=code is not None)))


# -- the canonical shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "provider", "code", "reason"),
    [
        ("telegram:403:blocked_by_user", "telegram", "403", "blocked_by_user"),
        ("whatsapp:131047:re_engagement_message_required", "whatsapp", "131047", "re_engagement_message_required"),
        ("whatsapp:1:Unsupported message type", "whatsapp", "1", "Unsupported message type"),
        ("telegram:429:Too Many Requests", "telegram", "429", "Too Many Requests"),
        ("wa-main:auth_failed", "wa-main", None, "auth_failed"),
        ("viber:rate_limit_exhausted", "viber", None, "rate_limit_exhausted"),
        ("telegram:5xx:Bad Gateway", "telegram", "5xx", "Bad Gateway"),
        # with a code present, the reason keeps any further colons
        ("telegram:400:Bad Request: chat not found", "telegram", "400", "Bad Request: chat not found"),
    ],
)
def test_parse_seed_examples(text: str, provider: str, code: str | None, reason: str) -> None:
    parsed = parse_reason(text)
    assert ErrorReason(provider, code, reason) == parsed
    assert text == str(parsed)
    assert parsed == ErrorReason.parse(text)


def test_named_constructors() -> None:
    assert "wa-main:auth_failed" == str(ErrorReason.auth_failed("wa-main"))
    assert "telegram:rate_limit_exhausted" == str(ErrorReason.rate_limit_exhausted("telegram"))


@given(error_reasons())
def test_format_then_parse_is_identity(value: ErrorReason) -> None:
    assert value == parse_reason(str(value))


@given(tokens, st.none() | tokens, st.data())
def test_parse_then_format_is_identity(provider: str, code: str | None, data: st.DataObject) -> None:
    reason = data.draw(reason_texts(colons=code is not None))
    text = f"{provider}:{reason}" if code is None else f"{provider}:{code}:{reason}"
    assert text == str(parse_reason(text))


# -- malformations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("blocked_by_user", "found no ':'"),
        ("", "found no ':'"),
        (":403:blocked", "the provider '' must be"),
        (" telegram:403:blocked", "the provider ' telegram' must be"),
        ("tele gram:403:blocked", "the provider 'tele gram' must be"),
        ("telegram::blocked", "the code '' must be"),
        ("telegram:4 03:blocked", "the code '4 03' must be"),
        ("telegram:-403:blocked", "the code '-403' must be"),
        ("telegram:403:", "the reason is empty"),
        ("telegram:", "the reason is empty"),
        ("telegram:403: blocked", "leading or trailing whitespace"),
        ("telegram:403:blocked ", "leading or trailing whitespace"),
        ("telegram:403:blocked\nby user", "control character"),
        ("telegram:403:blocked\tby user", "control character"),
        ("telegram:403:blocked\x7f", "control character"),
        ("telegram:403:" + "x" * 201, "longer than 200 characters"),
    ],
)
def test_malformed_strings_are_rejected_saying_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ReasonFormatError) as caught:
        parse_reason(text)
    assert problem in str(caught.value)
    assert "BAD_ERROR_REASON" == caught.value.code
    # A ConfigError is also a ValueError: callers validating config catch one type.
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


def test_colon_in_a_code_less_reason_is_rejected() -> None:
    # "p:r" parses with no code, so a code-less reason holding ':' could not round-trip.
    with pytest.raises(ReasonFormatError, match="a reason without a code cannot contain ':'"):
        ErrorReason("whatsapp", None, "auth:failed")


def test_exactly_200_characters_is_allowed() -> None:
    assert "x" * 200 == parse_reason("telegram:403:" + "x" * 200).reason


def test_rejection_hints_at_the_canonical_shape() -> None:
    with pytest.raises(ReasonFormatError) as caught:
        parse_reason("telegram:403:")
    assert "telegram:403:" in caught.value.message
    assert caught.value.hint is not None and "provider:code:reason" in caught.value.hint


def test_non_string_is_rejected_by_type() -> None:
    with pytest.raises(ReasonFormatError, match="must be a string, not int"):
        parse_reason(403)  # type: ignore[arg-type]


# -- sanitize_reason_text -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Forbidden: bot was blocked by the user", "Forbidden: bot was blocked by the user"),
        ("  Bad\n\nGateway\t ", "Bad Gateway"),
        ("a\x00b\x7fc", "a b c"),
        ("", "unknown_error"),
        ("\n\t  \r", "unknown_error"),
        ("x" * 250, "x" * 200),
        ("x" * 199 + " y", "x" * 199),
    ],
)
def test_sanitize_reason_text(raw: str, expected: str) -> None:
    assert expected == sanitize_reason_text(raw)


def test_sanitize_fallback_is_configurable() -> None:
    assert "empty_body" == sanitize_reason_text("   ", fallback="empty_body")


@given(st.text(max_size=400))
def test_sanitized_text_is_always_a_valid_coded_reason(raw: str) -> None:
    cleaned = sanitize_reason_text(raw)
    assert cleaned == ErrorReason("telegram", "500", cleaned).reason
    assert len(cleaned) <= 200
