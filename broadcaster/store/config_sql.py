"""The configuration the SQL store keeps: integrations and their health, flows, templates.

Mixed into :class:`broadcaster.store.sql.SQLStore`. Each is a JSON body under its key,
written with one upsert (``ON CONFLICT … DO UPDATE``, the same on both engines).
"""

from __future__ import annotations

import json
from typing import Any, ContextManager, Sequence

from broadcaster.core.errors import NotFound
from broadcaster.core.models import Flow, Integration, Template
from broadcaster.serde import converter

from .base import HealthStatus, IntegrationHealth
from .engine import Tx

__all__ = ["ConfigStore"]


class ConfigStore:
    """Mixed into :class:`broadcaster.store.sql.SQLStore`."""

    def _tx(self) -> ContextManager[Tx]:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _put(self, sql: str, params: Sequence[Any]) -> None:
        with self._tx() as conn:
            conn.execute(sql, params)

    def _get_body(self, sql: str, params: Sequence[Any], cls: Any, what: str) -> Any:
        rows = self._query(sql, params)
        if not rows:
            raise NotFound(f"no {what}", hint="check the name or id; list what exists first")
        return converter().structure(json.loads(rows[0][0]), cls)

    def put_integration(self, integration: Integration) -> None:
        body = json.dumps(converter().unstructure(integration))
        self._put(
            "INSERT INTO integrations (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            (integration.name, body),
        )

    def get_integration(self, name: str) -> Integration:
        sql = "SELECT body FROM integrations WHERE name = ?"
        result: Integration = self._get_body(sql, (name,), Integration, f"integration named {name!r}")
        return result

    def list_integrations(self) -> list[Integration]:
        rows = self._query("SELECT body FROM integrations ORDER BY name")
        return [converter().structure(json.loads(row[0]), Integration) for row in rows]

    def put_integration_health(self, health: IntegrationHealth) -> None:
        self._put(
            "INSERT INTO integration_health (integration, status, detail, updated_at, allows_more)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (integration) DO UPDATE SET status = excluded.status, detail = excluded.detail,"
            " updated_at = excluded.updated_at, allows_more = excluded.allows_more",
            (health.integration, health.status.value, health.detail, health.updated_at, health.allows_more),
        )

    def get_integration_health(self, name: str) -> IntegrationHealth | None:
        rows = self._query(
            "SELECT status, detail, updated_at, allows_more FROM integration_health WHERE integration = ?", (name,)
        )
        if not rows:
            return None
        status, detail, updated_at, allows_more = rows[0]
        return IntegrationHealth(name, HealthStatus(status), detail, updated_at, allows_more)

    def put_flow(self, flow: Flow) -> None:
        self._put(
            "INSERT INTO flows (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (flow.id, json.dumps(converter().unstructure(flow))),
        )

    def get_flow(self, flow_id: str) -> Flow:
        result: Flow = self._get_body(
            "SELECT body FROM flows WHERE id = ?", (flow_id,), Flow, f"flow with id {flow_id!r}"
        )
        return result

    def list_flows(self) -> list[Flow]:
        return [
            converter().structure(json.loads(row[0]), Flow) for row in self._query("SELECT body FROM flows ORDER BY id")
        ]

    def set_flow_published(self, flow_id: str, published: bool) -> Flow:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM flows WHERE id = ?", (flow_id,)).fetchall()
            if not rows:
                raise NotFound(f"no flow with id {flow_id!r}", hint="check the id; list flows first")
            body = json.loads(rows[0][0])
            body["published"] = published
            conn.execute("UPDATE flows SET body = ? WHERE id = ?", (json.dumps(body), flow_id))
        result: Flow = converter().structure(body, Flow)
        return result

    def put_template(self, integration: str, template: Template) -> None:
        self._put(
            "INSERT INTO templates (integration, name, language, body) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (integration, name, language) DO UPDATE SET body = excluded.body",
            (integration, template.name, template.language, json.dumps(converter().unstructure(template))),
        )

    def get_template(self, integration: str, name: str, language: str = "en") -> Template:
        result: Template = self._get_body(
            "SELECT body FROM templates WHERE integration = ? AND name = ? AND language = ?",
            (integration, name, language),
            Template,
            f"template {name!r} ({language}) on integration {integration!r}",
        )
        return result

    def list_templates(self, integration: str | None = None) -> list[tuple[str, Template]]:
        where = "" if integration is None else " WHERE integration = ?"
        rows = self._query(
            f"SELECT integration, body FROM templates{where} ORDER BY integration, name, language",
            () if integration is None else (integration,),
        )
        return [(row[0], converter().structure(json.loads(row[1]), Template)) for row in rows]
