"""What every command shares: the error handling group, the lazily built :class:`App`, output helpers.

The CLI is thin: a command parses its options, calls the library (the service, the store,
the runtime) and renders the answer. Every refusal the library makes is a
:class:`~broadcaster.core.errors.BroadcasterError`; :class:`BroadcasterGroup` turns it into
one line ``error: <message> — <hint>`` on stderr, exit code 1. A command line click cannot
parse (or a malformed filter) is exit code 2, in the same one-line form. Nothing else
reaches the user as a traceback.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import attrs
import click

from ..config import Config, load_config
from ..core.errors import BroadcasterError, FilterSyntaxError
from ..plugins import ProviderRegistry, make_plugin_manager
from ..serde import converter
from ..service import BroadcastService
from ..store import SQLStore, open_store, sqlite_target
from ..store.faults import describe_sqlite_error
from ..store.opening import is_postgres_url
from .escaping import clean
from .times import Zone, local_zone

__all__ = [
    "App",
    "BroadcasterGroup",
    "CliError",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "FiniteRange",
    "emit_json",
    "json_option",
    "pass_app",
    "unstructure",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


class CliError(BroadcasterError):
    """Bad input the command line itself finds (an unreadable file, a malformed row)."""

    code = "BAD_INPUT"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_hint(exc: click.UsageError) -> str:
    ctx = exc.ctx
    if ctx is None:
        return "see 'broadcaster --help'"
    return f"see '{ctx.command_path} --help'"


class BroadcasterGroup(click.Group):
    """A click group whose failures are one line on stderr (see the module docstring)."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name or "broadcaster", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            _fail(f"{_one_line(exc.format_message()).rstrip('.')} — {_usage_hint(exc)}", exc.exit_code)
        except click.ClickException as exc:
            _fail(_one_line(exc.format_message()), exc.exit_code)
        except click.Abort:
            _fail("aborted", EXIT_FAILURE)
        except FilterSyntaxError as exc:
            _fail(_one_line(str(exc)), EXIT_USAGE)
        except BroadcasterError as exc:
            _fail(_one_line(str(exc)), EXIT_FAILURE)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            app = ctx.find_object(App)
            if app is not None:
                app.failed = True
            fault = _inner(exc, sqlite3.Error)
            if fault is not None and app is not None:
                raise describe_sqlite_error(fault, app.store_target) from None
            refusal = _inner(exc, BroadcasterError) if isinstance(exc, BaseExceptionGroup) else None
            if refusal is not None:
                raise refusal from None
            raise


E = TypeVar("E", bound=BaseException)


def _inner(exc: BaseException, kind: type[E]) -> E | None:
    """The ``kind`` error behind ``exc``, also inside a task group's exception group
    (a store fault or a refusal inside the worker's nurseries is still one line)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _inner(inner, kind)
            if found is not None:
                return found
    return None


def _fail(line: str, code: int) -> None:
    click.echo(f"error: {clean(line)}", err=True)
    sys.exit(code)


#: commands that write something new into the store (the others never create an empty one)
_CREATING_COMMANDS = frozenset({"add", "import", "create", "rehearse", "upgrade"})


@attrs.define
class App:
    """The objects a command needs, built on first use (``--help`` opens nothing)."""

    config_path: Path | None = None
    store_override: str | None = None
    _config: Config | None = None
    _store: SQLStore | None = None
    _registry: ProviderRegistry | None = None
    #: set when the command fails: a store file it created is then removed again
    failed: bool = False
    _created: Path | None = None
    #: how long a PostgreSQL call waits for a connection (serve answers sooner than a worker)
    store_wait: float = 30.0

    @property
    def config(self) -> Config:
        if self._config is None:
            config = load_config(self.config_path)
            if self.store_override:
                config = attrs.evolve(config, store=self.store_override)
            self._config = config
        return self._config

    @property
    def store(self) -> SQLStore:
        """The store; only commands that put something in it may create it."""
        if self._store is None:
            context = click.get_current_context(silent=True)
            creating = context is None or context.command.name in _CREATING_COMMANDS
            target = self.store_target
            fresh = target != ":memory:" and not is_postgres_url(target) and not Path(target).exists()
            # a store named with --store must exist for a reading command ("no such store")
            self._store = open_store(
                self.config.store, create=creating, must_exist=bool(self.store_override), wait=self.store_wait
            )
            if fresh and self._store.path != ":memory:":
                self._created = Path(target)
        return self._store

    @property
    def store_target(self) -> str:
        """The SQLite file the store names, or the PostgreSQL URL as given."""
        store = self.config.store
        return store if is_postgres_url(store) else sqlite_target(store)

    @property
    def registry(self) -> ProviderRegistry:
        if self._registry is None:
            self._registry = ProviderRegistry(make_plugin_manager())
            for item in self._registry.broken:
                # reported, not fatal: commands that do not use this plugin carry on
                click.echo(f"warning: {item.message()}; its providers are unavailable", err=True)
        return self._registry

    @property
    def service(self) -> BroadcastService:
        return BroadcastService(
            store=self.store, registry=self.registry, quota=self.config.quota, max_lateness=self.config.max_lateness
        )

    @property
    def zone(self) -> Zone:
        return self.config.timezone or local_zone()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.failed and self._created is not None:
            # a refused command leaves no new, empty store behind
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self._created}{suffix}").unlink(missing_ok=True)
            self._created = None


pass_app = click.make_pass_decorator(App)


class FiniteRange(click.FloatRange):
    """click's FloatRange, which lets ``nan`` through every bound, without it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable keys, see docs/cli.md).")(func)


def unstructure(value: Any) -> Any:
    """A model as plain JSON data, through broadcaster's one converter."""
    return converter().unstructure(value)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))
