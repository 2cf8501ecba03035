"""The audience filter language: parsing, every operator, precedence, every error."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.core.errors import ConfigError, FilterSyntaxError
from broadcaster.core.filters import (
    And,
    Compare,
    Filter,
    In,
    IsEmpty,
    MatchAll,
    Not,
    Op,
    Or,
    Timestamp,
    parse_filter,
    parse_timestamp,
)
from broadcaster.core.models import Contact
from broadcaster.testing.filter_strategies import contacts, filters

JAN_1_2026 = 1767225600.0


def contact(**fields: object) -> Contact:
    return Contact(id="c1", name="Ada", fields=fields)  # type: ignore[arg-type]


def matches(text: str, who: Contact) -> bool:
    return parse_filter(text).matches(who)


# -- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_blank_text_matches_everyone(text: str) -> None:
    assert MatchAll() == parse_filter(text)
    assert parse_filter(text).matches(Contact(id="x"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1", Compare("a", Op.EQ, 1)),
        ("a != -2.5", Compare("a", Op.NE, -2.5)),
        ("a<1e3", Compare("a", Op.LT, 1000.0)),
        ("a <= 'x'", Compare("a", Op.LE, "x")),
        ('a > "it\\"s"', Compare("a", Op.GT, 'it"s')),
        ("a >= 2026-01-01", Compare("a", Op.GE, Timestamp("2026-01-01", JAN_1_2026))),
        ("a = TRUE", Compare("a", Op.EQ, True)),
        ("a = false", Compare("a", Op.EQ, False)),
        ("plan.tier_2 IS_EMPTY", IsEmpty("plan.tier_2")),
        ("a is_not_empty", IsEmpty("a", negated=True)),
        ("a IN (1, 'b', true)", In("a", (1, "b", True))),
        ("a not In ('b')", In("a", ("b",), negated=True)),
        ("NOT a = 1", Not(Compare("a", Op.EQ, 1))),
        ("not not a = 1", Not(Not(Compare("a", Op.EQ, 1)))),
        ("(((a = 1)))", Compare("a", Op.EQ, 1)),
    ],
)
def test_parses_to_ast(text: str, expected: Filter) -> None:
    assert expected == parse_filter(text)


def test_string_escapes() -> None:
    assert Compare("a", Op.EQ, "q\"'\\\n\t\r") == parse_filter(r'a = "q\"\'\\\n\t\r"')
    assert Compare("a", Op.EQ, 'say "hi"') == parse_filter("a = 'say \"hi\"'")


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = (Compare(name, Op.EQ, 1) for name in "abc")
    assert Or((a, And((b, c)))) == parse_filter("a = 1 OR b = 1 AND c = 1")
    assert Or((And((a, b)), c)) == parse_filter("a = 1 AND b = 1 OR c = 1")
    assert And((Not(a), b)) == parse_filter("NOT a = 1 AND b = 1")
    assert And((Or((a, b)), c)) == parse_filter("(a = 1 OR b = 1) AND c = 1")
    assert Not(Or((a, b))) == parse_filter("NOT (a = 1 OR b = 1)")
    assert And((a, b, c)) == parse_filter("a = 1 and b = 1 AND c = 1")


def test_filters_are_frozen() -> None:
    node = parse_filter("a = 1")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        node.field = "b"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-01-01", JAN_1_2026),
        ("2026-01-01T10:00", JAN_1_2026 + 36000),
        ("2026-01-01T10:00:00Z", JAN_1_2026 + 36000),
        ("2026-01-01T10:00:00.5", JAN_1_2026 + 36000.5),
        ("2026-01-01T10:00:00+02:00", JAN_1_2026 + 28800),
        ("2026-01-01T10:00:00-00:30", JAN_1_2026 + 37800),
        ("2026-02-30", None),
        ("2026-1-1", None),
        ("2026-01-01 10:00", None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(text: str, seconds: float | None) -> None:
    assert seconds == parse_timestamp(text)


# -- evaluation: every operator ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("x = 5", 5, True),
        ("x = 5", 5.0, True),
        ("x = 5", 6, False),
        ("x != 5", 6, True),
        ("x != 5", 5, False),
        ("x < 5", 4.5, True),
        ("x < 5", 5, False),
        ("x <= 5", 5, True),
        ("x > 5", 5, False),
        ("x > 5", 7, True),
        ("x >= 5", 5, True),
        ("x >= 5", 4, False),
        ('x = "a"', "a", True),
        ('x < "b"', "a", True),
        ('x > "b"', "a", False),
        ('x = "a"', "A", False),
        ("x = true", True, True),
        ("x = true", False, False),
        ("x != true", False, True),
        ("x = false", False, True),
        ("x IN (1, 2)", 2, True),
        ("x IN (1, 2)", 3, False),
        ("x NOT IN (1, 2)", 3, True),
        ("x NOT IN (1, 2)", 2, False),
        ("x IN ('a', 1)", "a", True),
        ("x IN ('a', 1)", 1, True),
    ],
)
def test_comparison_operators(text: str, value: object, expected: bool) -> None:
    assert expected == matches(text, contact(x=value))


@pytest.mark.parametrize(
    "text",
    [
        "x = 1",
        "x != 1",
        "x < 1",
        "x >= 1",
        "x = 'a'",
        "x != 'a'",
        "x = true",
        "x != true",
        "x IN (1)",
        "x NOT IN (1)",
        "x > 2026-01-01",
        "x != 2026-01-01",
    ],
)
@pytest.mark.parametrize("holder", [{}, {"x": None}])
def test_missing_or_null_field_makes_every_comparison_false(text: str, holder: dict[str, object]) -> None:
    assert not matches(text, contact(**holder))
    assert matches(f"NOT ({text})", contact(**holder))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x = 1", "1"),
        ("x != 1", "1"),
        ("x < 1", "0"),
        ("x = 'true'", True),
        ("x != 'a'", 3),
        ("x = 1", True),
        ("x != 0", False),
        ("x = true", 1),
        ("x != true", 0),
        ("x NOT IN (1, 2)", "a"),
        ("x > 2026-01-01", True),
        ("x > 2026-01-01", "not a date"),
    ],
)
def test_type_mismatch_makes_comparison_false(text: str, value: object) -> None:
    assert not matches(text, contact(x=value))


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("x > 2026-01-01", "2026-01-02", True),
        ("x > 2026-01-01", "2025-12-31T23:59:59Z", False),
        ("x = 2026-01-01", "2026-01-01T00:00:00Z", True),
        ("x = 2026-01-01T02:00:00+02:00", "2026-01-01", True),
        ("x < 2026-01-01", JAN_1_2026 - 1, True),
        ("x >= 2026-01-01", int(JAN_1_2026), True),
        ("x != 2026-01-01", JAN_1_2026 + 1, True),
        ("x IN (2026-01-01, 2027-01-01)", "2027-01-01T00:00", True),
    ],
)
def test_timestamp_comparisons(text: str, value: object, expected: bool) -> None:
    assert expected == matches(text, contact(x=value))


def test_string_comparison_does_not_parse_iso_strings() -> None:
    # A quoted literal is text: compared as strings, never as time.
    assert not matches("x = '2026-01-01'", contact(x="2026-01-01T00:00:00Z"))
    assert matches("x = '2026-01-01'", contact(x="2026-01-01"))


@pytest.mark.parametrize(
    ("value", "empty"),
    [(None, True), ("", True), (" ", False), (0, False), (False, False), ("a", False)],
)
def test_is_empty(value: object, empty: bool) -> None:
    assert empty == matches("x IS_EMPTY", contact(x=value))
    assert (not empty) == matches("x IS_NOT_EMPTY", contact(x=value))


def test_is_empty_on_missing_field() -> None:
    assert matches("x IS_EMPTY", contact())
    assert not matches("x IS_NOT_EMPTY", contact())


def test_builtin_fields_shadow_custom_fields() -> None:
    who = Contact(id="c7", name="", fields={"id": "other", "name": "Bob", "opted_out": False}, opted_out=True)
    assert matches("id = 'c7'", who)
    assert matches("name IS_EMPTY", who)
    assert matches("opted_out = true", who)
    assert not matches("opted_out = 1", who)


def test_boolean_connectives() -> None:
    who = contact(a=1, b=2)
    assert matches("a = 1 AND b = 2", who)
    assert not matches("a = 1 AND b = 3", who)
    assert matches("a = 9 OR b = 2", who)
    assert not matches("a = 9 OR b = 9", who)
    assert matches("NOT a = 9", who)
    assert matches("a = 9 OR b = 9 OR NOT c = 1", who)
    # precedence matters: without parentheses AND binds tighter
    assert matches("a = 1 OR a = 9 AND b = 9", who)
    assert not matches("(a = 1 OR a = 9) AND b = 9", who)


def test_keywords_are_case_insensitive() -> None:
    who = contact(a=1, b=None)
    assert matches("a in (1) and not b is_not_empty Or a = TrUe", who)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("city = ", "expected a value after '='", 8),
        ("a = 1 AND city =", "expected a value after '='", 17),
        ("a <= )", "expected a value after '<='", 6),
        ("city = Paris", "expected a value after '='", 8),
        ("= 1", "expected a field name or '(', found '='", 1),
        ("a = 1 AND", "expected a field name or '(', found the end of the filter", 10),
        ("and = 1", "expected a field name or '(', found 'and'", 1),
        ("a 1", "expected =, !=, <, <=, >, >=, IN, NOT IN, IS_EMPTY or IS_NOT_EMPTY after the field 'a', found '1'", 3),
        ("a NOT 1", "expected IN after NOT, found '1'", 7),
        ("a IN 1", "expected '(' after IN", 6),
        ("a NOT IN 1", "expected '(' after NOT IN", 10),
        ("a IN ()", "expected a value after IN (", 7),
        ("a IN (1 2)", "expected ',' or ')' in the IN list, found '2'", 9),
        ("a IN (1,)", "expected a value after ','", 9),
        ("(a = 1", "expected ')' or AND/OR, found the end of the filter", 7),
        ("a = 1)", "expected AND, OR or the end of the filter, found ')'", 6),
        ("a = 1 b = 2", "expected AND, OR or the end of the filter, found 'b'", 7),
        ("a ! 1", "unexpected character '!'", 3),
        ("a = 1 # c", "unexpected character '#'", 7),
        ("a = 'abc", "unterminated string: expected a closing '", 5),
        ('a = "ab\\', 'unterminated string: expected a closing "', 5),
        ('a = "a\\qb"', "unknown escape '\\q' in a string", 7),
        ("a = 2026-13-01", "invalid date or time '2026-13-01'", 5),
        ("a = 12abc", "unexpected character 'a' after the value '12'", 7),
        ("a = 99999999999999999999", "the number 99999999999999999999 is out of range (integers are 64-bit)", 5),
        ("a = 1e999", "the number 1e999 is out of range", 5),
        ("a < true", "'<' cannot compare with true", 5),
        ("a >= FALSE", "'>=' cannot compare with FALSE", 6),
    ],
)
def test_syntax_errors_name_column_and_expectation(text: str, message: str, column: int) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(text)
    error = caught.value
    assert f"{message} at column {column}" == error.message
    assert column == error.column
    assert text == error.text


def test_syntax_errors_carry_hints() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter("city = Paris")
    assert 'quote text values, e.g. city = "Paris"' == caught.value.hint
    assert isinstance(caught.value, ConfigError)


def test_non_text_filter_is_an_error() -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        parse_filter(42)  # type: ignore[arg-type]
    assert "a filter must be text, not int at column 1" == caught.value.message


# -- properties ---------------------------------------------------------------------------


@given(filters())
def test_render_then_parse_round_trips(node: Filter) -> None:
    assert node == parse_filter(node.render())


@given(filters(), contacts())
def test_render_preserves_meaning(node: Filter, who: Contact) -> None:
    assert node.matches(who) == parse_filter(node.render()).matches(who)


_SOUP = st.lists(
    st.sampled_from(
        [
            "a",
            "b.c",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "(",
            ")",
            ",",
            "AND",
            "or",
            "NOT",
            "IN",
            "IS_EMPTY",
            "is_not_empty",
            "true",
            "'x'",
            '"y',
            "1",
            "-2.5",
            "2026-01-01",
            "2026-99-01",
            "\\",
            "!",
            " ",
        ]
    ),
    max_size=12,
).map(" ".join)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=30), _SOUP))
def test_garbage_raises_only_filter_syntax_error(text: str) -> None:
    try:
        node = parse_filter(text)
    except FilterSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        assert node == parse_filter(node.render())
