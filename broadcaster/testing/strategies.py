"""Hypothesis strategies for what a provider may send back: replies and callbacks.

Real providers answer with their documented shapes most of the time and with anything at
all the rest of the time (a proxy's HTML error page, a truncated body, a ``Retry-After``
of ``-3`` or an HTTP date). These strategies mix both, and weave the integration's
``secrets`` into provider text so that a plugin copying provider words into an error
reason without redacting them is caught.

Pass ``shapes`` (a strategy of JSON values shaped like your provider's real replies) to
steer generation towards the branches of your own parser.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from hypothesis import strategies as st

from ..core.http import HttpReply
from ..core.redaction import MIN_FRAGMENT

__all__ = [
    "callback_bodies",
    "callback_headers",
    "json_values",
    "nested_brackets",
    "provider_replies",
    "reply_bodies",
    "reply_headers",
    "retry_after_values",
    "secret_parts",
    "shaped_json",
    "statuses",
    "texts",
]

#: keys that real provider payloads use, so generated objects hit real parsing branches
KEYS: Sequence[str] = (
    "ok", "result", "message_id", "error_code", "description", "parameters", "retry_after",
    "migrate_to_chat_id", "error", "code", "error_subcode", "message", "title", "type", "is_transient",
    "error_data", "details", "messages", "id", "contacts", "status", "status_message", "message_token",
    "failed_list", "receiver", "event", "timestamp", "object", "entry", "changes", "field", "value",
    "statuses", "errors", "recipient_id", "desc", "user_id",
)  # fmt: skip

_COMMON_STATUSES = (200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504)


def secret_parts(secrets: Sequence[str]) -> st.SearchStrategy[str]:
    """What a provider may echo of a secret: all of it, one side of a ``:``, or any piece
    of :data:`~broadcaster.core.redaction.MIN_FRAGMENT` characters or more, in any case."""
    whole = st.sampled_from(list(secrets))

    def piece(secret: str, data: st.DataObject) -> str:
        if len(secret) <= MIN_FRAGMENT:
            return secret
        start = data.draw(st.integers(0, len(secret) - MIN_FRAGMENT))
        return secret[start : data.draw(st.integers(start + MIN_FRAGMENT, len(secret)))]

    sides = [side for s in secrets for side in s.split(":") if len(side) >= MIN_FRAGMENT and side != s]
    parts = [whole, st.builds(piece, whole, st.data())]
    if sides:
        parts.append(st.sampled_from(sides))
    return st.one_of(*parts).flatmap(lambda text: st.sampled_from([text, text.upper(), text.lower()]))


def texts(secrets: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Short strings, sometimes containing (part of) one of ``secrets``, as providers echo tokens."""
    plain = st.text(max_size=40)
    if not secrets:
        return plain
    leaky = st.builds(lambda a, s, b: f"{a}{s}{b}", plain, secret_parts(secrets), plain)
    return st.one_of(plain, leaky)


def json_values(secrets: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """Any JSON value, nested a little."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(secrets),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    )


def shaped_json(secrets: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """JSON objects using real payload keys with values of the right or wrong type."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**6), max_value=10**16),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["0", "12", "sent", "delivered", "read", "failed", "ok", "1700000000"]),
        # retry hints and ids at the edges: huge, negative, zero, not a number
        st.sampled_from([1e308, -1e308, -5, -0.5, 0, 10**30, -(10**30), "soon", "1e308"]),
        texts(secrets),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(st.sampled_from(KEYS), children, max_size=6)
        ),
        max_leaves=20,
    ).filter(lambda value: isinstance(value, (dict, list)))


def statuses() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(_COMMON_STATUSES), st.integers(min_value=100, max_value=599))


def retry_after_values() -> st.SearchStrategy[str]:
    """``Retry-After`` header values, valid and not."""
    return st.one_of(
        st.integers(min_value=-100, max_value=10**6).map(str),
        st.floats().map(repr),
        st.sampled_from(
            [
                "",
                " 5 ",
                "-1",
                "nan",
                "inf",
                "-inf",
                "1e309",
                "1e308",
                "9" * 400,
                "-5",
                "0.5",
                "soon",
                "Wed, 21 Oct 2015 07:28:00 GMT",
            ]
        ),  # fmt: skip
        st.text(max_size=12),
    )


def reply_headers() -> st.SearchStrategy[dict[str, str]]:
    optional = st.fixed_dictionaries(
        {},
        optional={
            "retry-after": retry_after_values(),
            "content-type": st.sampled_from(["application/json", "text/html", "text/plain", ""]),
            "x-unknown": st.text(max_size=10),
        },
    )
    return optional


def _truncated(value: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(value).encode()
    return st.integers(min_value=0, max_value=max(len(text) - 1, 0)).map(lambda n: text[:n])


def reply_bodies(
    *, shapes: st.SearchStrategy[Any] | None = None, secrets: Sequence[str] = ()
) -> st.SearchStrategy[bytes]:
    """Reply bodies: empty, binary, HTML, truncated JSON, any JSON, payload-shaped JSON."""
    documents = [json_values(secrets), shaped_json(secrets)]
    if shapes is not None:
        documents.append(shapes)
    any_document = st.one_of(*documents)
    encoded = any_document.map(lambda value: json.dumps(value).encode())
    return st.one_of(
        st.just(b""),
        st.binary(max_size=64),
        st.sampled_from([b"<html><body>502 Bad Gateway</body></html>", b"null", b"[]", b"{}", b"\xff\xfe"]),
        nested_brackets(),
        any_document.flatmap(_truncated),
        encoded,
        # weighted twice: well-formed JSON is what reaches the interesting branches
        encoded,
    )


def nested_brackets() -> st.SearchStrategy[bytes]:
    """Deeply nested JSON, balanced or not (``[[[[…``, ``{"a":{"a":…``): a parser that
    recurses without a bound raises RecursionError on a couple of kilobytes of it."""
    depth = st.integers(min_value=65, max_value=5000)
    return st.one_of(
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: b"[" * n),
        depth.map(lambda n: b'{"error":' * n + b"1" + b"}" * n),
        depth.map(lambda n: b'{"ok":false,"parameters":' + b"[" * n + b"]" * n + b"}"),
    )


def provider_replies(
    *, shapes: st.SearchStrategy[Any] | None = None, secrets: Sequence[str] = ()
) -> st.SearchStrategy[HttpReply]:
    """Whole :class:`HttpReply` values: random status, headers and body."""
    return st.builds(
        lambda status, headers, body: HttpReply(status=status, headers=headers, body=body),
        statuses(),
        reply_headers(),
        reply_bodies(shapes=shapes, secrets=secrets),
    )


def callback_headers() -> st.SearchStrategy[dict[str, str]]:
    signature = st.one_of(st.text(max_size=80), st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True))
    return st.fixed_dictionaries(
        {},
        optional={
            "x-hub-signature-256": signature,
            "x-viber-content-signature": signature,
            "x-telegram-bot-api-secret-token": st.text(max_size=40),
            "content-type": st.just("application/json"),
        },
    )


def callback_bodies(
    *, shapes: st.SearchStrategy[Any] | None = None, secrets: Sequence[str] = ()
) -> st.SearchStrategy[bytes]:
    """Callback POST bodies: garbage and payload-shaped JSON alike."""
    return reply_bodies(shapes=shapes, secrets=secrets)
