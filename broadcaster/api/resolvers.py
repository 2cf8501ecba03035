"""The executable schema: the SDL in ``schema.graphql`` with a resolver per root field.

Resolvers are thin: they parse arguments, call :class:`~broadcaster.service.BroadcastService`
(the one service layer the CLI calls too) and shape the answer with :mod:`.views`. They
are synchronous — the store is — and the server runs each operation in a thread.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Callable

from graphql import GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, build_schema

from ..core.errors import ConfigError
from ..core.lifecycle import State
from ..core.models import Audience, FallbackTemplate, Mode, TemplateRoute
from ..core.outcomes import Outcome
from ..service import BroadcastService
from .views import (
    broadcast_view,
    contact_view,
    decode_cursor,
    encode_cursor,
    flow_view,
    health_view,
    parse_time,
    row_view,
    template_view,
)

__all__ = ["Info", "MAX_PAGE", "SDL", "build_api_schema", "service_of"]

SDL = resources.files("broadcaster.api").joinpath("schema.graphql").read_text()
#: the largest page a list field answers
MAX_PAGE = 500

Resolver = Callable[..., Any]
#: what a resolver is handed; the context is a dict holding the service
Info = GraphQLResolveInfo[dict[str, Any]]


def service_of(info: Info) -> BroadcastService:
    service: BroadcastService = info.context["service"]
    return service


def _first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise ConfigError(f"first: {first} is out of range", hint=f"ask for 1 to {MAX_PAGE} items per page")
    return first


# -- queries ------------------------------------------------------------------------------


def broadcasts(_: None, info: Info, first: int = 50, after: str | None = None,
               state: str | None = None) -> dict[str, Any]:  # fmt: skip
    service = service_of(info)
    offset = decode_cursor(after) or 0
    limit = _first(first)
    found = service.store.list_broadcasts(state=None if state is None else State(state), limit=offset + limit + 1)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    return {
        "nodes": [broadcast_view(service, b) for b in page],
        "endCursor": encode_cursor(offset + limit) if more else None,
    }


def broadcast(_: None, info: Info, id: str) -> dict[str, Any]:
    service = service_of(info)
    return broadcast_view(service, service.store.get_broadcast(id))


def history(_: None, info: Info, broadcastId: str, first: int = 50, after: str | None = None,
            status: str | None = None, search: str | None = None) -> dict[str, Any]:  # fmt: skip
    service = service_of(info)
    service.store.get_broadcast(broadcastId)  # NOT_FOUND for an unknown id, not an empty page
    page = service.store.history(
        broadcastId,
        outcome=None if status is None else Outcome(status),
        search=search or None,
        cursor=decode_cursor(after),
        limit=_first(first),
    )
    return {"rows": [row_view(row) for row in page.rows], "endCursor": encode_cursor(page.next_cursor)}


def integrations(_: None, info: Info) -> list[dict[str, Any]]:
    store = service_of(info).store
    return [
        {"name": i.name, "provider": i.provider, "health": health_view(store.get_integration_health(i.name))}
        for i in store.list_integrations()
    ]


def contacts(_: None, info: Info, filter: str = "", first: int = 50,
             after: str | None = None) -> dict[str, Any]:  # fmt: skip
    store = service_of(info).store
    limit = _first(first)
    found = store.contacts_page(filter, after_id=after, limit=limit + 1)
    page = found[:limit]
    return {
        "nodes": [contact_view(c) for c in page],
        "endCursor": page[-1].id if len(found) > limit else None,
        "totalCount": lambda info: store.count_contacts(filter),
    }


def flows(_: None, info: Info) -> list[dict[str, Any]]:
    return [flow_view(f) for f in service_of(info).store.list_flows()]


def templates(_: None, info: Info, integration: str | None = None) -> list[dict[str, Any]]:
    return [template_view(name, t) for name, t in service_of(info).store.list_templates(integration)]


def contact_attempts(_: None, info: Info, broadcastId: str, contactId: str) -> dict[str, Any]:
    service = service_of(info)
    service.store.get_contact(contactId)
    attempts = service.contact_attempts(broadcastId, contactId)
    reached = next((a.attempt for a in attempts if a.row is not None and a.row.outcome is Outcome.DELIVERED), None)
    return {
        "attempts": [
            {
                "attempt": a.attempt,
                "broadcast": broadcast_view(service, a.broadcast),
                "row": None if a.row is None else row_view(a.row),
            }
            for a in attempts
        ],
        "reachedOnAttempt": reached,
    }


def viewer(_: None, info: Info) -> dict[str, Any]:
    token = info.context["token"]
    return {"name": token.name, "scope": token.scope.name}


# -- mutations ----------------------------------------------------------------------------


def _routes(items: list[dict[str, Any]]) -> list[TemplateRoute]:
    return [TemplateRoute(i["integration"], i["template"], i["language"] or "en", tuple(i["params"] or ()),
                          i.get("when")) for i in items]  # fmt: skip


def _fallbacks(items: list[dict[str, Any]]) -> list[FallbackTemplate]:
    return [FallbackTemplate(i["integration"], i["template"], i["language"] or "en", tuple(i["params"] or ()))
            for i in items]  # fmt: skip


def create_broadcast(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    service = service_of(info)
    run_at = input.get("runAt")
    created = service.create(
        name=input["name"] or "",
        mode=Mode[input["mode"]],
        flow_id=input.get("flowId"),
        routes=_routes(input["routes"] or []),
        fallbacks=_fallbacks(input["fallbacks"] or []),
        channels=list(input["channels"] or []),
        audience_filter=input.get("filter"),
        contact_ids=input.get("contactIds"),
        run_at=None if run_at is None else parse_time(run_at, "runAt"),
        draft=bool(input["draft"]),
    )
    return broadcast_view(service, created)


def schedule_broadcast(_: None, info: Info, id: str, runAt: str | None = None) -> dict[str, Any]:
    service = service_of(info)
    return broadcast_view(service, service.schedule(id, run_at=None if runAt is None else parse_time(runAt, "runAt")))


def edit_broadcast(_: None, info: Info, id: str, input: dict[str, Any]) -> dict[str, Any]:
    service = service_of(info)
    changes: dict[str, object] = {}
    simple = {"name": "name", "flowId": "flow_id", "channels": "channels"}
    for key, name in simple.items():
        if input.get(key) is not None:
            changes[name] = tuple(input[key]) if key == "channels" else input[key]
    if input.get("routes") is not None:
        changes["routes"] = tuple(_routes(input["routes"]))
    if input.get("fallbacks") is not None:
        changes["fallbacks"] = tuple(_fallbacks(input["fallbacks"]))
    if input.get("filter") is not None and input.get("contactIds") is not None:
        raise ConfigError("give the audience as a filter or as a list of contact IDs, not both")
    if input.get("filter") is not None:
        changes["audience"] = Audience(filter=input["filter"])
    if input.get("contactIds") is not None:
        if not input["contactIds"]:
            raise ConfigError("contactIds is empty", hint="give at least one contact ID")
        changes["audience"] = Audience(contact_ids=tuple(dict.fromkeys(input["contactIds"])))
    if input.get("runAt") is not None:
        changes["run_at"] = parse_time(input["runAt"], "runAt")
    if not changes:
        raise ConfigError("nothing to change", hint="give at least one field of EditBroadcastInput")
    return broadcast_view(service, service.edit(id, **changes))


def cancel_broadcast(_: None, info: Info, id: str) -> dict[str, Any]:
    service = service_of(info)
    return broadcast_view(service, service.cancel(id))


def clone_broadcast(_: None, info: Info, id: str, name: str | None = None) -> dict[str, Any]:
    service = service_of(info)
    return broadcast_view(service, service.clone(id, name=name))


def retry_failed_contacts(_: None, info: Info, broadcastId: str, runAt: str | None = None,
                          contactIds: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    service = service_of(info)
    spawned = service.retry(
        broadcastId, run_at=None if runAt is None else parse_time(runAt, "runAt"), contact_ids=contactIds
    )
    return broadcast_view(service, spawned)


def _set_published(published: bool) -> Resolver:
    def resolve(_: None, info: Info, id: str) -> dict[str, Any]:
        return flow_view(service_of(info).store.set_flow_published(id, published))

    return resolve


_QUERY: dict[str, Resolver] = {
    "broadcasts": broadcasts,
    "broadcast": broadcast,
    "history": history,
    "integrations": integrations,
    "contacts": contacts,
    "flows": flows,
    "templates": templates,
    "contactAttempts": contact_attempts,
    "viewer": viewer,
}
_MUTATION: dict[str, Resolver] = {
    "createBroadcast": create_broadcast,
    "scheduleBroadcast": schedule_broadcast,
    "editBroadcast": edit_broadcast,
    "cancelBroadcast": cancel_broadcast,
    "cloneBroadcast": clone_broadcast,
    "retryFailedContacts": retry_failed_contacts,
    "publishFlow": _set_published(True),
    "unpublishFlow": _set_published(False),
}
ROOT_RESOLVERS = {"Query": _QUERY, "Mutation": _MUTATION}


def build_api_schema(subscribe: dict[str, Resolver] | None = None) -> GraphQLSchema:
    """The schema with every root field bound (a missing resolver is an error, not a null)."""
    schema = build_schema(SDL)
    for type_name, resolvers in ROOT_RESOLVERS.items():
        root = schema.get_type(type_name)
        assert isinstance(root, GraphQLObjectType)
        unbound = set(root.fields) ^ set(resolvers)
        if unbound:
            raise RuntimeError(f"{type_name} fields without a resolver (or resolvers without a field): {unbound}")
        for name, field in root.fields.items():
            field.resolve = resolvers[name]
    for name, subscriber in (subscribe or {}).items():
        subscription = schema.subscription_type
        assert subscription is not None
        subscription.fields[name].subscribe = subscriber
        subscription.fields[name].resolve = lambda value, info, **args: value
    return schema
