"""``broadcaster serve`` (the GraphQL API) and ``broadcaster tokens`` (who may use it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.table import Table

from ..api.tokens import Scope, Tokens, import_token_file, token_file_path
from ..store.opening import is_postgres_url
from .base import App, CliError, emit_json, json_option, pass_app
from .render import console
from .times import format_time

__all__ = ["import_old_tokens", "serve_command", "tokens"]


def _require_store(app: App) -> None:
    """Tokens and the API belong to a store: refuse (nothing written) when there is none."""
    target = app.store_target
    if target != ":memory:" and not is_postgres_url(target) and not Path(target).exists():
        raise CliError(
            f"no such store {target}",
            hint="point --store at an existing store, or create one (e.g. `broadcaster integrations add`)",
        )


def import_old_tokens(app: App) -> None:
    """Move the tokens of an older version's ``<store>.tokens.json`` into the store, once."""
    notice = import_token_file(app.store, token_file_path(app.store_target))
    if notice:
        click.echo(notice, err=True)


def _tokens(app: App) -> Tokens:
    _require_store(app)
    import_old_tokens(app)
    return Tokens(app.store)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless told).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--print-schema", is_flag=True, help="Print the schema in SDL (docs/schema.graphql) and exit.")
@pass_app
def serve_command(app: App, host: str, port: int, print_schema: bool) -> None:
    """Serve the GraphQL API at http://HOST:PORT/graphql until Ctrl-C.

    Queries, mutations and the broadcastUpdates subscription (WebSocket or SSE); every
    request needs a token from `broadcaster tokens create`. Run it beside `broadcaster run`:
    the API schedules, the worker sends. The operator console is at http://HOST:PORT/
    and GraphiQL at http://HOST:PORT/graphiql (both sign in with a token). Any store
    works, PostgreSQL too; several serve processes of one store share its tokens.

    \b
    Example:
      broadcaster tokens create ops --scope write
      broadcaster serve --port 8000
      broadcaster --store postgresql://broadcaster@db:5432/broadcaster serve
    """
    from ..api.serving import schema_sdl, serve  # graphql-core and hypercorn: only here

    if print_schema:
        click.echo(schema_sdl(), nl=False)
        return
    app.store_wait = 5.0  # a request answers STORE_UNAVAILABLE after 5 s without PostgreSQL
    tokens = _tokens(app)
    if not tokens.list():
        click.echo(
            f"warning: no API tokens in {app.store.path}: every request will be refused"
            " — create one with `broadcaster tokens create NAME --scope read|write`",
            err=True,
        )

    def ready() -> None:
        shown = f"[{host}]" if ":" in host else host
        click.echo(
            f"serving GraphQL at http://{shown}:{port}/graphql and the console at http://{shown}:{port}/"
            " (Ctrl-C stops)",
            err=True,
        )

    asyncio.run(serve(app.service, tokens, host=host, port=port, on_ready=ready))


@click.group()
def tokens() -> None:
    """API tokens for `broadcaster serve`: create (shown once), list, revoke.

    \b
    Examples:
      broadcaster tokens create dashboard --scope read
      broadcaster tokens list
      broadcaster tokens revoke dashboard
    """


@tokens.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice([s.value for s in Scope]), required=True,
              help="read: queries and subscriptions; write: mutations too.")  # fmt: skip
@pass_app
def create_token(app: App, name: str, scope: str) -> None:
    """Create token NAME and print its secret — the only time it is shown (it is stored hashed).

    \b
    Example:
      broadcaster tokens create dashboard --scope read
    """
    secret = _tokens(app).create(name, Scope(scope))
    click.echo(secret)
    click.echo(f"created {scope} token {name!r}; keep the secret above, it is not stored", err=True)


@tokens.command("list")
@json_option
@pass_app
def list_tokens(app: App, as_json: bool) -> None:
    """The tokens by name, scope, creation and last use (never their secrets).

    \b
    Example:
      broadcaster tokens list --json
    """
    found = _tokens(app).list()
    if as_json:
        emit_json(
            [
                {"name": t.name, "scope": t.scope.value, "created_at": t.created_at, "last_used_at": t.last_used_at}
                for t in found
            ]
        )
        return
    if not found:
        click.echo("no API tokens")
        return
    table = Table("name", "scope", "created", "last used")
    for token in found:
        used = "never" if token.last_used_at is None else format_time(token.last_used_at, app.zone)
        table.add_row(token.name, token.scope.value, format_time(token.created_at, app.zone), used)
    console().print(table)


@tokens.command("revoke")
@click.argument("name")
@pass_app
def revoke_token(app: App, name: str) -> None:
    """Revoke token NAME: every `serve` of this store refuses it from its next request on.

    \b
    Example:
      broadcaster tokens revoke dashboard
    """
    _tokens(app).revoke(name)
    click.echo(f"revoked token {name!r}")
