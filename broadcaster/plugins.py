"""Building the plugin manager and finding the plugin behind each provider.

There is no module-global manager: :func:`make_plugin_manager` builds a fresh one every
time (tests build theirs with ``autoload=False``). Plugins arrive through the
``broadcaster`` entry-point group — the built-in providers too, so they are exactly the
template a third party copies.

Environment controls (mirroring pytest's)::

    BROADCASTER_DISABLE_PLUGIN_AUTOLOAD=1   load no entry points
    BROADCASTER_BLOCK_PLUGINS=viber,foo     block these entry-point names
    BROADCASTER_TRACE_PLUGINS=1             write every hook call to stderr (names only)

:class:`ProviderRegistry` is what the rest of broadcaster talks to: it knows which plugin
declared which provider and calls the provider-keyed hooks with keyword arguments,
turning a silent plugin into a :class:`PluginError` instead of a ``None`` flowing on.
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import attrs
import pluggy

from . import hookspecs
from .core.channels import ChannelSpec
from .core.errors import PluginConflictError, PluginError
from .core.http import HttpCall, HttpReply
from .core.models import Integration, Message
from .core.results import (
    Delivered,
    DeliveryUpdate,
    Failed,
    NotSent,
    OutcomeUnknown,
    RateLimited,
    Rerouted,
    SendResult,
)

__all__ = [
    "AUTOLOAD_ENV",
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "ProviderInfo",
    "ProviderRegistry",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
AUTOLOAD_ENV = "BROADCASTER_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "BROADCASTER_BLOCK_PLUGINS"
TRACE_ENV = "BROADCASTER_TRACE_PLUGINS"

_SEND_RESULT_TYPES = (Delivered, RateLimited, Failed, Rerouted, NotSent, OutcomeUnknown)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def make_plugin_manager(
    *,
    autoload: bool = True,
    blocked: Iterable[str] = (),
    plugins: Iterable[object] = (),
    environ: Mapping[str, str] | None = None,
    trace_writer: Callable[[str], object] | None = None,
) -> pluggy.PluginManager:
    """A new plugin manager with broadcaster's hookspecs and its plugins registered.

    ``plugins`` are extra plugin objects (modules, classes, instances) registered after
    the entry points; ``blocked`` names (plus ``BROADCASTER_BLOCK_PLUGINS``) are never
    loaded. ``environ`` defaults to ``os.environ``. Raises :class:`PluginError` when a
    plugin cannot be loaded, implements an unknown hook or has a hook with wrong
    arguments.
    """
    env = os.environ if environ is None else environ
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in [*blocked, *env.get(BLOCK_ENV, "").split(",")]:
        if name.strip():
            pm.set_blocked(name.strip())
    if autoload and not _flag(env, AUTOLOAD_ENV):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except pluggy.PluginValidationError as exc:
            raise _validation_error(pm, exc) from exc
        except Exception as exc:
            raise PluginError(
                f"could not load a broadcaster plugin from the {ENTRY_POINT_GROUP!r} entry points: {exc!r}",
                hint=f"fix or uninstall that plugin, or block it with {BLOCK_ENV}=<entry point name>",
            ) from exc
    for plugin in plugins:
        if pm.is_registered(plugin):
            continue
        try:
            pm.register(plugin, name=_display_name(pm, plugin))
        except pluggy.PluginValidationError as exc:
            raise _validation_error(pm, exc) from exc
    _check_pending(pm)
    if _flag(env, TRACE_ENV):
        _enable_tracing(pm, trace_writer or sys.stderr.write)
    return pm


def _display_name(pm: pluggy.PluginManager, plugin: object) -> str | None:
    # pluggy names a plugin instance by its id(); a class name reads better in errors.
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return None if pm.has_plugin(name) else str(name)


def _validation_error(pm: pluggy.PluginManager, exc: pluggy.PluginValidationError) -> PluginError:
    name = pm.get_name(exc.plugin) if pm.is_registered(exc.plugin) else getattr(exc.plugin, "__name__", None)
    return PluginError(
        f"plugin {name or exc.plugin!r} is invalid: {exc}",
        hint="compare its @hookimpl functions with broadcaster/hookspecs.py (names and argument names)",
    )


def _check_pending(pm: pluggy.PluginManager) -> None:
    # pluggy's own message names the plugin object, not the hook; say both, and suggest
    # the hook the author probably meant.
    known = sorted(name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "broadcaster_spec", None))
    for hook_name, caller in vars(pm.hook).items():
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            close = difflib.get_close_matches(hook_name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the hooks are: {', '.join(known)}"
            raise PluginError(f"plugin {impl.plugin_name!r} implements an unknown hook {hook_name!r}", hint=hint)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:  # pragma: no cover - the loop above catches the same cases
        raise _validation_error(pm, exc) from exc


def _enable_tracing(pm: pluggy.PluginManager, write: Callable[[str], object]) -> None:
    # Arguments and results are NOT written: integrations carry tokens in their settings
    # and calls carry them in URLs. Hook names, plugin names and result types are enough
    # to see who answered what.
    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        provider = kwargs.get("provider")
        where = f" provider={provider!r}" if isinstance(provider, str) else ""
        write(f"broadcaster: {hook_name}{where} -> asking {[impl.plugin_name for impl in impls]}\n")

    def after(outcome: Any, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        if outcome.exception is not None:
            write(f"broadcaster: {hook_name} raised {type(outcome.exception).__name__}\n")
        else:
            write(f"broadcaster: {hook_name} returned {type(outcome.get_result()).__name__}\n")

    pm.add_hookcall_monitoring(before, after)


# -- providers -------------------------------------------------------------------------


@attrs.frozen
class ProviderInfo:
    """Who provides a provider: its spec, the plugin's name and its distribution."""

    spec: ChannelSpec
    plugin_name: str
    distribution: str | None = None
    version: str | None = None

    @property
    def provider(self) -> str:
        return self.spec.provider


