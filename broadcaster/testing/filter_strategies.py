"""Hypothesis strategies for audience filters and the contacts they are evaluated on.

Part of the test kit so that every evaluator of the filter language — the pure one in
:mod:`broadcaster.core.filters`, the SQLite translation, a future PostgreSQL one — can be
checked against the same random filters and contacts. Requires ``hypothesis`` (a test
dependency), imported here and nowhere in the library proper.
"""

from __future__ import annotations

import datetime as _dt

from hypothesis import strategies as st

from broadcaster.core.filters import (
    And,
    Compare,
    Filter,
    In,
    IsEmpty,
    Literal,
    Not,
    Op,
    Or,
    Timestamp,
    parse_timestamp,
)
from broadcaster.core.models import Contact, FieldValue

__all__ = ["FIELD_NAMES", "contacts", "field_values", "filters", "literals", "timestamp_texts"]

#: a small pool so that random filters and random contacts actually meet
FIELD_NAMES = ("id", "name", "opted_out", "age", "city", "score", "joined", "vip", "plan.tier", "_x9")

_WORDS = ("", "a", "b", "Paris", "paris", "é", "z z", "2026-01-01", "2026-01-01T10:00:00Z", "10")

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_SMALL_INTS = st.integers(min_value=-3, max_value=3)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def timestamp_texts(draw: st.DrawFn) -> str:
    """ISO 8601 texts the language accepts: dates, datetimes, with or without a zone."""
    moment = draw(st.datetimes(min_value=_dt.datetime(1900, 1, 2), max_value=_dt.datetime(2200, 12, 30)))
    shape = draw(st.sampled_from(("date", "minutes", "seconds", "micro")))
    if shape == "date":
        return moment.strftime("%Y-%m-%d")
    text = moment.strftime(
        {"minutes": "%Y-%m-%dT%H:%M", "seconds": "%Y-%m-%dT%H:%M:%S"}.get(shape, "%Y-%m-%dT%H:%M:%S.%f")
    )
    zone = draw(st.sampled_from(("", "Z", "+02:00", "-05:30", "+00:00")))
    return text + zone


def _timestamp_literal(text: str) -> Timestamp:
    seconds = parse_timestamp(text)
    assert seconds is not None, text
    return Timestamp(text, seconds)


def literals() -> st.SearchStrategy[Literal]:
    return st.one_of(
        st.sampled_from(_WORDS),
        st.text(max_size=8),
        _SMALL_INTS,
        _INT64,
        _FLOATS,
        st.booleans(),
        timestamp_texts().map(_timestamp_literal),
    )


def field_values() -> st.SearchStrategy[FieldValue]:
    """Values a contact field may hold (finite floats, 64-bit ints: what a store keeps)."""
    return st.one_of(
        st.none(),
        st.sampled_from(_WORDS),
        st.text(max_size=8),
        _SMALL_INTS,
        _INT64,
        _FLOATS,
        st.booleans(),
        timestamp_texts(),
        st.floats(min_value=-3e9, max_value=8e9, allow_nan=False),
    )


@st.composite
def _compare(draw: st.DrawFn) -> Filter:
    field = draw(st.sampled_from(FIELD_NAMES))
    value = draw(literals())
    ops = (Op.EQ, Op.NE) if isinstance(value, bool) else tuple(Op)
    return Compare(field, draw(st.sampled_from(ops)), value)


@st.composite
def _in(draw: st.DrawFn) -> Filter:
    values = draw(st.lists(literals(), min_size=1, max_size=4))
    return In(draw(st.sampled_from(FIELD_NAMES)), tuple(values), negated=draw(st.booleans()))


def _leaves() -> st.SearchStrategy[Filter]:
    empties = st.builds(IsEmpty, st.sampled_from(FIELD_NAMES), negated=st.booleans())
    return st.one_of(_compare(), _in(), empties)


def filters(*, max_leaves: int = 8) -> st.SearchStrategy[Filter]:
    """Random filter ASTs (never :class:`MatchAll`, which only exists at the top)."""

    def extend(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
        many = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(st.builds(Not, children), st.builds(And, many), st.builds(Or, many))

    return st.recursive(_leaves(), extend, max_leaves=max_leaves)


@st.composite
def contacts(draw: st.DrawFn, *, contact_id: st.SearchStrategy[str] | None = None) -> Contact:
    fields = draw(
        st.dictionaries(st.sampled_from(FIELD_NAMES[3:] + ("name", "id")), field_values(), max_size=len(FIELD_NAMES))
    )
    return Contact(
        id=draw(contact_id if contact_id is not None else st.sampled_from(_WORDS[1:])),
        name=draw(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6))),
        fields=fields,
        opted_out=draw(st.booleans()),
    )
