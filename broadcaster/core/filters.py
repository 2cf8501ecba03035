"""The audience filter language: parse text into an immutable AST, evaluate it on a contact.

The language is documented in ``docs/filter-language.md``; the store translates the
same AST to SQL (``broadcaster/store/filter_sql.py``) and a property test keeps the two
in agreement, so every semantic rule below is written to be expressible in SQL:

* a comparison is true only when the field has a value of a comparable type; a
  missing field, ``None`` or a type mismatch makes it false (``!=`` included);
* ``IN`` is the OR of ``=`` over its values, ``NOT IN`` the AND of ``!=``;
* ``NOT`` negates the boolean result (two-valued logic: no "unknown").

Grammar (keywords case-insensitive)::

    filter    := [or_expr] END
    or_expr   := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' or_expr ')' | condition
    condition := FIELD (cmp value | IS_EMPTY | IS_NOT_EMPTY | [NOT] IN '(' value (',' value)* ')')
    cmp       := '=' | '!=' | '<' | '<=' | '>' | '>='
    value     := STRING | NUMBER | TIMESTAMP | TRUE | FALSE
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import operator
import re
from typing import Any, Callable, Final, Protocol, Union

import attrs

from .errors import FilterSyntaxError
from .models import Contact

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "And",
    "BUILTIN_FIELDS",
    "Compare",
    "Filter",
    "In",
    "IsEmpty",
    "Literal",
    "MatchAll",
    "Not",
    "Op",
    "Or",
    "Timestamp",
    "field_value",
    "parse_filter",
    "parse_timestamp",
    "render_literal",
]

#: contact attributes addressable by name; they shadow ``contact.fields`` entries
BUILTIN_FIELDS: Final = frozenset({"id", "name", "opted_out"})

# Limits (docs/filter-language.md "Limits"): a filter is written by a person or built by a
# program listing contacts, never nested hundreds deep; the bounds keep the parser's and
# SQLite's stacks safe. IN lists are the exception, they are how programs target contacts:
# they go to SQL as one bound JSON array, so their length costs no depth.
#: characters in a filter's text
MAX_FILTER_LENGTH: Final = 2_000_000
#: nesting of brackets and NOTs
MAX_DEPTH: Final = 32
#: comparisons (each IN list counts as one)
MAX_CONDITIONS: Final = 1_000
#: values of one IN / NOT IN list
MAX_IN_VALUES: Final = 100_000

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

# -- timestamps ---------------------------------------------------------------------

_TIMESTAMP_RE: Final = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def parse_timestamp(text: str) -> float | None:
    """POSIX seconds for an ISO 8601 date or datetime (no zone = UTC), or None.

    Accepted: ``YYYY-MM-DD`` and ``YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM]``. Anything
    else (including impossible dates) is None — the same function judges filter
    literals and string field values, so the two can never disagree.
    """
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        return None
    iso = match["date"] + ("T" + match["time"] if match["time"] else "")
    tz = match["tz"]
    try:
        moment = _dt.datetime.fromisoformat(iso)
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            offset = _dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
            zone = _dt.timezone(sign * offset)
        else:
            zone = _dt.UTC
        return moment.replace(tzinfo=zone).timestamp()
    except (ValueError, OverflowError):
        return None


@attrs.frozen
class Timestamp:
    """A timestamp literal: its source text and the POSIX seconds it denotes."""

    text: str
    seconds: float


Literal = Union[str, int, float, bool, Timestamp]


class Op(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


_ORDERING: Final = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})


_OPERATORS: Final[dict[Op, Callable[[Any, Any], bool]]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


def _apply(op: Op, left: object, right: object) -> bool:
    # Callers guarantee left and right are of one comparable type.
    return bool(_OPERATORS[op](left, right))


_MISSING: Final = object()


def field_value(contact: Contact, field: str) -> object:
    """The value a filter sees for ``field``; a sentinel object when the field is absent."""
    if field == "id":
        return contact.id
    if field == "name":
        return contact.name
    if field == "opted_out":
        return contact.opted_out
    return contact.fields.get(field, _MISSING)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(value: object, op: Op, literal: Literal) -> bool:
    """One comparison under the language's rules: no value or wrong type → False."""
    if isinstance(literal, bool):
        return isinstance(value, bool) and _apply(op, value, literal)
    if isinstance(literal, str):
        return isinstance(value, str) and _apply(op, value, literal)
    if isinstance(literal, Timestamp):
        if _is_number(value):
            seconds: float | None = float(value)  # type: ignore[arg-type]
        elif isinstance(value, str):
            seconds = parse_timestamp(value)
        else:
            seconds = None
        return seconds is not None and _apply(op, seconds, literal.seconds)
    return _is_number(value) and _apply(op, value, literal)


