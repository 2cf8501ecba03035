"""``broadcaster plugin new NAME``: write a ready provider-plugin distribution."""

from __future__ import annotations

from pathlib import Path

import click

from .base import App, BroadcasterGroup, pass_app

__all__ = ["plugin"]


@click.group(cls=BroadcasterGroup)
def plugin() -> None:
    """Write a new provider plugin (``broadcaster plugins`` lists the installed ones).

    \b
    Example:
      broadcaster plugin new acme
      broadcaster plugin new acme_chat --dir ~/src/broadcaster-acme-chat
    """


@plugin.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The directory to create (default: ./broadcaster-NAME). It must not exist.",
)
@pass_app
def new(app: App, name: str, directory: Path | None) -> None:
    """Write the distribution of a new provider plugin NAME, ready to install and test.

    It holds a pyproject with the plugin's entry point, the provider class, example
    replies, a fake server for the simulator, tests running the conformance kit, a
    README and a rehearsal scenario. As generated it installs, passes its own tests and
    mypy --strict, and rehearses an outage; then replace its made-up API with yours.

    \b
    Example:
      broadcaster plugin new acme
      cd broadcaster-acme && pip install -e '.[test]' && pytest && mypy
      broadcaster rehearse acme-outage.toml
    """
    from ..plugin_template import plugin_names, render_plugin, write_plugin

    taken = {*app.registry.providers, *(info.plugin_name for info in app.registry)}
    taken |= {item.origin.name for item in app.registry.broken}
    names = plugin_names(name, taken=taken)
    target = directory if directory is not None else Path.cwd() / names.distribution
    files = render_plugin(names)
    write_plugin(target, files)
    click.echo(f"wrote {names.distribution} ({len(files)} files) in {target}")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest && mypy")
