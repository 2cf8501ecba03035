"""A NUL in a looked-up value (the API fuzzer sent an id "\\x00") is the caller's input: a
one-line refusal on both engines, never a driver error (PostgreSQL cannot even be asked)."""

from __future__ import annotations

import pytest

from broadcaster.core.errors import BroadcasterError, ConfigError, NotFound
from broadcaster.store import SQLStore


def test_a_nul_in_an_id_or_a_search_is_a_one_line_refusal(store: SQLStore, engine: str) -> None:
    expected = NotFound if engine == "sqlite" else ConfigError
    for call in (lambda: store.get_broadcast("b\x00"), lambda: store.get_contact("\x00")):
        with pytest.raises(expected) as refused:
            call()
        assert isinstance(refused.value, BroadcasterError) and "\n" not in str(refused.value)
    if engine == "postgresql":
        assert str(refused.value) == (
            "a value given holds a NUL character, which PostgreSQL cannot store or match"
            " — remove the \\x00 from the input"
        )
    assert store.list_broadcasts() == []  # the store still answers
