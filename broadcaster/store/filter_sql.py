"""Translate an audience filter AST to a parameterised SQLite expression.

The result evaluates exactly like :meth:`broadcaster.core.filters.Filter.matches`
(``docs/filter-language.md``; a property test compares the two). Nothing from the
user's text is spliced into SQL: field names become bound JSON-path parameters and
literals bound values; only operators chosen from a fixed table appear in the text.

Conventions: the contacts table is aliased ``c`` with columns ``id``, ``name``,
``opted_out`` (0/1) and ``fields`` (a JSON object). Every condition is wrapped so that it
yields 0 or 1, never NULL — the language is two-valued, so ``NOT`` must never meet SQL's
"unknown". Timestamp comparisons call ``bc_timestamp``, a deterministic function each
connection registers (:func:`register_functions`) that runs the very parser the pure
evaluator uses.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final, Sequence

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

__all__ = ["filter_to_sql", "register_functions", "sql_timestamp"]

_SQL_OPS: Final = {Op.EQ: "=", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
_FALSE: Final = "0"


def sql_timestamp(value: object) -> float | None:
    """``bc_timestamp(x)``: POSIX seconds of a number or an ISO 8601 text, else NULL."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    return None


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("bc_timestamp", 1, sql_timestamp, deterministic=True)


def _path(field: str) -> str:
    # Field names are [A-Za-z_][A-Za-z0-9_.]* (the parser guarantees it), so quoting the
    # key keeps dots literal; the path is still passed as a parameter.
    return f'$."{field}"'


class _Builder:
    def __init__(self) -> None:
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def build(self, node: Filter) -> str:
        if isinstance(node, MatchAll):
            return "1"
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
        op, joiner = (Op.NE, " AND ") if node.negated else (Op.EQ, " OR ")
        texts = [v for v in node.values if isinstance(v, str)]
        whole = [v for v in node.values if isinstance(v, int) and not isinstance(v, bool)]
        decimals = list(dict.fromkeys(v for v in node.values if isinstance(v, float)))
        rest = dict.fromkeys(v for v in node.values if isinstance(v, (bool, Timestamp)))
        parts = [self.compare(node.field, op, value) for value in rest]
        keyword = "NOT IN" if node.negated else "IN"
        if decimals and node.field in BUILTIN_FIELDS:
            parts.append(_FALSE)
        elif decimals:
            # bound one by one (a JSON text would leave their rounding to SQLite's parser)
            path = _path(node.field)
            guard = f"json_type(c.fields, {self.bind(path)}) IN ('integer', 'real')"
            value = f"json_extract(c.fields, {self.bind(path)})"
            members = ", ".join(self.bind(v) for v in decimals)
            parts.append(f"COALESCE({guard} AND {value} {keyword} ({members}), 0)")
        for values, kind in ((texts, "= 'text'"), (whole, "IN ('integer', 'real')")):
            if not values:
                continue
            array = json.dumps(list(dict.fromkeys(values)))
            if node.field in ("id", "name") and values is texts:
                parts.append(f"(c.{node.field} {keyword} (SELECT value FROM json_each({self.bind(array)})))")
            elif node.field in BUILTIN_FIELDS:
                parts.append(_FALSE)  # no value of these types is ever equal (or unequal) there
            else:
                path = _path(node.field)
                guard = f"json_type(c.fields, {self.bind(path)}) {kind}"
                value = f"json_extract(c.fields, {self.bind(path)})"
                members = f"(SELECT value FROM json_each({self.bind(array)}))"
                parts.append(f"COALESCE({guard} AND {value} {keyword} {members}, 0)")
        return _balanced(parts, joiner)

    def is_empty(self, field: str) -> str:
        if field in ("id", "name"):
            return f"(c.{field} = '')"
        if field == "opted_out":
            return _FALSE
        # json 'null' and a missing key both extract as NULL; 0 and false stay integers,
        # which never equal ''.
        return f"(COALESCE(json_extract(c.fields, {self.bind(_path(field))}), '') = '')"

    def compare(self, field: str, op: Op, literal: Literal) -> str:
        sql_op = _SQL_OPS[op]
        if field in ("id", "name"):
            if isinstance(literal, str):
                return f"(c.{field} {sql_op} {self.bind(literal)})"
            if isinstance(literal, Timestamp):
                return f"COALESCE(bc_timestamp(c.{field}) {sql_op} {self.bind(literal.seconds)}, 0)"
            return _FALSE
        if field == "opted_out":
            if isinstance(literal, bool):
                return f"(c.opted_out {sql_op} {self.bind(int(literal))})"
            return _FALSE
        path = _path(field)
        kind = f"json_type(c.fields, {self.bind(path)})"
        if isinstance(literal, bool):
            # Only = and != exist for booleans (the parser refuses ordering).
            wanted = literal if op is Op.EQ else not literal
            return f"COALESCE({kind} = '{'true' if wanted else 'false'}', 0)"
        if isinstance(literal, str):
            guard, value = f"{kind} = 'text'", f"json_extract(c.fields, {self.bind(path)})"
            bound = self.bind(literal)
        elif isinstance(literal, Timestamp):
            guard = f"{kind} IN ('integer', 'real', 'text')"
            value = f"bc_timestamp(json_extract(c.fields, {self.bind(path)}))"
            bound = self.bind(literal.seconds)
        else:
            guard, value = f"{kind} IN ('integer', 'real')", f"json_extract(c.fields, {self.bind(path)})"
            bound = self.bind(literal)
        return f"COALESCE({guard} AND {value} {sql_op} {bound}, 0)"


def _balanced(parts: Sequence[str], joiner: str) -> str:
    """``parts`` joined as a balanced tree: SQLite's expression depth grows with the log of
    their number, not with it (a flat chain of 1 000 terms is "Expression tree is too large")."""
    if len(parts) <= 8:
        return "(" + joiner.join(parts) + ")"
    middle = len(parts) // 2
    return "(" + _balanced(parts[:middle], joiner) + joiner + _balanced(parts[middle:], joiner) + ")"


def filter_to_sql(audience_filter: Filter | str) -> tuple[str, list[Any]]:
    """``(sql, params)`` for a WHERE clause over contacts aliased ``c``."""
    node = parse_filter(audience_filter) if isinstance(audience_filter, str) else audience_filter
    builder = _Builder()
    sql = builder.build(node)
    return sql, builder.params