# -- rendering literals ---------------------------------------------------------------

_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNESCAPES: Final = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}


def render_literal(literal: Literal) -> str:
    if isinstance(literal, bool):
        return "true" if literal else "false"
    if isinstance(literal, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in literal) + '"'
    if isinstance(literal, Timestamp):
        return literal.text
    return repr(literal)


# -- the AST ----------------------------------------------------------------------------


class Filter:
    """Base of every AST node: ``matches`` evaluates, ``render`` gives canonical text back."""

    __slots__ = ()

    def matches(self, contact: Contact) -> bool:
        raise NotImplementedError

    def render(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()


@attrs.frozen
class MatchAll(Filter):
    """The empty filter: everyone."""

    def matches(self, contact: Contact) -> bool:
        return True

    def render(self) -> str:
        return ""


@attrs.frozen
class Compare(Filter):
    field: str
    op: Op
    value: Literal

    def matches(self, contact: Contact) -> bool:
        return _compare(field_value(contact, self.field), self.op, self.value)

    def render(self) -> str:
        return f"{self.field} {self.op.value} {render_literal(self.value)}"


@attrs.frozen
class IsEmpty(Filter):
    """``IS_EMPTY`` (missing, None or ""), or ``IS_NOT_EMPTY`` when ``negated``."""

    field: str
    negated: bool = False

    def matches(self, contact: Contact) -> bool:
        value = field_value(contact, self.field)
        empty = value is _MISSING or value is None or value == ""
        return empty != self.negated

    def render(self) -> str:
        return f"{self.field} {'IS_NOT_EMPTY' if self.negated else 'IS_EMPTY'}"


@attrs.frozen
class In(Filter):
    """``IN``: some ``field = v`` holds; ``NOT IN`` (``negated``): every ``field != v`` holds."""

    field: str
    values: tuple[Literal, ...]
    negated: bool = False

    def matches(self, contact: Contact) -> bool:
        value = field_value(contact, self.field)
        if self.negated:
            return all(_compare(value, Op.NE, literal) for literal in self.values)
        return any(_compare(value, Op.EQ, literal) for literal in self.values)

    def render(self) -> str:
        keyword = "NOT IN" if self.negated else "IN"
        return f"{self.field} {keyword} ({', '.join(render_literal(v) for v in self.values)})"


def _render_operand(node: Filter) -> str:
    # Compound operands are always parenthesised so that render → parse rebuilds the
    # exact same tree (no flattening of nested ANDs).
    return f"({node.render()})" if isinstance(node, (And, Or)) else node.render()


@attrs.frozen
class Not(Filter):
    operand: Filter

    def matches(self, contact: Contact) -> bool:
        return not self.operand.matches(contact)

    def render(self) -> str:
        return f"NOT {_render_operand(self.operand)}"


@attrs.frozen
class And(Filter):
    operands: tuple[Filter, ...]

    def matches(self, contact: Contact) -> bool:
        return all(operand.matches(contact) for operand in self.operands)

    def render(self) -> str:
        return " AND ".join(_render_operand(operand) for operand in self.operands)


@attrs.frozen
class Or(Filter):
    operands: tuple[Filter, ...]

    def matches(self, contact: Contact) -> bool:
        return any(operand.matches(contact) for operand in self.operands)

    def render(self) -> str:
        return " OR ".join(_render_operand(operand) for operand in self.operands)


class _Fail(Protocol):
    """The error factory the tokenizer hands to its helpers (``at`` is 0-based)."""

    def __call__(self, message: str, at: int, hint: str | None = None) -> FilterSyntaxError: ...


# -- tokens -------------------------------------------------------------------------------


class _Kind(enum.Enum):
    IDENT = "identifier"
    KEYWORD = "keyword"
    STRING = "string"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@attrs.frozen
class _Token:
    kind: _Kind
    text: str
    column: int
    value: object = None


_KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "IN", "IS_EMPTY", "IS_NOT_EMPTY", "TRUE", "FALSE"})
_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER_RE: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD_CHAR_RE: Final = re.compile(r"[A-Za-z0-9_.]")
_DIGITS: Final = "0123456789"
_TWO_CHAR_OPS: Final = ("!=", "<=", ">=")
_ONE_CHAR_OPS: Final = ("=", "<", ">")
_QUOTE_HINT: Final = 'quote text values, e.g. city = "Paris"'


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0

    def fail(message: str, at: int, hint: str | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=text, column=at + 1, hint=hint)

    while pos < len(text):
        ch = text[pos]
        if ch.isspace():
            pos += 1
            continue
        start = pos
        if ch in "\"'":
            pos, string = _read_string(text, pos, fail)
            tokens.append(_Token(_Kind.STRING, text[start:pos], start + 1, string))
            continue
        if ch in _DIGITS or (ch == "-" and pos + 1 < len(text) and text[pos + 1] in _DIGITS):
            stamp = _TIMESTAMP_RE.match(text, pos)
            if stamp is not None:
                pos = stamp.end()
                kind: _Kind = _Kind.TIMESTAMP
                value: object = _timestamp_value(stamp.group(), start, fail)
            else:
                number = _NUMBER_RE.match(text, pos)
                assert number is not None  # a digit (maybe after '-') always starts a number
                pos = number.end()
                kind, value = _Kind.NUMBER, _number_value(number.group(), start, fail)
            if pos < len(text) and _WORD_CHAR_RE.match(text[pos]):
                raise fail(f"unexpected character {text[pos]!r} after the value {text[start:pos]!r}", pos)
            tokens.append(_Token(kind, text[start:pos], start + 1, value))
            continue
        ident = _IDENT_RE.match(text, pos)
        if ident is not None:
            pos = ident.end()
            word = ident.group()
            kind = _Kind.KEYWORD if word.upper() in _KEYWORDS else _Kind.IDENT
            tokens.append(_Token(kind, word, start + 1, word.upper() if kind is _Kind.KEYWORD else word))
            continue
        two = text[pos : pos + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(_Token(_Kind.OP, two, start + 1, Op(two)))
            pos += 2
            continue
        if ch in _ONE_CHAR_OPS:
            tokens.append(_Token(_Kind.OP, ch, start + 1, Op(ch)))
            pos += 1
            continue
        simple = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA}.get(ch)
        if simple is not None:
            tokens.append(_Token(simple, ch, start + 1))
            pos += 1
            continue
        hint = "use != for 'not equal'" if ch == "!" else None
        raise fail(f"unexpected character {ch!r}", pos, hint)
    tokens.append(_Token(_Kind.END, "", len(text) + 1))
    return tokens


