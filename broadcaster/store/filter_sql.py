"""Translate an audience filter AST to a parameterised SQL expression (SQLite or PostgreSQL).

The result evaluates exactly like :meth:`broadcaster.core.filters.Filter.matches`
(``docs/filter-language.md``; a property test compares the two). Nothing from the
user's text is spliced into SQL: field names become bound JSON-path parameters and
literals bound values; only operators chosen from a fixed table appear in the text.

Conventions: the contacts table is aliased ``c`` with columns ``id``, ``name``,
``opted_out`` (0/1) and ``fields`` (a JSON object). Every condition is wrapped so that it
yields 0 or 1, never NULL — the language is two-valued, so ``NOT`` must never meet SQL's
"unknown". Timestamp comparisons call ``bc_timestamp``, a deterministic function each
connection registers (:func:`register_functions`) that runs the very parser the pure
evaluator uses. The engines differ only in how a JSON field is typed and read and how
truth is spelled: :class:`FilterDialect` holds those few expressions, one per engine.
"""

from __future__ import annotations

import decimal
import json
import sqlite3
from typing import Any, Final, Sequence

import attrs

from broadcaster.core.filters import (
    BUILTIN_FIELDS,
    And,
    Compare,
    Filter,
    In,
    IsEmpty,
    Literal,
    MatchAll,
    Not,
    Op,
    Or,
    Timestamp,
    parse_filter,
    parse_timestamp,
)

__all__ = ["POSTGRES", "SQLITE", "FilterDialect", "filter_to_sql", "register_functions", "sql_timestamp"]

_SQL_OPS: Final = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


@attrs.frozen
class FilterDialect:
    """The engine-specific pieces; ``{f}`` is the bound field (its JSON path or key)."""

    true: str
    false: str
    field_kind: str  # the field's JSON type, as text
    text_kinds: str  # an SQL list of the kinds that are text
    number_kinds: str  # ... that are numbers
    timestamp_kinds: str  # ... that may denote a moment (numbers and texts)
    bool_kind: dict[bool, str]  # ... that is this boolean (a condition on field_kind)
    text_value: str
    number_value: str
    timestamp_value: str  # bc_timestamp of the field (number or text)
    empty_value: str  # the field as text, NULL when missing or null
    text_members: str  # the texts of the bound JSON array {a}, as a subquery
    number_members: str  # ... its numbers
    path: Any  # field name -> the bound value naming it


def _sqlite_path(field: str) -> str:
    # Field names are [A-Za-z_][A-Za-z0-9_.]* (the parser guarantees it), so quoting the
    # key keeps dots literal; the path is still passed as a parameter.
    return f'$."{field}"'


SQLITE: Final = FilterDialect(
    true="1",
    false="0",
    field_kind="json_type(c.fields, {f})",
    text_kinds="('text')",
    number_kinds="('integer', 'real')",
    timestamp_kinds="('integer', 'real', 'text')",
    bool_kind={True: "'true'", False: "'false'"},
    text_value="json_extract(c.fields, {f})",
    number_value="json_extract(c.fields, {f})",
    timestamp_value="bc_timestamp(json_extract(c.fields, {f}))",
    empty_value="json_extract(c.fields, {f})",
    text_members="(SELECT value FROM json_each({a}))",
    number_members="(SELECT value FROM json_each({a}))",
    path=_sqlite_path,
)
# Fields are kept as JSON text (one schema shape for both engines) and read as jsonb;
# numbers compare as numeric, exact for integers of any size; text in code-point order.
POSTGRES: Final = FilterDialect(
    true="TRUE",
    false="FALSE",
    field_kind="jsonb_typeof(c.fields::jsonb -> {f})",
    text_kinds="('string')",
    number_kinds="('number')",
    timestamp_kinds="('number', 'string')",
    bool_kind={True: "'boolean' AND (c.fields::jsonb -> {f}) = 'true'::jsonb",
               False: "'boolean' AND (c.fields::jsonb -> {f}) = 'false'::jsonb"},
    text_value='(c.fields::jsonb ->> {f}) COLLATE "C"',
    number_value="(c.fields::jsonb ->> {f})::numeric",
    timestamp_value="bc_timestamp(c.fields::jsonb -> {f})",
    empty_value="(c.fields::jsonb ->> {f})",
    text_members='(SELECT value COLLATE "C" FROM jsonb_array_elements_text(CAST({a} AS jsonb)) AS value)',
    number_members="(SELECT value::numeric FROM jsonb_array_elements_text(CAST({a} AS jsonb)) AS value)",
    path=str,
)  # fmt: skip


