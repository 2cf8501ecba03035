"""The ``broadcaster`` command line (click)."""

from __future__ import annotations

import click

__all__ = ["main"]


@click.group()
def main() -> None:
    """Send one message to a large audience, paced and accounted for."""


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
    from broadcaster_simulator.commands import sandbox, simulate
except ImportError:
    main.add_command(_needs_simulator("simulate", "rehearse a scenario against simulated providers"))
    main.add_command(_needs_simulator("sandbox", "serve a fake provider API on loopback"))
else:
    main.add_command(simulate)
    main.add_command(sandbox)
