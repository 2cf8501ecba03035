"""Small helpers every provider plugin needs, so each plugin keeps only its provider's rules.

Pure functions over broadcaster's values: nothing here does I/O, reads the clock or holds
state. A plugin uses them inside its hooks:

* settings — :func:`require_setting`, :func:`base_url`, :func:`secrets_of`;
* callbacks — :func:`header_value`, :func:`verify_hmac_sha256`, :func:`meta_signature_ok`,
  :func:`same_secret`;
* replies — :func:`json_object`, :func:`parse_json_object` (callback bodies), :func:`retry_after_header`, :func:`seconds`,
  :func:`reason_from_text`, :func:`malformed_reply`.

What stays in a plugin: its error catalogue, its request shape, and what its provider's
statuses mean. Those differ between providers even where the code looks alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any, Final, Iterable, Mapping
from urllib.parse import quote

from .core.channels import ChannelSpec
from .core.errors import ConfigError
from .core.http import HttpCall, HttpReply, redact
from .core.models import Integration
from .core.outcomes import ErrorKind
from .core.reasons import ErrorReason, sanitize_reason_text
from .core.results import MAX_RETRY_AFTER, Failed, RateState

__all__ = [
    "META_SIGNATURE_HEADER",
    "base_url",
    "header_value",
    "json_object",
    "malformed_reply",
    "meta_signature_ok",
    "parse_json_object",
    "reason_from_text",
    "require_setting",
    "rate_state",
    "retry_after_header",
    "same_secret",
    "seconds",
    "secrets_of",
    "verify_hmac_sha256",
]

#: Meta (WhatsApp Cloud API, Instagram, Messenger) signs webhook POSTs in this header.
META_SIGNATURE_HEADER: Final = "X-Hub-Signature-256"


# -- settings ------------------------------------------------------------------------------


def require_setting(
    integration: Integration, name: str, *, provider: str, default: str | None = None, hint: str | None = None
) -> str:
    """The setting ``name``, whitespace-trimmed; ``default`` when it is absent.

    Raises :class:`ConfigError` naming the integration, the provider and the setting (never
    its value, which may be a secret) when the value is missing, blank or not a string.
    """
    value = integration.settings.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"integration {integration.name!r} ({provider}) has no {name!r} setting",
            hint=hint or f"set {name} in the integration's settings",
        )
    return value.strip()


def base_url(integration: Integration, default: str) -> str:
    """The ``base_url`` setting without trailing ``/``; ``default`` when absent or blank.

    Raises :class:`ConfigError` unless it is an absolute http(s) URL: a relative one would
    make every request of the integration fail at send time instead of at configuration.
    """
    value = integration.settings.get("base_url")
    if value is None or (isinstance(value, str) and not value.strip()):
        value = default
    url = value.strip().rstrip("/") if isinstance(value, str) else value
    # after rstrip, so "https://" alone (no host) is refused too
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(
            f"integration {integration.name!r}: base_url {url!r} is not an http(s) URL",
            hint=f"e.g. {default}, or leave it unset for that",
        )
    return url


def secrets_of(
    integration: Integration, spec: ChannelSpec, *, url_encoded: bool = False, call: HttpCall | None = None
) -> tuple[str, ...]:
    """Every secret to redact: the values of ``spec.secret_settings`` that are set.

    ``url_encoded`` adds each value's percent-encoded spellings, for a plugin that puts a
    secret in a query string (the URL then carries the encoded form, not the raw one).
    ``call`` adds the secrets the request carried first: when reading a reply, a token
    rotated since the call was built must still be redacted. No duplicates, order kept.
    """
    found: list[str] = list(call.secrets) if call is not None else []
    for name in spec.secret_settings:
        value = integration.settings.get(name)
        if isinstance(value, str) and value:
            found.append(value)
            if url_encoded:
                found += [quote(value, safe=""), quote(value)]
    return tuple(dict.fromkeys(found))


# -- callbacks -----------------------------------------------------------------------------


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The first header called ``name`` (any case), or None; non-string entries are skipped."""
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def same_secret(expected: str, given: str | None) -> bool:
    """Constant-time equality of two secrets; False when ``given`` is None.

    Compares bytes: ``hmac.compare_digest`` refuses non-ASCII ``str``, and a hostile
    header may hold anything.
    """
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def verify_hmac_sha256(secret: str | bytes, body: bytes, signature: str | None, *, prefix: str = "") -> bool:
    """Whether ``signature`` is ``prefix`` + the hex HMAC-SHA256 of ``body`` keyed by ``secret``.

    ``body`` must be the raw request bytes (re-serialised JSON would differ). The hex part
    may be upper case or carry surrounding white space; the prefix must match exactly.
    The comparison is constant-time.
    """
    if signature is None or not signature.startswith(prefix):
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return same_secret(expected, signature[len(prefix) :].strip().lower())


