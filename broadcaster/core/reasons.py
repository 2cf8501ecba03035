"""``provider:code:reason`` error strings as a value type.

Two shapes exist in the wild and both are canonical:

* ``provider:code:reason`` — ``telegram:403:blocked_by_user``,
  ``whatsapp:131047:re_engagement_message_required``, ``telegram:429:Too Many Requests``;
* ``provider:reason`` — no code: ``<integration>:auth_failed``,
  ``<provider>:rate_limit_exhausted``.

``provider`` is a provider or integration name, ``code`` a token with no spaces or
colons (usually digits, ``5xx`` for a class of statuses), ``reason`` free text on one
line: a snake_case token from a plugin's map or, for unmapped errors, the provider's own
words. A reason may contain colons only when a code is present, so that parsing and
formatting are exact inverses.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

from .errors import ReasonFormatError

__all__ = ["ErrorReason", "parse_reason", "sanitize_reason_text"]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_CODE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_MAX_REASON: Final = 200


def _check_reason(reason: str, *, has_code: bool) -> str | None:
    if not reason:
        return "the reason is empty"
    if reason != reason.strip():
        return "the reason has leading or trailing whitespace"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in reason):
        return "the reason contains a control character (newline, tab, ...)"
    if len(reason) > _MAX_REASON:
        return f"the reason is longer than {_MAX_REASON} characters"
    if not has_code and ":" in reason:
        return "a reason without a code cannot contain ':'"
    return None


@attrs.frozen(order=True)
class ErrorReason:
    """A parsed ``provider:code:reason``; ``str()`` gives the canonical string back."""

    provider: str
    code: str | None
    reason: str

    def __attrs_post_init__(self) -> None:
        problem = None
        if not _NAME.match(self.provider):
            problem = f"the provider {self.provider!r} must be letters, digits, '_', '.' or '-'"
        elif self.code is not None and not _CODE.match(self.code):
            problem = f"the code {self.code!r} must be letters, digits, '_', '.' or '-', with no spaces"
        else:
            problem = _check_reason(self.reason, has_code=self.code is not None)
        if problem:
            raise ReasonFormatError(
                f"invalid error reason {self._raw()!r}: {problem}",
                hint="write it as provider:code:reason, e.g. telegram:403:blocked_by_user",
            )

    def _raw(self) -> str:
        if self.code is None:
            return f"{self.provider}:{self.reason}"
        return f"{self.provider}:{self.code}:{self.reason}"

    def __str__(self) -> str:
        return self._raw()

    @classmethod
    def parse(cls, text: str) -> ErrorReason:
        return parse_reason(text)

    @classmethod
    def auth_failed(cls, integration: str) -> ErrorReason:
        return cls(integration, None, "auth_failed")

    @classmethod
    def rate_limit_exhausted(cls, provider: str) -> ErrorReason:
        return cls(provider, None, "rate_limit_exhausted")


def sanitize_reason_text(text: str, *, fallback: str = "unknown_error") -> str:
    """Make arbitrary provider text usable as a reason: one line, trimmed, bounded."""
    cleaned = " ".join("".join(ch if ord(ch) >= 32 and ord(ch) != 127 else " " for ch in text).split())
    cleaned = cleaned[:_MAX_REASON].strip()
    return cleaned or fallback


def parse_reason(text: str) -> ErrorReason:
    """Parse ``provider:code:reason`` or ``provider:reason``; raise ReasonFormatError."""
    if not isinstance(text, str):
        raise ReasonFormatError(f"an error reason must be a string, not {type(text).__name__}")
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise ReasonFormatError(
            f"invalid error reason {text!r}: expected provider:code:reason or provider:reason, found no ':'",
            hint="e.g. telegram:403:blocked_by_user or whatsapp:auth_failed",
        )
    if len(parts) == 2:
        return ErrorReason(parts[0], None, parts[1])
    return ErrorReason(parts[0], parts[1], parts[2])
