"""The providers the plugins register, checked as they arrive, and calls into them.

:class:`ProviderRegistry` asks every plugin's ``register_providers`` hook once, checks
each provider object (required methods, a valid spec, a name nobody else took) and keeps
it; a plugin with a bad provider is recorded as broken — named by entry point and
distribution — and the others carry on. Calls then go straight to the provider object;
the registry only checks that what comes back has the promised type, so a plugin bug is
a :class:`PluginError` naming the plugin, never a wrong value flowing on.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import attrs
import pluggy

from .core.channels import ChannelSpec, DeliveryConfirmation
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
from .loading import BLOCK_ENV, BroadcasterPluginManager, BrokenPlugin, PluginOrigin
from .provider import BATCH_METHODS, CALLBACK_METHODS, REQUIRED_METHODS, Provider, implemented_methods

__all__ = ["ProviderInfo", "ProviderRegistry", "check_provider"]

_SEND_RESULT_TYPES = (Delivered, RateLimited, Failed, Rerouted, NotSent, OutcomeUnknown)


@attrs.frozen
class ProviderInfo:
    """One registered provider: the object, its spec and where it came from."""

    provider_object: Provider
    origin: PluginOrigin
    methods: tuple[str, ...]

    @property
    def spec(self) -> ChannelSpec:
        return self.provider_object.spec

    @property
    def provider(self) -> str:
        return self.spec.provider

    @property
    def plugin_name(self) -> str:
        return self.origin.name

    @property
    def distribution(self) -> str | None:
        return self.origin.distribution

    @property
    def version(self) -> str | None:
        return self.origin.version


def check_provider(provider: object) -> str | None:
    """What is wrong with ``provider`` as a registered provider, or None if nothing."""
    if not isinstance(provider, Provider):
        return f"registered a {type(provider).__name__}, not a broadcaster.plugin.Provider"
    spec = getattr(provider, "spec", None)
    if not isinstance(spec, ChannelSpec):
        return f"{type(provider).__name__}.spec is {type(spec).__name__}, not a ChannelSpec"
    name = spec.provider
    if not name or name != name.strip() or any(ch in name for ch in " ,:/"):
        return f"{type(provider).__name__}.spec.provider {name!r} is not a usable provider name"
    problems = []
    if not spec.kinds:
        problems.append("spec.kinds is empty (it can send nothing)")
    if not (math.isfinite(spec.rate_per_second) and spec.rate_per_second > 0):
        problems.append(f"spec.rate_per_second is {spec.rate_per_second} (must be positive and finite)")
    if spec.burst < 1:
        problems.append(f"spec.burst is {spec.burst} (must be at least 1)")
    if spec.max_batch < 1:
        problems.append(f"spec.max_batch is {spec.max_batch} (must be at least 1)")
    if spec.window_seconds is not None and not spec.window_seconds > 0:
        problems.append(f"spec.window_seconds is {spec.window_seconds} (must be positive or None)")
    methods = implemented_methods(provider)
    missing = [method for method in REQUIRED_METHODS if method not in methods]
    if spec.max_batch > 1:
        missing += [
            f"{method} (spec.max_batch is {spec.max_batch})" for method in BATCH_METHODS if method not in methods
        ]
    if spec.confirmation is DeliveryConfirmation.CALLBACK:
        missing += [f"{method} (confirmation is callback)" for method in CALLBACK_METHODS if method not in methods]
    if missing:
        problems.append(f"it does not implement {', '.join(missing)}")
    if problems:
        return f"provider {name!r}: {'; '.join(problems)}"
    return None


def _collect(impl: pluggy.HookImpl) -> list[object]:
    registered: list[object] = []
    impl.function(register=registered.append)
    return registered


class ProviderRegistry:
    """The providers the plugins register, and thin keyword-only calls into them.

    With ``strict=True`` a broken plugin raises its :class:`PluginError` at once (the
    conformance kit and tests); otherwise broken plugins are listed in :attr:`broken`
    and only a command that uses one of their providers fails.
    """

    def __init__(self, pm: pluggy.PluginManager, *, strict: bool = False) -> None:
        self._pm = pm
        broken: list[BrokenPlugin] = list(getattr(pm, "broken", ()))
        infos: dict[str, ProviderInfo] = {}
        for impl in pm.hook.register_providers.get_hookimpls():
            if isinstance(pm, BroadcasterPluginManager):
                origin = pm.origin_of(impl.plugin_name)
            else:
                origin = PluginOrigin(impl.plugin_name)
            mine, problem = self._providers_of(impl, origin, infos)
            if problem is not None:
                if strict:
                    raise problem
                broken.append(BrokenPlugin(origin, problem.message))
                continue
            infos.update(mine)
        if strict and broken:
            raise PluginError(broken[0].message())
        self._infos = dict(sorted(infos.items()))
        self._broken = tuple(broken)

    @staticmethod
    def _providers_of(
        impl: pluggy.HookImpl, origin: PluginOrigin, taken: Mapping[str, ProviderInfo]
    ) -> tuple[dict[str, ProviderInfo], PluginError | None]:
        try:
            objects = _collect(impl)
        except Exception as exc:
            return {}, PluginError(f"{origin.describe()} failed in register_providers: {exc!r}")
        mine: dict[str, ProviderInfo] = {}
        for provider in objects:
            problem = check_provider(provider)
            if problem is not None:
                return {}, PluginError(
                    f"{origin.describe()}: {problem}",
                    hint="see docs/writing-a-plugin.md (subclass broadcaster.plugin.Provider)",
                )
            assert isinstance(provider, Provider)
            other = taken.get(provider.name) or mine.get(provider.name)
            if other is not None:
                return {}, PluginConflictError(
                    f"{origin.describe()} registers the provider {provider.name!r}, "
                    f"which {other.origin.describe()} already provides",
                    hint=f"uninstall one of them or block it with {BLOCK_ENV}=<its entry point name>",
                )
            mine[provider.name] = ProviderInfo(provider, origin, implemented_methods(provider))
        return mine, None

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> ProviderRegistry:
        return cls(pm)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self._pm

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self._infos)

    @property
    def broken(self) -> tuple[BrokenPlugin, ...]:
        """The plugins found but not usable, each with its origin and error."""
        return self._broken

    def __contains__(self, provider: object) -> bool:
        return provider in self._infos

    def __iter__(self) -> Iterator[ProviderInfo]:
        return iter(self._infos.values())

    def info(self, provider: str) -> ProviderInfo:
        try:
            return self._infos[provider]
        except KeyError:
            known = ", ".join(self._infos) or "none"
            hint = "install its plugin (e.g. pip install broadcaster-<provider>) or fix the integration's provider"
            if self._broken:
                hint = "; ".join(item.message() for item in self._broken) + " — fix or uninstall it"
            raise PluginError(f"no plugin provides {provider!r} (known providers: {known})", hint=hint) from None

    def spec(self, provider: str) -> ChannelSpec:
        return self.info(provider).spec

    def provider(self, name: str) -> Provider:
        """The provider object registered under ``name``."""
        return self.info(name).provider_object

    # -- calls -----------------------------------------------------------------------

    def _check(self, method: str, provider: str, answer: Any, expected: type | tuple[type, ...]) -> Any:
        if not isinstance(answer, expected):
            info = self.info(provider)
            raise PluginError(
                f"{method} of provider {provider!r} ({info.origin.describe()}) returned a {type(answer).__name__}",
                hint=f"fix the plugin: {method} must return {_names(expected)}",
            )
        return answer

    def build_call(self, *, integration: Integration, chat_id: str, message: Message) -> HttpCall | Failed:
        """The request to send, or a ``Failed`` when the provider refuses the message."""
        name = integration.provider
        answer = self.provider(name).build_call(integration, chat_id, message)
        return self._check("build_call", name, answer, (HttpCall, Failed))  # type: ignore[no-any-return]

    def build_batch_call(
        self, *, integration: Integration, recipients: Sequence[tuple[str, str]], message: Message
    ) -> HttpCall | None:
        """The batch request, or None when the provider cannot batch this message (the
        caller then sends to each recipient with :meth:`build_call`)."""
        name = integration.provider
        answer = self.provider(name).build_batch_call(integration, recipients, message)
        if answer is None:
            return None
        return self._check("build_batch_call", name, answer, HttpCall)  # type: ignore[no-any-return]

    def interpret_reply(self, *, integration: Integration, call: HttpCall, reply: HttpReply) -> SendResult:
        name = integration.provider
        answer = self.provider(name).interpret_reply(integration, call, reply)
        return self._check("interpret_reply", name, answer, _SEND_RESULT_TYPES)  # type: ignore[no-any-return]

    def interpret_batch_reply(
        self, *, integration: Integration, call: HttpCall, reply: HttpReply
    ) -> Mapping[str, SendResult]:
        name = integration.provider
        answer = self.provider(name).interpret_batch_reply(integration, call, reply)
        results: Mapping[str, SendResult] = self._check("interpret_batch_reply", name, answer, Mapping)
        for value in results.values():
            self._check("interpret_batch_reply", name, value, _SEND_RESULT_TYPES)
        return results

    def verify_callback(self, *, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool:
        name = integration.provider
        if "verify_callback" not in self.info(name).methods:
            raise PluginError(f"provider {name!r} does not take delivery callbacks (it has no verify_callback)")
        answer = self.provider(name).verify_callback(integration, headers, body)
        return self._check("verify_callback", name, answer, bool)  # type: ignore[no-any-return]

    def parse_callback(
        self, *, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> tuple[DeliveryUpdate, ...]:
        name = integration.provider
        answer = self.provider(name).parse_callback(integration, headers, body)
        updates = self._check("parse_callback", name, answer, (list, tuple))
        for update in updates:
            self._check("parse_callback", name, update, DeliveryUpdate)
        return tuple(updates)


def _names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)