def meta_signature_ok(*, app_secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Meta's webhook rule: ``X-Hub-Signature-256: sha256=<hex HMAC of the raw body>``."""
    return verify_hmac_sha256(app_secret, body, header_value(headers, META_SIGNATURE_HEADER), prefix="sha256=")


# -- replies -------------------------------------------------------------------------------


def json_object(reply: HttpReply, *, not_an_object: str = "reply is not a JSON object") -> dict[str, Any] | str:
    """The reply's body when it is a JSON object, else a string saying why it is not.

    The string is :meth:`HttpReply.json_body`'s (``empty body``, ``body is not valid
    JSON``, ...) or ``not_an_object`` for JSON of another shape. Never raises.
    """
    value, why_not = reply.json_body()
    if why_not is not None:
        return why_not
    return value if isinstance(value, dict) else not_an_object


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """A callback's raw body as a JSON object, or None for anything else; never raises.

    For ``parse_callback``: a body that is not a JSON object carries no update.
    """
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return None
    return value if isinstance(value, dict) else None


def seconds(value: Any, *, divisor: float = 1) -> float | None:
    """``value / divisor`` as seconds if ``value`` is a number (not a bool) giving a finite
    result ≥ 0, else None. ``divisor=1000`` reads a millisecond timestamp."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        result = value / divisor
    except OverflowError:  # an integer too large for a float: a JSON body can hold one
        return None
    return result if math.isfinite(result) and result >= 0 else None


def retry_after_header(reply: HttpReply) -> float | None:
    """A numeric ``Retry-After`` header in seconds (≥ 0), else None.

    An absurdly long hint (``inf``, ``1e999``) is the provider asking for the longest pause
    there is: it becomes :data:`MAX_RETRY_AFTER`, and the retry budget decides from there.
    An HTTP-date, a negative number, ``nan`` or garbage gives None: the runtime's backoff decides then.
    """
    header = reply.header("retry-after")
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    if value == math.inf:
        return float(MAX_RETRY_AFTER)
    return seconds(value)


def _header_number(reply: HttpReply, name: str) -> float | None:
    header = reply.header(name)
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def rate_state(
    reply: HttpReply,
    *,
    remaining: str = "X-RateLimit-Remaining",
    reset_after: str = "X-RateLimit-Reset-After",
    limit: str = "X-RateLimit-Limit",
) -> RateState | None:
    """The rate budget a reply's headers report (names are your provider's), or None
    when it reports none. Garbage, negative or non-finite values count as absent, so a
    proxy's odd header never breaks pacing. Attach it to the success:
    ``Delivered(message_id, confirmed=True, rate=rate_state(reply))``.
    """
    left, reset, size = (_header_number(reply, name) for name in (remaining, reset_after, limit))
    if left is None and reset is None and size is None:
        return None
    return RateState(
        remaining=None if left is None else int(left),
        reset_after=reset,
        limit=None if size is None else int(size),
    )


def reason_from_text(
    provider: str, code: str | None, text: str, *, secrets: Iterable[str], fallback: str = "unknown_error"
) -> ErrorReason:
    """An :class:`ErrorReason` keeping a provider's own words, made safe for a row.

    Redacts ``secrets`` *before* sanitising: a provider echoing a token must not put it in
    a reason, and sanitising first could split the token so redaction misses it.
    """
    return ErrorReason(provider, code, sanitize_reason_text(redact(text, secrets), fallback=fallback))


def malformed_reply(provider: str, http_status: int, why: str, *, secrets: Iterable[str]) -> Failed:
    """A reply the plugin cannot read: ``provider:<status>:malformed_reply: <why>``.

    On a 2xx the provider may well have sent the message, so its fate is UNKNOWN (never
    resent silently); otherwise the unreadable answer came from something in between, so
    it is TRANSIENT.
    """
    kind = ErrorKind.UNKNOWN if 200 <= http_status < 300 else ErrorKind.TRANSIENT
    code = str(http_status) if http_status >= 0 else "http"
    return Failed(kind, reason_from_text(provider, code, f"malformed_reply: {why}", secrets=secrets))
