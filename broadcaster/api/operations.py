"""One GraphQL request from parse to result: limits, access scope, execution, error shapes.

Shared by the HTTP, SSE and WebSocket handlers of :mod:`.server`, so each of them refuses
the same things the same way.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
from typing import Any, AsyncIterator

import attrs
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute_sync,
    get_operation_ast,
    parse,
    specified_rules,
    subscribe,
    validate,
)
from graphql.language import DocumentNode

from ..core.errors import BroadcasterError
from ..service import BroadcastService
from .errors import ApiError, code_of, format_error
from .limits import limit_rules
from .live import POLL_SECONDS, LiveFeeds, subscribe_broadcast_updates
from .resolvers import build_api_schema
from .tokens import ApiToken, Scope

__all__ = ["Executor", "Request", "refusal"]

#: the longest query text accepted (the body limit bounds variables too)
MAX_QUERY_CHARS = 20_000


def refusal(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


@attrs.frozen
class Request:
    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> Request:
        if not isinstance(body, dict):
            raise ApiError("the request body must be a JSON object with a 'query'", code="BAD_REQUEST")
        query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise ApiError("the request has no 'query' string", code="BAD_REQUEST")
        if variables is not None and not isinstance(variables, dict):
            raise ApiError("'variables' must be a JSON object", code="BAD_REQUEST")
        if name is not None and not isinstance(name, str):
            raise ApiError("'operationName' must be a string", code="BAD_REQUEST")
        return cls(query, variables, name)


def _result_json(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [format_error(error) for error in result.errors]
    if result.data is not None or not result.errors:
        body["data"] = result.data
    return body


class Executor:
    """Runs requests against the service; mutations one at a time (the store's checks —
    quota, pending retry — read then write, and this process must not interleave them)."""

    def __init__(self, service: BroadcastService, *, poll: float | None = None) -> None:
        self.service = service
        self.schema: GraphQLSchema = build_api_schema({"broadcastUpdates": subscribe_broadcast_updates})
        self.rules = [*specified_rules, *limit_rules()]
        self._mutations = threading.Lock()
        # one store poller per watched broadcast, whatever the number of its subscribers
        self.feeds = LiveFeeds(service, poll=POLL_SECONDS if poll is None else poll)
        self._context: dict[str, Any] = {"service": service, "feeds": self.feeds}
        # the latest result of each subscription document, for the next subscriber holding the same event
        self._shared_results: dict[tuple[str, str | None, str], tuple[dict[str, Any], dict[str, Any]]] = {}
        # parsing and validating cost more than running a page of history: a client sends
        # the same few documents again and again (the variables differ), so keep them
        self._checked = functools.lru_cache(maxsize=256)(self._parse_and_validate)

    def _parse_and_validate(self, query: str) -> DocumentNode | dict[str, Any]:
        try:
            document = parse(query)
        except GraphQLError as error:
            return {"errors": [format_error(error)]}
        errors = validate(self.schema, document, self.rules)
        if errors:
            return {"errors": [format_error(error) for error in errors]}
        return document

    def prepare(self, request: Request, token: ApiToken) -> tuple[DocumentNode, OperationType] | dict[str, Any]:
        """The parsed, validated document and its operation type, or the refusal to send."""
        if len(request.query) > MAX_QUERY_CHARS:
            return refusal(f"the query is longer than {MAX_QUERY_CHARS} characters", "BAD_REQUEST")
        checked = self._checked(request.query)
        if isinstance(checked, dict):
            return checked
        document = checked
        operation = get_operation_ast(document, request.operation_name)
        if operation is None:
            return refusal("name the operation to run (operationName)", "BAD_REQUEST")
        if operation.operation is OperationType.MUTATION and token.scope is not Scope.WRITE:
            return refusal(
                f"token {token.name!r} may only read; mutations need a write token"
                " — create one with `broadcaster tokens create NAME --scope write`",
                "FORBIDDEN",
            )
        return document, operation.operation

    def _context_of(self, token: ApiToken) -> dict[str, Any]:
        return {**self._context, "token": token}

    def _run_sync(self, request: Request, token: ApiToken, document: DocumentNode,
                  kind: OperationType) -> dict[str, Any]:  # fmt: skip
        def run() -> ExecutionResult:
            return execute_sync(
                self.schema,
                document,
                context_value=self._context_of(token),
                variable_values=request.variables,
                operation_name=request.operation_name,
            )

        if kind is OperationType.MUTATION:
            with self._mutations:
                return _result_json(run())
        return _result_json(run())

    async def run(self, request: Request, token: ApiToken) -> dict[str, Any]:
        """A query or mutation (a subscription needs a stream: see :meth:`stream`)."""
        prepared = self.prepare(request, token)
        if isinstance(prepared, dict):
            return prepared
        document, kind = prepared
        if kind is OperationType.SUBSCRIPTION:
            return refusal(
                "a subscription needs a stream: use the WebSocket (graphql-transport-ws) or"
                " 'Accept: text/event-stream'",
                "BAD_REQUEST",
            )
        return await asyncio.to_thread(self._run_sync, request, token, document, kind)

    async def stream(self, request: Request, token: ApiToken) -> AsyncIterator[dict[str, Any]]:
        """Each result of a subscription (a query or mutation yields its one result)."""
        prepared = self.prepare(request, token)
        if isinstance(prepared, dict):
            yield prepared
            return
        document, kind = prepared
        if kind is not OperationType.SUBSCRIPTION:
            yield await asyncio.to_thread(self._run_sync, request, token, document, kind)
            return
        context = self._context_of(token)
        outcome = subscribe(
            self.schema,
            document,
            context_value=context,
            variable_values=request.variables,
            operation_name=request.operation_name,
        )
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, ExecutionResult):
            yield _result_json(outcome)
            return
        source = context.get("source")
        try:
            if source is None:
                async for result in outcome:
                    yield _result_json(result)
                return
            async for event in source:
                yield self._event_result(request, document, context, event)
        except BroadcasterError as exc:
            yield refusal(exc.message, code_of(exc))
        finally:
            aclose = getattr(outcome, "aclose", None)
            if aclose is not None:
                await aclose()

    def _event_result(self, request: Request, document: DocumentNode, context: dict[str, Any],
                      event: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """One subscription event as a result; executed once for every subscriber that sent
        the same document and variables and holds the same (shared) event."""
        key = (request.query, request.operation_name, json.dumps(request.variables, sort_keys=True, default=str))
        held = self._shared_results.get(key)
        if held is not None and held[0] is event:
            return held[1]
        result = _result_json(
            execute_sync(
                self.schema,
                document,
                root_value=event,
                context_value=context,
                variable_values=request.variables,
                operation_name=request.operation_name,
            )
        )
        self._shared_results.pop(key, None)
        self._shared_results[key] = (event, result)
        while len(self._shared_results) > 256:
            del self._shared_results[next(iter(self._shared_results))]
        return result
