"""docs/schema.graphql is the served schema, exactly."""

from __future__ import annotations

from pathlib import Path

from broadcaster.api import schema_sdl

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"


def test_committed_sdl_matches_the_served_schema():
    assert DOC.read_text() == schema_sdl(), (
        "docs/schema.graphql differs from the schema the server serves;"
        " regenerate it: .venv/bin/broadcaster serve --print-schema > docs/schema.graphql"
    )


def test_every_root_field_has_a_resolver():
    from broadcaster.api import make_executor_schema

    schema = make_executor_schema()
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        assert all(field.resolve is not None for field in root.fields.values())
    assert schema.subscription_type is not None
    assert all(f.subscribe is not None for f in schema.subscription_type.fields.values())
