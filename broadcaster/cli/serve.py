"""``broadcaster serve`` (the GraphQL API) and ``broadcaster tokens`` (who may use it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.table import Table

from ..api import Scope, TokenFile, schema_sdl, serve, tokens_path
from .base import App, CliError, emit_json, json_option, pass_app
from .render import console
from .times import format_time

__all__ = ["serve_command", "tokens"]


def _token_file(app: App) -> TokenFile:
    return TokenFile(tokens_path(app.store_target))


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
    and GraphiQL at http://HOST:PORT/graphiql (both sign in with a token).

    \b
    Example:
      broadcaster tokens create ops --scope write
      broadcaster serve --port 8000
    """
    if print_schema:
        click.echo(schema_sdl(), nl=False)
        return
    target = app.store_target
    if target != ":memory:" and not Path(target).exists():
        raise CliError(
            f"no such store {target}",
            hint="point --store at an existing store, or create one (e.g. `broadcaster integrations add`)",
        )
    tokens = _token_file(app)
    if not tokens.list():
        click.echo(
            f"warning: no API tokens in {tokens.path}: every request will be refused"
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
    secret = _token_file(app).create(name, Scope(scope))
    click.echo(secret)
    click.echo(f"created {scope} token {name!r}; keep the secret above, it is not stored", err=True)


@tokens.command("list")
@json_option
@pass_app
def list_tokens(app: App, as_json: bool) -> None:
    """The tokens by name and scope (never their secrets).

    \b
    Example:
      broadcaster tokens list --json
    """
    found = _token_file(app).list()
    if as_json:
        emit_json([{"name": t.name, "scope": t.scope.value, "created_at": t.created_at} for t in found])
        return
    if not found:
        click.echo("no API tokens")
        return
    table = Table("name", "scope", "created")
    for token in found:
        table.add_row(token.name, token.scope.value, format_time(token.created_at, app.zone))
    console().print(table)


@tokens.command("revoke")
@click.argument("name")
@pass_app
def revoke_token(app: App, name: str) -> None:
    """Revoke token NAME: requests with it are refused from now on.

    \b
    Example:
      broadcaster tokens revoke dashboard
    """
    _token_file(app).revoke(name)
    click.echo(f"revoked token {name!r}")