def sql_timestamp(value: object) -> float | None:
    """``bc_timestamp(x)``: POSIX seconds of a number or an ISO 8601 text, else NULL."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    return None


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("bc_timestamp", 1, sql_timestamp, deterministic=True)


class _Builder:
    def __init__(self, dialect: FilterDialect) -> None:
        self.params: list[Any] = []
        self.d = dialect

    def field(self, template: str, field: str) -> str:
        """``template`` with each ``{f}`` bound to the field (in order of appearance)."""
        parts = template.split("{f}")
        out = parts[0]
        for part in parts[1:]:
            out += self.bind(self.d.path(field)) + part
        return out

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def build(self, node: Filter) -> str:
        if isinstance(node, MatchAll):
            return self.d.true
        if isinstance(node, Compare):
            return self.compare(node.field, node.op, node.value)
        if isinstance(node, IsEmpty):
            sql = self.is_empty(node.field)
            return f"(NOT {sql})" if node.negated else sql
        if isinstance(node, In):
            return self.in_list(node)
        if isinstance(node, Not):
            return f"(NOT {self.build(node.operand)})"
        if isinstance(node, (And, Or)):
            joiner = " AND " if isinstance(node, And) else " OR "
            return _balanced([self.build(operand) for operand in node.operands], joiner)
        raise TypeError(f"not a filter node: {node!r}")

    def in_list(self, node: In) -> str:
        """``IN`` as the OR of ``=`` (``NOT IN``: the AND of ``!=``), its texts and whole
        numbers each tested at once against one bound JSON array (``json_each``): a list
        of 100 000 values is one parameter, not 100 000 terms of an expression tree."""
        d = self.d
        op, joiner = (Op.NE, " AND ") if node.negated else (Op.EQ, " OR ")
        texts = [v for v in node.values if isinstance(v, str)]
        whole = [v for v in node.values if isinstance(v, int) and not isinstance(v, bool)]
        decimals = list(dict.fromkeys(v for v in node.values if isinstance(v, float)))
        rest = dict.fromkeys(v for v in node.values if isinstance(v, (bool, Timestamp)))
        parts = [self.compare(node.field, op, value) for value in rest]
        keyword = "NOT IN" if node.negated else "IN"
        if decimals and node.field in BUILTIN_FIELDS:
            parts.append(d.false)
        elif decimals:
            # bound one by one (a JSON text would leave their rounding to SQLite's parser)
            guard = f"{self.field(d.field_kind, node.field)} IN {d.number_kinds}"
            value = self.field(d.number_value, node.field)
            members = ", ".join(self.bind(_number(v, d)) for v in decimals)
            parts.append(f"COALESCE({guard} AND {value} {keyword} ({members}), {d.false})")
        for values, kinds, reader, listed in (
            (texts, d.text_kinds, d.text_value, d.text_members),
            (whole, d.number_kinds, d.number_value, d.number_members),
        ):
            if not values:
                continue
            array = json.dumps(list(dict.fromkeys(values)))
            if node.field in ("id", "name") and values is texts:
                members = listed.replace("{a}", self.bind(array))
                parts.append(f"(c.{node.field} {keyword} {members})")
            elif node.field in BUILTIN_FIELDS:
                parts.append(d.false)  # no value of these types is ever equal (or unequal) there
            else:
                guard = f"{self.field(d.field_kind, node.field)} IN {kinds}"
                value = self.field(reader, node.field)
                members = listed.replace("{a}", self.bind(array))
                parts.append(f"COALESCE({guard} AND {value} {keyword} {members}, {d.false})")
        return _balanced(parts, joiner)

    def is_empty(self, field: str) -> str:
        if field in ("id", "name"):
            return f"(c.{field} = '')"
        if field == "opted_out":
            return self.d.false
        # json 'null' and a missing key both extract as NULL; 0 and false stay integers
        # (SQLite) or texts '0' and 'false' (PostgreSQL), which never equal ''.
        return f"(COALESCE({self.field(self.d.empty_value, field)}, '') = '')"

    def compare(self, field: str, op: Op, literal: Literal) -> str:
        sql_op = _SQL_OPS[op]
        if field in ("id", "name"):
            if isinstance(literal, str):
                return f"(c.{field} {sql_op} {self.bind(literal)})"
            if isinstance(literal, Timestamp):
                return f"COALESCE(bc_timestamp(c.{field}) {sql_op} {self.bind(literal.seconds)}, {self.d.false})"
            return self.d.false
        if field == "opted_out":
            if isinstance(literal, bool):
                return f"(c.opted_out {sql_op} {self.bind(int(literal))})"
            return self.d.false
        d = self.d
        kind = self.field(d.field_kind, field)
        if isinstance(literal, bool):
            # Only = and != exist for booleans (the parser refuses ordering).
            wanted = literal if op is Op.EQ else not literal
            return f"COALESCE({kind} = {self.field(d.bool_kind[wanted], field)}, {d.false})"
        if isinstance(literal, str):
            guard, value = f"{kind} IN {d.text_kinds}", self.field(d.text_value, field)
            bound = self.bind(literal)
        elif isinstance(literal, Timestamp):
            guard = f"{kind} IN {d.timestamp_kinds}"
            value = self.field(d.timestamp_value, field)
            bound = self.bind(literal.seconds)
        else:
            guard, value = f"{kind} IN {d.number_kinds}", self.field(d.number_value, field)
            bound = self.bind(_number(literal, d))
        return f"COALESCE({guard} AND {value} {sql_op} {bound}, {d.false})"


def _balanced(parts: Sequence[str], joiner: str) -> str:
    """``parts`` joined as a balanced tree: SQLite's expression depth grows with the log of
    their number, not with it (a flat chain of 1 000 terms is "Expression tree is too large")."""
    if len(parts) <= 8:
        return "(" + joiner.join(parts) + ")"
    middle = len(parts) // 2
    return "(" + _balanced(parts[:middle], joiner) + joiner + _balanced(parts[middle:], joiner) + ")"


def _number(literal: int | float, dialect: FilterDialect) -> Any:
    # PostgreSQL compares numeric exactly; a float literal enters as its shortest decimal,
    # the very text json.dumps wrote for a float field, so equal floats stay equal.
    if dialect is POSTGRES:
        return decimal.Decimal(repr(literal)) if isinstance(literal, float) else decimal.Decimal(literal)
    return literal


def filter_to_sql(audience_filter: Filter | str, dialect: FilterDialect = SQLITE) -> tuple[str, list[Any]]:
    """``(sql, params)`` for a WHERE clause over contacts aliased ``c``."""
    node = parse_filter(audience_filter) if isinstance(audience_filter, str) else audience_filter
    builder = _Builder(dialect)
    sql = builder.build(node)
    return sql, builder.params
