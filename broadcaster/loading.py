"""Building the plugin manager: loading the ``broadcaster`` entry points one by one.

There is no module-global manager: :func:`make_plugin_manager` builds a fresh one every
time (tests build theirs with ``autoload=False``). Plugins arrive through the
``broadcaster`` entry-point group — the built-in providers too, so they are exactly the
template a third party copies.

A plugin that cannot be imported or implements an unknown hook does not stop the others:
it is recorded in :attr:`BroadcasterPluginManager.broken` with its entry point,
distribution and error, and ``broadcaster plugins`` lists it as broken.

Environment controls (mirroring pytest's)::

    BROADCASTER_DISABLE_PLUGIN_AUTOLOAD=1   load no entry points
    BROADCASTER_BLOCK_PLUGINS=viber,foo     block these entry-point names
    BROADCASTER_TRACE_PLUGINS=1             write every hook call to stderr (names only)

:mod:`broadcaster.plugins` re-exports these names with the
:class:`~broadcaster.registry.ProviderRegistry` the rest of broadcaster talks to.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs
import pluggy

from . import hookspecs
from .core.errors import PluginError
from .provider import Provider

__all__ = [
    "AUTOLOAD_ENV",
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "BroadcasterPluginManager",
    "BrokenPlugin",
    "PluginOrigin",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
AUTOLOAD_ENV = "BROADCASTER_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "BROADCASTER_BLOCK_PLUGINS"
TRACE_ENV = "BROADCASTER_TRACE_PLUGINS"


@attrs.frozen
class PluginOrigin:
    """Where a plugin came from: its entry point (or registered name) and distribution."""

    name: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.distribution is None:
            return f"plugin {self.name!r}"
        return f"entry point {self.name!r} (distribution {self.distribution} {self.version})"


@attrs.frozen
class BrokenPlugin:
    """A plugin that was found but cannot be used, and why."""

    origin: PluginOrigin
    error: str

    def message(self) -> str:
        return f"{self.origin.describe()} is broken: {self.error}"


class BroadcasterPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers each plugin's origin and the broken ones."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, PluginOrigin] = {}
        self.broken: list[BrokenPlugin] = []

    def origin_of(self, plugin_name: str) -> PluginOrigin:
        return self.origins.get(plugin_name, PluginOrigin(plugin_name))


@attrs.frozen(eq=False)
class _SingleProvider:
    """The plugin wrapping a :class:`Provider` instance passed to ``plugins=`` directly."""

    provider: Provider

    @hookspecs.hookimpl
    def register_providers(self, register: hookspecs.Register) -> None:
        register(self.provider)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def make_plugin_manager(
    *,
    autoload: bool = True,
    blocked: Iterable[str] = (),
    plugins: Iterable[object] = (),
    environ: Mapping[str, str] | None = None,
    trace_writer: Callable[[str], object] | None = None,
) -> BroadcasterPluginManager:
    """A new plugin manager with broadcaster's hookspecs and its plugins registered.

    ``plugins`` are extra plugin objects (modules, classes, instances with hooks — or
    :class:`Provider` instances, registered as they are) added after the entry points;
    ``blocked`` names (plus ``BROADCASTER_BLOCK_PLUGINS``) are never loaded. ``environ``
    defaults to ``os.environ``. An entry point that fails to load is recorded as broken;
    an explicit plugin with an unknown or malformed hook raises :class:`PluginError`.
    """
    env = os.environ if environ is None else environ
    pm = BroadcasterPluginManager()
    for name in [*blocked, *env.get(BLOCK_ENV, "").split(",")]:
        if name.strip():
            pm.set_blocked(name.strip())
    if autoload and not _flag(env, AUTOLOAD_ENV):
        _load_entry_points(pm)
    for plugin in plugins:
        if isinstance(plugin, Provider):
            plugin = _SingleProvider(plugin)
        if pm.is_registered(plugin):
            continue
        problem = _register(pm, plugin, _display_name(pm, plugin))
        if problem is not None:
            raise problem
    if _flag(env, TRACE_ENV):
        _enable_tracing(pm, trace_writer or sys.stderr.write)
    return pm


def _load_entry_points(pm: BroadcasterPluginManager) -> None:
    # pluggy's load_setuptools_entrypoints stops at the first plugin that fails; one
    # broken plugin must not take every command down, so each is loaded on its own.
    for dist in list(importlib.metadata.distributions()):
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.get_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            origin = PluginOrigin(ep.name, dist.metadata["name"], dist.version)
            try:
                plugin = ep.load()
            except Exception as exc:
                pm.broken.append(BrokenPlugin(origin, f"cannot be imported: {exc!r}"))
                continue
            problem = _register(pm, plugin, ep.name)
            if problem is not None:
                pm.broken.append(BrokenPlugin(origin, problem.message))
                continue
            pm.origins[ep.name] = origin


def _display_name(pm: pluggy.PluginManager, plugin: object) -> str | None:
    # pluggy names a plugin instance by its id(); a class name reads better in errors.
    if isinstance(plugin, _SingleProvider):
        name = type(plugin.provider).__name__
    else:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return None if pm.has_plugin(name) else str(name)


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> PluginError | None:
    """Register ``plugin``; on any problem unregister it and return the error."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        return PluginError(
            f"plugin {name or plugin!r} is invalid: {exc}",
            hint="compare its @hookimpl functions with broadcaster/hookspecs.py (names and argument names)",
        )
    problem = _unknown_hook(pm, plugin)
    if problem is not None:
        pm.unregister(plugin)
    return problem


def _unknown_hook(pm: pluggy.PluginManager, plugin: object) -> PluginError | None:
    # pluggy's own message names the plugin object, not the hook; say both, and suggest
    # the hook the author probably meant.
    known = sorted(name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "broadcaster_spec", None))
    for hook_name, caller in vars(pm.hook).items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.optionalhook:
                continue
            close = difflib.get_close_matches(hook_name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the hooks are: {', '.join(known)}"
            if hook_name in _OLD_HOOKS:
                hint = "provider hooks became Provider methods: subclass broadcaster.plugin.Provider"
            return PluginError(f"plugin {impl.plugin_name!r} implements an unknown hook {hook_name!r}", hint=hint)
    return None


_OLD_HOOKS = frozenset(
    {
        "provide_channels",
        "build_call",
        "build_batch_call",
        "interpret_reply",
        "interpret_batch_reply",
        "verify_callback",
        "parse_callback",
    }
)


def _enable_tracing(pm: pluggy.PluginManager, write: Callable[[str], object]) -> None:
    # Arguments and results are NOT written: events carry broadcasts and integrations
    # carry tokens. Hook names, plugin names and result types are enough.
    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        write(f"broadcaster: {hook_name} -> asking {[impl.plugin_name for impl in impls]}\n")

    def after(outcome: Any, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        if outcome.exception is not None:
            write(f"broadcaster: {hook_name} raised {type(outcome.exception).__name__}\n")
        else:
            write(f"broadcaster: {hook_name} returned {type(outcome.get_result()).__name__}\n")

    pm.add_hookcall_monitoring(before, after)
