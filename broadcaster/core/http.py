"""Provider requests and replies as plain values (the plugin codecs speak these).

A plugin builds an :class:`HttpCall` and interprets an :class:`HttpReply`; only the
runtime turns them into real HTTP. ``secrets`` lists the strings that must never be
shown (tokens in URL paths, headers, query strings): :func:`redact` removes them.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import attrs

__all__ = ["HttpCall", "HttpReply", "redact", "REDACTED"]

REDACTED = "***"


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
        """``(value, None)`` when the body is JSON, ``(None, why_not)`` otherwise."""
        if not self.body:
            return None, "empty body"
        try:
            return json.loads(self.body), None
        except UnicodeDecodeError:
            return None, "body is not UTF-8"
        except ValueError:
            return None, "body is not valid JSON"

    @classmethod
    def of_json(cls, status: int, value: Any, headers: Mapping[str, str] | None = None) -> HttpReply:
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=merged, body=json.dumps(value).encode())


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (longest first, so overlapping ones go whole) with ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
