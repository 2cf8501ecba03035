"""``db``: the store's schema — ``db upgrade`` applies the missing migrations explicitly."""

from __future__ import annotations

import click

from .base import App, pass_app
from .serve import import_old_tokens

__all__ = ["db"]


@click.group()
def db() -> None:
    """The store's database: schema version and upgrades.

    \b
    Examples:
      broadcaster db upgrade
    """


@db.command()
@pass_app
def upgrade(app: App) -> None:
    """Upgrade the store's schema to the newest version (SQLite or PostgreSQL).

    Opening a store upgrades it too; run this before starting several workers of a new
    release, so that none of them does it mid-run. A store written by a newer broadcaster
    is refused.

    \b
    Examples:
      broadcaster db upgrade
      broadcaster --store postgresql://broadcaster@db.internal:5432/broadcaster db upgrade
    """
    engine = app.store.engine
    if engine.version_found == engine.version:
        click.echo(f"{engine.where}: schema version {engine.version}, up to date")
    else:
        click.echo(f"{engine.where}: upgraded schema from version {engine.version_found} to {engine.version}")
    import_old_tokens(app)
