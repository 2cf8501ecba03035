"""Redaction hides whole secrets and every part of one long enough to matter (issue 10, item 5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broadcaster.core.redaction import MIN_FRAGMENT, REDACTED, redact

TELEGRAM_TOKEN = "123456789:AAEqZ7-Xk2pLw9_fR4tYvN0bHs8cJd3mUo"

# secrets never contain the redaction marker; a token alphabet (base64url and ':')
_SECRET_CHARS = st.characters(codec="ascii", categories=("L", "N"), include_characters="-_:.+/=")
secrets = st.text(_SECRET_CHARS, min_size=MIN_FRAGMENT, max_size=60)
noise = st.text(st.characters(codec="utf-8", exclude_characters="*"), max_size=40)


def fragments_of(secret: str) -> set[str]:
    folded = secret.lower()
    return {folded[i : i + MIN_FRAGMENT] for i in range(len(folded) - MIN_FRAGMENT + 1)}


def leaks(text: str, secret: str) -> list[str]:
    folded = text.lower()
    grams = fragments_of(secret)
    return [
        folded[i : i + MIN_FRAGMENT]
        for i in range(len(folded) - MIN_FRAGMENT + 1)
        if folded[i : i + MIN_FRAGMENT] in grams
    ]


@pytest.mark.parametrize(
    ("echo", "expected"),
    [
        ("token part AAEqZ7-Xk2pLw9_fR4tYvN0bHs8cJd3mUo", "token part ***"),  # the secret half
        ("bot 123456789 refused", "bot *** refused"),  # the bot id half
        ("secret Xk2pLw9_fR4t.", "secret ***."),  # a piece of the middle
        ("upper AAEQZ7-XK2PLW9 too", "upper *** too"),  # in another case
        ("/bot123456789:AAEqZ7-Xk2pLw9_fR4tYvN0bHs8cJd3mUo/send", "/bot***/send"),
        ("twice AAEqZ7-XAAEqZ7-X", "twice ***"),  # one marker per run: no length given away
        ("short 1234567 stays", "short 1234567 stays"),  # 7 characters of the id: too short to hide
    ],
)
def test_parts_of_a_telegram_token_are_hidden(echo: str, expected: str) -> None:
    assert expected == redact(echo, [TELEGRAM_TOKEN])


def test_a_short_secret_is_hidden_only_whole() -> None:
    assert "pin *** and 12" == redact("pin 1234 and 12", ["1234"])
    assert "PIN ***" == redact("PIN AbC", ["abc"])


def test_unicode_whose_lower_case_is_longer_keeps_positions() -> None:
    # "İ".lower() is two characters: positions must still line up with the original
    assert "İİ *** İ" == redact("İİ AAEqZ7-Xk2pLw9 İ", [TELEGRAM_TOKEN])


def test_nothing_to_hide_returns_the_text_itself() -> None:
    text = "no secret here at all"
    assert redact(text, [TELEGRAM_TOKEN, "", "absent"]) is text
    assert "" == redact("", [TELEGRAM_TOKEN])


@given(secret=secrets, before=noise, after=noise, data=st.data())
def test_no_fragment_of_a_secret_survives(secret: str, before: str, after: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(secret) - MIN_FRAGMENT))
    end = data.draw(st.integers(start + MIN_FRAGMENT, len(secret)))
    upper = data.draw(st.booleans())
    echoed = secret[start:end].upper() if upper else secret[start:end]
    shown = redact(f"{before}{echoed}{after}", [secret])
    assert REDACTED in shown
    assert [] == leaks(shown, secret)


@given(secret=secrets, text=noise)
def test_text_sharing_no_fragment_is_unchanged(secret: str, text: str) -> None:
    if not leaks(text, secret):
        assert text == redact(text, [secret])


@given(secret=secrets, text=st.text(max_size=80))
def test_redaction_is_idempotent_and_never_longer_than_needed(secret: str, text: str) -> None:
    once = redact(text, [secret])
    if "*" not in secret:
        assert once == redact(once, [secret])
    assert len(once) <= len(text) + len(REDACTED) * (len(text) // MIN_FRAGMENT + 1)