def _distributions(pm: pluggy.PluginManager) -> dict[int, tuple[str, str]]:
    return {id(plugin): (dist.project_name, dist.version) for plugin, dist in pm.list_plugin_distinfo()}


def _declared_specs(pm: pluggy.PluginManager) -> Iterator[tuple[str, ChannelSpec]]:
    # Each implementation is called on its own (rather than through pm.hook) so that
    # every spec is attributed to the plugin that declared it.
    for impl in pm.hook.provide_channels.get_hookimpls():
        try:
            specs = impl.function()
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed in provide_channels: {exc!r}") from exc
        if isinstance(specs, ChannelSpec) or not isinstance(specs, Iterable):
            raise PluginError(
                f"plugin {impl.plugin_name!r}: provide_channels returned {type(specs).__name__}",
                hint="return a list of ChannelSpec values, e.g. [ChannelSpec(provider='acme')]",
            )
        for spec in specs:
            if not isinstance(spec, ChannelSpec):
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: provide_channels returned a {type(spec).__name__}, not a ChannelSpec"
                )
            yield impl.plugin_name, spec


class ProviderRegistry:
    """The providers the plugins declare, and thin keyword-only calls into their hooks."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        dists = _distributions(pm)
        infos: dict[str, ProviderInfo] = {}
        for plugin_name, spec in _declared_specs(pm):
            previous = infos.get(spec.provider)
            if previous is not None:
                raise PluginConflictError(
                    f"two plugins declare the provider {spec.provider!r}: {previous.plugin_name!r} and {plugin_name!r}",
                    hint=f"uninstall one of them or block it with {BLOCK_ENV}=<its entry point name>",
                )
            dist = dists.get(id(pm.get_plugin(plugin_name)))
            infos[spec.provider] = ProviderInfo(
                spec=spec,
                plugin_name=plugin_name,
                distribution=dist[0] if dist else None,
                version=dist[1] if dist else None,
            )
        self._infos = dict(sorted(infos.items()))

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> ProviderRegistry:
        return cls(pm)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self._pm

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._infos)

    def __contains__(self, provider: object) -> bool:
        return provider in self._infos

    def __iter__(self) -> Iterator[ProviderInfo]:
        return iter(self._infos.values())

    def info(self, provider: str) -> ProviderInfo:
        try:
            return self._infos[provider]
        except KeyError:
            known = ", ".join(self._infos) or "none"
            raise PluginError(
                f"no plugin provides {provider!r} (known providers: {known})",
                hint="install its plugin (e.g. pip install broadcaster-<provider>) or fix the integration's provider",
            ) from None

    def spec(self, provider: str) -> ChannelSpec:
        return self.info(provider).spec

    # -- hook calls ------------------------------------------------------------------

    def _answer(self, hook: str, provider: str, answer: Any, expected: type | tuple[type, ...]) -> Any:
        info = self.info(provider)
        if answer is None:
            raise PluginError(
                f"no plugin answered {hook} for provider {provider!r} (declared by {info.plugin_name!r})",
                hint=f"plugin {info.plugin_name!r} must implement {hook} and answer for {provider!r}",
            )
        if not isinstance(answer, expected):
            raise PluginError(f"{hook} for provider {provider!r} returned a {type(answer).__name__}")
        return answer

    def build_call(self, *, integration: Integration, chat_id: str, message: Message) -> HttpCall:
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.build_call(provider=provider, integration=integration, chat_id=chat_id, message=message)
        return self._answer("build_call", provider, answer, HttpCall)  # type: ignore[no-any-return]

    def build_batch_call(
        self, *, integration: Integration, recipients: Sequence[tuple[str, str]], message: Message
    ) -> HttpCall | None:
        """The batch request, or None when no plugin can batch this message (the caller
        then sends to each recipient with :meth:`build_call`)."""
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.build_batch_call(
            provider=provider, integration=integration, recipients=recipients, message=message
        )
        if answer is None:
            return None
        return self._answer("build_batch_call", provider, answer, HttpCall)  # type: ignore[no-any-return]

    def interpret_reply(self, *, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.interpret_reply(provider=provider, integration=integration, call=call, reply=reply)
        return self._answer("interpret_reply", provider, answer, _SEND_RESULT_TYPES)  # type: ignore[no-any-return]

    def interpret_batch_reply(
        self, *, integration: Integration, call: HttpCall, reply: HttpReply
    ) -> Mapping[str, SendResult]:
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.interpret_batch_reply(provider=provider, integration=integration, call=call, reply=reply)
        results: Mapping[str, SendResult] = self._answer("interpret_batch_reply", provider, answer, Mapping)
        wrong = next((value for value in results.values() if not isinstance(value, _SEND_RESULT_TYPES)), None)
        if wrong is not None:
            raise PluginError(f"interpret_batch_reply for provider {provider!r} answered a {type(wrong).__name__}")
        return results

    def verify_callback(self, *, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.verify_callback(provider=provider, integration=integration, headers=headers, body=body)
        return self._answer("verify_callback", provider, answer, bool)  # type: ignore[no-any-return]

    def parse_callback(
        self, *, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> tuple[DeliveryUpdate, ...]:
        provider = self.info(integration.provider).provider
        answer = self._pm.hook.parse_callback(provider=provider, integration=integration, headers=headers, body=body)
        updates = self._answer("parse_callback", provider, answer, (list, tuple))
        for update in updates:
            if not isinstance(update, DeliveryUpdate):
                raise PluginError(f"parse_callback for provider {provider!r} returned a {type(update).__name__}")
        return tuple(updates)
