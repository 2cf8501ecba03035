"""Removing secrets from text that will be shown: reasons, log records, exception text.

A provider (or a proxy, or an attacker's server at ``base_url``) may echo *part* of a
secret: one side of Telegram's ``<bot id>:<secret>`` token, a cut-off access token, a
token whose middle a library logged. Redacting only whole secrets misses those, so
:func:`redact` hides every run of text that is made of pieces of a secret at least
:data:`MIN_FRAGMENT` characters long — any substring of a secret of that length, and
therefore each side of a Telegram token (a bot id has 8 to 10 digits). Secrets shorter
than that are redacted only whole: a 5-character fragment is too likely to be ordinary
text (a year, an error code) to hide.

Matching ignores case: an echo in upper case gives the secret away but for its case.
Every maximal run of redacted text becomes one :data:`REDACTED`, so the output never
says how long the secret (or the echoed part) was.
"""

from __future__ import annotations

from typing import Final, Iterable

__all__ = ["MIN_FRAGMENT", "REDACTED", "redact"]

REDACTED: Final = "***"

#: the shortest part of a secret that is hidden wherever it appears
MIN_FRAGMENT: Final = 8


def _folded(text: str) -> str:
    """``text`` in lower case, one character for one (so positions still line up)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


def _mark_whole(text: str, secret: str, hidden: bytearray) -> None:
    start = text.find(secret)
    while start >= 0:
        hidden[start : start + len(secret)] = b"\x01" * len(secret)
        start = text.find(secret, start + 1)


def _mark_fragments(text: str, secret: str, hidden: bytearray) -> None:
    # Every substring of the secret of length >= MIN_FRAGMENT is a union of the secret's
    # MIN_FRAGMENT-grams, so marking each window of the text that is one of those grams
    # hides all of them (and nothing that does not share a gram with the secret).
    grams = {secret[i : i + MIN_FRAGMENT] for i in range(len(secret) - MIN_FRAGMENT + 1)}
    width = MIN_FRAGMENT
    for i in range(len(text) - width + 1):
        if text[i : i + width] in grams:
            hidden[i : i + width] = b"\x01" * width


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and every part of one at least :data:`MIN_FRAGMENT`
    characters long, in any case, replaced by ``***`` (one per contiguous hidden run)."""
    wanted = [s for s in dict.fromkeys(secrets) if isinstance(s, str) and s]
    if not wanted or not text:
        return text
    hidden = bytearray(len(text))
    folded = _folded(text)
    for secret in wanted:
        if len(secret) < MIN_FRAGMENT:
            _mark_whole(folded, _folded(secret), hidden)
        else:
            _mark_fragments(folded, _folded(secret), hidden)
    if not any(hidden):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if hidden[i]:
            out.append(REDACTED)
            while i < len(text) and hidden[i]:
                i += 1
        else:
            j = hidden.find(b"\x01", i)
            j = len(text) if j < 0 else j
            out.append(text[i:j])
            i = j
    return "".join(out)