def _read_string(text: str, pos: int, fail: _Fail) -> tuple[int, str]:
    quote = text[pos]
    chars: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return i + 1, "".join(chars)
        if ch == "\\":
            if i + 1 >= len(text):
                break
            escaped = _UNESCAPES.get(text[i + 1])
            if escaped is None:
                raise fail(
                    f"unknown escape '\\{text[i + 1]}' in a string",
                    i,
                    "the escapes are \\\\, \\\", \\', \\n, \\t and \\r",
                )
            chars.append(escaped)
            i += 2
            continue
        chars.append(ch)
        i += 1
    raise fail(f"unterminated string: expected a closing {quote}", pos)


def _timestamp_value(literal: str, start: int, fail: _Fail) -> Timestamp:
    seconds = parse_timestamp(literal)
    if seconds is None:
        raise fail(f"invalid date or time {literal!r}", start, "write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    return Timestamp(literal, seconds)


def _number_value(literal: str, start: int, fail: _Fail) -> int | float:
    if re.fullmatch(r"-?[0-9]+", literal):
        whole = int(literal)
        if not _INT64_MIN <= whole <= _INT64_MAX:
            raise fail(f"the number {literal} is out of range (integers are 64-bit)", start)
        return whole
    number = float(literal)
    if math.isinf(number):
        raise fail(f"the number {literal} is out of range", start)
    return number


# -- parser ---------------------------------------------------------------------------------


_CONDITION_OPS: Final = "=, !=, <, <=, >, >=, IN, NOT IN, IS_EMPTY or IS_NOT_EMPTY"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.conditions = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, kind: _Kind) -> bool:
        return self.current.kind is kind

    def at_keyword(self, word: str) -> bool:
        return self.at(_Kind.KEYWORD) and self.current.value == word

    def error(self, message: str, token: _Token | None = None, hint: str | None = None) -> FilterSyntaxError:
        token = token or self.current
        return FilterSyntaxError(message, text=self.text, column=token.column, hint=hint)

    def describe(self, token: _Token) -> str:
        return "the end of the filter" if token.kind is _Kind.END else repr(token.text)

    def parse(self) -> Filter:
        if self.at(_Kind.END):
            return MatchAll()
        node = self.or_expr()
        if not self.at(_Kind.END):
            raise self.error(f"expected AND, OR or the end of the filter, found {self.describe(self.current)}")
        return node

    def or_expr(self) -> Filter:
        operands = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Filter:
        operands = [self.not_expr()]
        while self.at_keyword("AND"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Filter:
        if self.at_keyword("NOT") or self.at(_Kind.LPAREN):
            self.enter()
            try:
                return self.nested()
            finally:
                self.depth -= 1
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(
                f"the filter has more than {MAX_CONDITIONS} conditions",
                hint="list many values with IN (...) instead, or split the audience",
            )
        return self.condition()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the filter nests brackets and NOTs more than {MAX_DEPTH} deep", hint="write it flatter")

    def nested(self) -> Filter:
        if self.at_keyword("NOT"):
            self.advance()
            return Not(self.not_expr())
        self.advance()
        node = self.or_expr()
        if not self.at(_Kind.RPAREN):
            raise self.error(f"expected ')' or AND/OR, found {self.describe(self.current)}")
        self.advance()
        return node

    def condition(self) -> Filter:
        token = self.current
        if token.kind is not _Kind.IDENT:
            hint = (
                f"{token.text!r} is a keyword; field names cannot be keywords" if token.kind is _Kind.KEYWORD else None
            )
            raise self.error(f"expected a field name or '(', found {self.describe(token)}", hint=hint)
        field = self.advance().text
        token = self.current
        if token.kind is _Kind.OP:
            op = self.advance().value
            assert isinstance(op, Op)
            value_token = self.current
            value = self.value(after=f"'{op.value}'")
            if isinstance(value, bool) and op in _ORDERING:
                raise self.error(
                    f"'{op.value}' cannot compare with {value_token.text}",
                    value_token,
                    "true and false only support = and !=",
                )
            return Compare(field, op, value)
        if self.at_keyword("IS_EMPTY") or self.at_keyword("IS_NOT_EMPTY"):
            return IsEmpty(field, negated=self.advance().value == "IS_NOT_EMPTY")
        if self.at_keyword("IN"):
            self.advance()
            return In(field, self.value_list("IN"))
        if self.at_keyword("NOT"):
            self.advance()
            if not self.at_keyword("IN"):
                raise self.error(f"expected IN after NOT, found {self.describe(self.current)}")
            self.advance()
            return In(field, self.value_list("NOT IN"), negated=True)
        raise self.error(f"expected {_CONDITION_OPS} after the field {field!r}, found {self.describe(token)}")

    def value(self, *, after: str) -> Literal:
        token = self.current
        if token.kind in (_Kind.STRING, _Kind.NUMBER, _Kind.TIMESTAMP):
            self.advance()
            assert isinstance(token.value, (str, int, float, Timestamp))
            return token.value
        if token.kind is _Kind.KEYWORD and token.value in ("TRUE", "FALSE"):
            self.advance()
            return token.value == "TRUE"
        hint = _QUOTE_HINT if token.kind is _Kind.IDENT else None
        raise self.error(f"expected a value after {after}", hint=hint)

    def value_list(self, keyword: str) -> tuple[Literal, ...]:
        if not self.at(_Kind.LPAREN):
            raise self.error(f"expected '(' after {keyword}", hint=f"write {keyword} (value, value, ...)")
        self.advance()
        values = [self.value(after=f"{keyword} (")]
        while self.at(_Kind.COMMA):
            self.advance()
            if len(values) == MAX_IN_VALUES:
                raise self.error(f"the {keyword} list has more than {MAX_IN_VALUES} values", hint="split the audience")
            values.append(self.value(after="','"))
        if not self.at(_Kind.RPAREN):
            raise self.error(f"expected ',' or ')' in the {keyword} list, found {self.describe(self.current)}")
        self.advance()
        return tuple(values)


def parse_filter(text: str) -> Filter:
    """Parse an audience filter; blank text is :class:`MatchAll`.

    Raises :class:`FilterSyntaxError` naming the 1-based column and what was expected.
    """
    if not isinstance(text, str):
        raise FilterSyntaxError(f"a filter must be text, not {type(text).__name__}", text=str(text), column=1)
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(
            f"the filter is {len(text)} characters long, more than {MAX_FILTER_LENGTH}",
            text=text[:100],
            column=MAX_FILTER_LENGTH + 1,
            hint="target many contacts with --ids FILE, or split the audience",
        )
    return _Parser(text).parse()
