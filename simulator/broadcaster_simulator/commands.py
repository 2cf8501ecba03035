"""The ``broadcaster simulate``, ``rehearse`` and ``sandbox`` commands (registered by
``broadcaster.cli``). Thin: parse, call the library, render. Errors are one line on
stderr with exit code 2, never a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import attrs
import click

from broadcaster.core.errors import BroadcasterError
from broadcaster.runtime.callbacks import bind_error

from .model import Scenario
from .scenario import MAX_AUDIENCE

__all__ = ["rehearse", "sandbox", "simulate"]


class _Refused(click.ClickException):
    """A bad scenario or option: one line, exit code 2 (like a usage error)."""

    exit_code = 2


_SIZE = click.option(
    "--size",
    type=click.IntRange(min=0, max=MAX_AUDIENCE),
    default=None,
    help="Override the audience size (the same shares, fates and timeline; e.g. your real audience's).",
)


_HTML = click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the report as one self-contained HTML page (an inline plot, the tables; no script, no CDN).",
)


def _write_html(path: Path | None, page: str) -> None:
    if path is None:
        return
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write the page to {path}: {exc.strerror or exc}") from None
    click.echo(f"page: {path}", err=True)


def _resized(scenario: Scenario, size: int | None) -> Scenario:
    if size is None:
        return scenario
    return attrs.evolve(scenario, audience=attrs.evolve(scenario.audience, size=size))


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Override the scenario's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of text.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the picture (.svg or .png). Default: <scenario name>.svg in the current directory.",
)
@click.option("--no-plot", is_flag=True, help="Do not write the picture.")
@_HTML
@_SIZE
def simulate(
    scenario: Path,
    seed: int | None,
    as_json: bool,
    plot_path: Path | None,
    no_plot: bool,
    html_path: Path | None,
    size: int | None,
) -> None:
    """Rehearse the broadcast in SCENARIO (a TOML file) against simulated providers.

    Prints the report (the same bytes for the same scenario and seed) and writes a
    timeline picture. Nothing is sent anywhere; the clock is virtual.
    """
    from .driver import simulate as run_simulation
    from .plot import write_plot
    from .report import build_report, render_json, render_text
    from .report_html import render_simulation_html
    from .scenario import load_scenario

    if plot_path is not None and no_plot:
        raise click.UsageError("--plot and --no-plot exclude each other")
    if plot_path is not None and plot_path.suffix.lower() not in (".svg", ".png"):
        raise click.UsageError(f"--plot must name a .svg or .png file, got {str(plot_path)!r}")
    try:
        loaded = _resized(load_scenario(scenario), size)
        result = run_simulation(loaded, seed=seed)
    except BroadcasterError as exc:
        raise _Refused(str(exc)) from None
    report = build_report(result)
    click.echo(render_json(report) if as_json else render_text(report), nl=False)
    _write_html(html_path, render_simulation_html(report, loaded))
    if not no_plot:
        target = plot_path or Path.cwd() / f"{scenario.stem}.svg"
        try:
            write_plot(report, target)
        except OSError as exc:
            raise click.ClickException(f"cannot write the picture to {target}: {exc.strerror or exc}") from None
        click.echo(f"picture: {target}", err=True)


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Override the scenario's seed.")
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The SQLite store to write (default: ./rehearsal.db). It is replaced on every run; a file that is not"
    " an earlier rehearsal's store is never touched. The global --store and the config's store are not used.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of text.")
@_HTML
@_SIZE
def rehearse(
    scenario: Path, seed: int | None, store_path: Path | None, as_json: bool, html_path: Path | None, size: int | None
) -> None:
    """Run the broadcast in SCENARIO (a TOML file) through the real engine.

    Unlike `simulate`, everything real takes part: the scenario's audience is written
    into a fresh SQLite store, the provider plugins, the service, the worker and the
    HTTP executor run it, against fake provider servers answering in each provider's
    wire format, on a virtual clock (minutes of broadcast take seconds). The retry
    policy is applied with Retry. The report is read back from the store; its checks
    fail (exit code 1) if a contact lacks its one row or a message was accepted twice.

    \b
    Example, then look around the store it left:
      broadcaster rehearse examples/outage-mid-run.toml
      broadcaster --store rehearsal.db show r1
      broadcaster --store rehearsal.db history r2 --status failed
    """
    from broadcaster.runtime.stopping import StopWatch, exit_code, is_interrupt

    from .rehearse import DEFAULT_STORE, build_rehearsal_report, render_json, render_rehearsal_text
    from .rehearse import rehearse as run_rehearsal
    from .report_html import render_rehearsal_html
    from .scenario import load_scenario

    target = store_path or DEFAULT_STORE
    watch = StopWatch()
    try:
        loaded = _resized(load_scenario(scenario), size)
        result = run_rehearsal(loaded, store_path=target, seed=seed, watch=watch)
    except BroadcasterError as exc:
        raise _Refused(str(exc)) from None
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        watch.signum, watch.forced = watch.signum or signal.SIGINT, True  # Ctrl-C while starting or closing
    if watch.signum is not None:
        how = "at once" if watch.forced else "gracefully"
        click.echo(f"rehearsal stopped {how} on {watch.name}; its store holds the run so far: {target}", err=True)
        click.get_current_context().exit(exit_code(watch.signum))
    report = build_rehearsal_report(result)
    click.echo(render_json(report) if as_json else render_rehearsal_text(report), nl=False)
    _write_html(html_path, render_rehearsal_html(report, loaded))
    broken = [name for name, passed in report["checks"].items() if not passed]
    if broken:
        raise click.ClickException(f"the rehearsal broke an invariant: {', '.join(broken)} (store: {target})")


@click.command()
@click.argument("provider")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Drive the fake server with this scenario's failure model (its first integration of PROVIDER).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True, help="Loopback port.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Override the scenario's seed.")
def sandbox(provider: str, scenario_path: Path | None, port: int, seed: int | None) -> None:
    """Serve a fake PROVIDER API on 127.0.0.1 until Ctrl-C.

    It answers in the provider's real wire format, with the failures of the scenario's
    timeline on a clock that starts when the server does. Point an integration's
    base_url at it to rehearse the real plugins and runtime end to end.
    """
    from .sandbox import build_fake, serve

    try:
        fake = build_fake(provider, scenario_path=scenario_path, seed=seed)
    except BroadcasterError as exc:
        raise _Refused(str(exc)) from None
    _check_port_free(port)  # before saying it listens (hypercorn's own failure comes as a group)
    click.echo(f"fake {provider} API on http://127.0.0.1:{port} (Ctrl-C to stop)", err=True)
    try:
        serve(fake, port=port)
    except (OSError, BaseExceptionGroup) as caught:
        fault = bind_error(caught)
        if fault is None:
            raise
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {fault.strerror or fault}") from None
    except KeyboardInterrupt:
        pass
    click.echo(f"stopped; it accepted {len(fake.accepted)} messages", err=True)


def _check_port_free(port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; give a free --port"
            ) from None
