"""The ``broadcaster`` command line (click): parse, call the library, render.

One module per command group; :data:`main` is the console script's entry point
(``broadcaster.cli:main``). The reference is docs/cli.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from .base import App, BroadcasterGroup
from .broadcasts import cancel, create, edit, lineage, list_broadcasts, purge, retry, show
from .contacts import contacts
from .db import db
from .history import history
from .lifecycle import clone, schedule
from .plugin_new import plugin
from .serve import serve_command, tokens
from .setup import flows, integrations, plugins, templates
from .worker import run
from .workers import workers

__all__ = ["main"]


@click.group("broadcaster", cls=BroadcasterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Configuration file (TOML). Default: $BROADCASTER_CONFIG, else ./broadcaster.toml if it exists.",
)
@click.option("--store", "store_url", default=None, help="Store URL or SQLite path (overrides config and env).")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, store_url: str | None) -> None:
    """Send one message to a large audience, paced and accounted for.

    \b
    Example, from nothing to a delivered broadcast:
      broadcaster integrations add tg --provider telegram --secret token=TG_TOKEN
      broadcaster contacts import people.csv
      broadcaster flows add welcome.toml
      broadcaster create --name hello --flow welcome --filter 'city = "Oslo"'
      broadcaster run --once
      broadcaster show <ID>
    """
    app = App(config_path=config_path, store_override=store_url)
    ctx.obj = app
    ctx.call_on_close(app.close)


for _command in (
    plugins,
    plugin,
    integrations,
    contacts,
    flows,
    templates,
    create,
    list_broadcasts,
    show,
    history,
    run,
    cancel,
    edit,
    retry,
    lineage,
    purge,
    serve_command,
    tokens,
    schedule,
    clone,
    db,
    workers,
):
    main.add_command(_command)


# -- the simulator's commands (a separate distribution, registered explicitly) ----------------


def _needs_simulator(name: str, why: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True}, add_help_option=False)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        raise click.ClickException(
            f"'broadcaster {name}' needs the simulator ({why}); install it: pip install -e simulator"
        )

    command.help = f"(not installed) {why}"
    return command


try:
    from broadcaster_simulator.commands import rehearse, sandbox, simulate
except ImportError:
    main.add_command(_needs_simulator("simulate", "rehearse a scenario against simulated providers"))
    main.add_command(_needs_simulator("rehearse", "run a scenario through the real engine against fake servers"))
    main.add_command(_needs_simulator("sandbox", "serve a fake provider API on loopback"))
else:
    main.add_command(simulate)
    main.add_command(rehearse)
    main.add_command(sandbox)
