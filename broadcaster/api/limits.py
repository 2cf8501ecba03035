"""Query depth and cost limits, as graphql-core validation rules (refused before running).

Cost counts every field a query would resolve, fragments expanded, a list field's
selections weighted by the page it asks for (``first``, default 50), so one request
cannot ask for the whole store through aliases, nesting or huge pages.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

__all__ = ["MAX_COST", "MAX_DEPTH", "limit_rules"]

MAX_DEPTH = 12
MAX_COST = 50_000
#: list fields whose children are multiplied by their page size
_PAGED = {"broadcasts", "history", "contacts"}
_DEFAULT_PAGE = 50


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            return 500  # a variable: assume the largest page allowed
    return _DEFAULT_PAGE


def _measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    depth: int,
    seen: frozenset[str],
) -> tuple[int, int]:
    """(deepest level, cost) of a selection set."""
    if selection_set is None:
        return depth, 0
    deepest, cost = depth, 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            below, inner = _measure(selection.selection_set, fragments, depth + 1, seen)
            weight = _page_size(selection) if selection.name.value in _PAGED else 1
            deepest, cost = max(deepest, below), cost + 1 + weight * inner
        elif isinstance(selection, InlineFragmentNode):
            below, inner = _measure(selection.selection_set, fragments, depth, seen)
            deepest, cost = max(deepest, below), cost + inner
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue  # unknown or cyclic: the standard rules report it
            below, inner = _measure(fragment.selection_set, fragments, depth, seen | {name})
            deepest, cost = max(deepest, below), cost + inner
    return deepest, cost


def limit_rules(max_depth: int = MAX_DEPTH, max_cost: int = MAX_COST) -> list[type[ASTValidationRule]]:
    class QueryLimits(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = {
                d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth, cost = _measure(node.selection_set, self.fragments, 0, frozenset())
            if depth > max_depth:
                self.report_error(
                    GraphQLError(f"the query is {depth} levels deep; at most {max_depth} are allowed", node)
                )
            elif cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"the query would resolve about {cost} fields; at most {max_cost} are allowed"
                        " — ask for smaller pages (first) or fewer fields",
                        node,
                    )
                )

    return [QueryLimits]
