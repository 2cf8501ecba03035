"""Issue 10 item 7: deep or long filters are refused in one line; large IN lists work."""

from __future__ import annotations

import pytest

from broadcaster.core.errors import FilterSyntaxError
from broadcaster.core.filters import MAX_CONDITIONS, MAX_DEPTH, MAX_IN_VALUES, parse_filter
from broadcaster.core.models import Contact
from broadcaster.store import open_store


@pytest.fixture
def store():
    with open_store(":memory:") as s:
        s.upsert_contacts([Contact(f"c{i}", f"n{i}", fields={"n": i, "x": i + 0.5}) for i in range(3000)])
        yield s


@pytest.mark.parametrize(
    "text",
    [
        "NOT " * 50 + "a = 1",
        "(" * 500 + "a = 1" + ")" * 500,
        "(NOT " * 20 + "a = 1" + ")" * 20,
    ],
)
def test_deep_filters_are_refused_naming_the_column(store, text):
    with pytest.raises(FilterSyntaxError, match=rf"more than {MAX_DEPTH} deep at column \d+"):
        store.count_contacts(text)


def test_the_deepest_allowed_filter_runs_in_sqlite(store):
    assert store.count_contacts("NOT " * (MAX_DEPTH - 1) + "n = 1") == 3000 - 1
    assert store.count_contacts("(" * MAX_DEPTH + "n = 1" + ")" * MAX_DEPTH) == 1
    half = MAX_DEPTH // 2
    assert store.count_contacts("(NOT " * half + "n IN (1, 2, 2.5, true)" + ")" * half) == 2


def test_large_in_lists_work(store):
    ids = ", ".join(f'"c{i}"' for i in range(0, 3000, 3))
    assert store.count_contacts(f"id IN ({ids})") == 1000
    assert store.count_contacts(f"id NOT IN ({ids})") == 2000
    numbers = ", ".join(str(i) for i in range(0, 5000, 2))
    assert store.count_contacts(f"n IN ({numbers})") == 1500
    assert store.count_contacts(f"n NOT IN ({numbers})") == 1500
    decimals = ", ".join(f"{i + 0.5}" for i in range(0, 3000, 10))
    assert store.count_contacts(f"x IN ({decimals})") == 300
    names = ", ".join(f'"n{i}"' for i in range(20_000))
    assert len(store.contacts_page(f"name IN ({names}) AND n < 10", after_id=None, limit=50)) == 10
    every = ", ".join(f'"c{i}"' for i in range(MAX_IN_VALUES))
    assert store.count_contacts(f"id IN ({every})") == 3000


def test_long_chains_of_and_or_work(store):
    text = " OR ".join(f'id = "c{i}"' for i in range(MAX_CONDITIONS))
    assert store.count_contacts(text) == MAX_CONDITIONS
    assert store.count_contacts(" AND ".join(["n >= 0"] * MAX_CONDITIONS)) == 3000


def test_too_many_conditions_or_values_are_refused():
    with pytest.raises(FilterSyntaxError, match=rf"more than {MAX_CONDITIONS} conditions at column \d+"):
        parse_filter(" OR ".join(["a = 1"] * (MAX_CONDITIONS + 1)))
    with pytest.raises(FilterSyntaxError, match=rf"the IN list has more than {MAX_IN_VALUES} values at column \d+"):
        parse_filter("a IN (" + ", ".join(["1"] * (MAX_IN_VALUES + 1)) + ")")
    with pytest.raises(FilterSyntaxError, match="characters long"):
        parse_filter("a = 1 " + " " * 3_000_000)
