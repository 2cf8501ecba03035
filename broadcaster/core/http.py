"""Provider requests and replies as plain values (the plugin codecs speak these).

A plugin builds an :class:`HttpCall` and interprets an :class:`HttpReply`; only the
runtime turns them into real HTTP. ``secrets`` lists the strings that must never be
shown (tokens in URL paths, headers, query strings): :func:`redact` removes them, and
any part of them long enough to matter (see :mod:`broadcaster.core.redaction`).

:meth:`HttpReply.json_body` is bounded: a body over :data:`MAX_JSON_BYTES` or nested
deeper than :data:`MAX_JSON_DEPTH` is refused as a value (the stdlib parser recurses, so
a hostile 2 KB of ``[[[[...`` would otherwise raise RecursionError inside a plugin).
"""

from __future__ import annotations

import json
from typing import Any, Final, Iterable, Mapping

import attrs

from .redaction import REDACTED, redact

__all__ = ["HttpCall", "HttpReply", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "redact", "REDACTED", "nests_deeper_than"]

#: a provider answers a few hundred bytes; a larger body is not parsed at all
MAX_JSON_BYTES: Final = 256 * 1024
#: no provider nests its replies deeper than a handful of levels
MAX_JSON_DEPTH: Final = 64

_OPENERS: Final = frozenset(b"[{")
_CLOSERS: Final = frozenset(b"]}")


def nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether a JSON text's brackets nest deeper than ``limit`` (brackets in strings ignored).

    One pass at most, stopping as soon as the answer is known.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # it cannot nest deeper than it has brackets
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


def _frozen_headers(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((str(k), str(v)) for k, v in items)


def _strings(items: Iterable[str]) -> tuple[str, ...]:
    # not ``converter=tuple``: mypy's attrs plugin cannot resolve its type variable
    return tuple(items)


@attrs.frozen(repr=False)
class HttpCall:
    """A request a plugin wants sent. ``json`` is the body (or None for no body).

    Its ``repr`` is redacted, so a call that lands in a log line or a test failure
    never shows a token.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_frozen_headers)
    json: Any = None
    secrets: tuple[str, ...] = attrs.field(default=(), converter=_strings, repr=False)
    #: how many contacts this call addresses (Viber's broadcast endpoint sends to many)
    recipients: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def redacted(self) -> str:
        """A one-line description safe to log."""
        return redact(f"{self.method} {self.url}", self.secrets)

    def __repr__(self) -> str:
        shown = (
            f"HttpCall(method={self.method!r}, url={self.url!r}, headers={self.headers!r}, "
            f"json={self.json!r}, recipients={self.recipients!r})"
        )
        return redact(shown, self.secrets)


@attrs.frozen
class HttpReply:
    """What the provider answered. ``body`` is the raw bytes, undecoded."""

    status: int
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_frozen_headers)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def json_body(self) -> tuple[Any, str | None]:
        """``(value, None)`` when the body is JSON, ``(None, why_not)`` otherwise; never raises."""
        if not self.body:
            return None, "empty body"
        if len(self.body) > MAX_JSON_BYTES:
            return None, f"body is larger than {MAX_JSON_BYTES} bytes"
        if nests_deeper_than(self.body, MAX_JSON_DEPTH):
            return None, f"body nests deeper than {MAX_JSON_DEPTH} levels"
        try:
            return json.loads(self.body), None
        except UnicodeDecodeError:
            return None, "body is not UTF-8"
        except (ValueError, RecursionError):
            return None, "body is not valid JSON"

    @classmethod
    def of_json(cls, status: int, value: Any, headers: Mapping[str, str] | None = None) -> HttpReply:
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=merged, body=json.dumps(value).encode())
