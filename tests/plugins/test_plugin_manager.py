"""make_plugin_manager and ProviderRegistry: discovery, blocking, load-time checks, broken plugins."""

from __future__ import annotations

import importlib.metadata
import io

import attrs
import pytest

from broadcaster import hookimpl
from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation
from broadcaster.core.errors import PluginConflictError, PluginError
from broadcaster.core.results import Delivered
from broadcaster.plugin import HttpCall, Provider
from broadcaster.plugins import ProviderRegistry, make_plugin_manager


class Named(Provider):
    """A minimal provider under any name."""

    def __init__(self, name: str, **spec: object) -> None:
        self.spec = ChannelSpec(provider=name, **spec)  # type: ignore[arg-type]

    def build_call(self, integration, chat_id, message):
        return HttpCall("POST", f"https://{self.name}.test/send", json={"to": chat_id})

    def interpret_reply(self, integration, call, reply):
        return Delivered("m1", confirmed=True)


class Plugin:
    """A plugin (as an entry point loads it) registering the given providers."""

    def __init__(self, *providers: Provider) -> None:
        self.providers = providers

    @hookimpl
    def register_providers(self, register):
        for provider in self.providers:
            register(provider)


def plugin(name: str) -> Plugin:
    return Plugin(Named(name))


@attrs.frozen
class FakeEntryPoint:
    name: str
    plugin: object
    group: str = "broadcaster"

    def load(self):
        return self.plugin


@attrs.frozen
class FakeDistribution:
    name: str
    version: str
    entry_points: tuple[FakeEntryPoint, ...]

    @property
    def metadata(self):
        return {"name": self.name}


@pytest.fixture
def installed(monkeypatch):
    """Pretend these distributions are installed (pluggy reads importlib.metadata.distributions)."""

    def install(*dists: FakeDistribution) -> None:
        monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(dists))

    return install


def dist(name: str, *eps: FakeEntryPoint, version: str = "1.2.3") -> FakeDistribution:
    return FakeDistribution(name, version, eps)


def test_entry_points_are_discovered_with_their_distribution(installed):
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", plugin("acme"))))
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    assert ("acme",) == registry.providers
    info = registry.info("acme")
    assert ("acme", "broadcaster-acme", "1.2.3") == (info.plugin_name, info.distribution, info.version)
    assert ("build_call", "interpret_reply") == info.methods
    assert () == registry.broken


def test_other_entry_point_groups_are_ignored(installed):
    installed(dist("x", FakeEntryPoint("acme", plugin("acme"), group="pytest11")))
    assert () == ProviderRegistry(make_plugin_manager(environ={})).providers


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_autoload_can_be_turned_off_by_environment(installed, value):
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", plugin("acme"))))
    pm = make_plugin_manager(environ={"BROADCASTER_DISABLE_PLUGIN_AUTOLOAD": value})
    assert () == ProviderRegistry(pm).providers


def test_autoload_false_loads_nothing_but_explicit_plugins(installed):
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", plugin("acme"))))
    pm = make_plugin_manager(autoload=False, plugins=[plugin("beta"), Named("gamma")])
    registry = ProviderRegistry(pm)
    assert ("beta", "gamma") == registry.providers
    assert (None, None) == (registry.info("beta").distribution, registry.info("beta").version)
    assert "Named" == registry.info("gamma").plugin_name  # a Provider instance is its own plugin


def test_blocked_names_and_environment(installed):
    installed(
        dist("a", FakeEntryPoint("acme", plugin("acme"))),
        dist("b", FakeEntryPoint("beta", plugin("beta"))),
        dist("c", FakeEntryPoint("gamma", plugin("gamma"))),
    )
    pm = make_plugin_manager(blocked=["acme"], environ={"BROADCASTER_BLOCK_PLUGINS": " gamma, "})
    assert ("beta",) == ProviderRegistry(pm).providers


def test_the_engine_calls_the_provider_object_directly():
    acme = Named("acme")
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[acme]))
    assert acme is registry.provider("acme")
    from broadcaster.core.models import Integration, TextMessage

    call = registry.build_call(integration=Integration("main", "acme"), chat_id="7", message=TextMessage("x"))
    assert HttpCall("POST", "https://acme.test/send", json={"to": "7"}) == call


def test_two_plugins_claiming_one_provider_conflict_naming_both(installed):
    installed(dist("a", FakeEntryPoint("acme", plugin("acme"))), dist("b", FakeEntryPoint("acme-fork", plugin("acme"))))
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    assert ("acme",) == registry.providers and "a" == registry.info("acme").distribution
    [broken] = registry.broken
    assert (
        "entry point 'acme-fork' (distribution b 1.2.3) is broken: entry point 'acme-fork' (distribution b 1.2.3)"
        " registers the provider 'acme', which entry point 'acme' (distribution a 1.2.3) already provides"
    ) == broken.message()
    with pytest.raises(PluginConflictError, match="already provides"):
        ProviderRegistry(make_plugin_manager(environ={}), strict=True)


class Incomplete(Provider):
    spec = ChannelSpec(provider="half")

    def build_call(self, integration, chat_id, message):
        return HttpCall("POST", "https://half.test/")


@pytest.mark.parametrize(
    ("provider", "problem"),
    [
        (Incomplete(), "provider 'half': it does not implement interpret_reply"),
        (
            Named("neg", rate_per_second=-1.0),
            "provider 'neg': spec.rate_per_second is -1.0 (must be positive and finite)",
        ),
        (Named("nob", burst=0), "provider 'nob': spec.burst is 0 (must be at least 1)"),
        (
            Named("bat", max_batch=5),
            "provider 'bat': it does not implement build_batch_call (spec.max_batch is 5),"
            " interpret_batch_reply (spec.max_batch is 5)",
        ),
        (
            Named("cb", confirmation=DeliveryConfirmation.CALLBACK),
            "provider 'cb': it does not implement verify_callback (confirmation is callback),"
            " parse_callback (confirmation is callback)",
        ),
        (Named("has space"), "Named.spec.provider 'has space' is not a usable provider name"),
        ("not a provider", "registered a str, not a broadcaster.plugin.Provider"),
    ],
)
def test_a_bad_provider_marks_its_plugin_broken_naming_entry_point_and_distribution(installed, provider, problem):
    installed(
        dist("broadcaster-bad", FakeEntryPoint("bad", Plugin(provider)), version="0.9"),
        dist("broadcaster-ok", FakeEntryPoint("ok", plugin("ok"))),
    )
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    assert ("ok",) == registry.providers  # the good plugin carries on
    [broken] = registry.broken
    assert f"entry point 'bad' (distribution broadcaster-bad 0.9): {problem}" == broken.error


def test_using_a_provider_of_a_broken_plugin_says_why(installed):
    installed(dist("broadcaster-half", FakeEntryPoint("half", Plugin(Incomplete()))))
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    with pytest.raises(PluginError, match=r"no plugin provides 'half' \(known providers: none\)") as caught:
        registry.spec("half")
    assert "does not implement interpret_reply" in str(caught.value.hint)


def test_a_misspelt_hook_fails_loudly_naming_plugin_and_hook():
    class Sloppy:
        @hookimpl
        def register_provider(self, register):
            return None

    with pytest.raises(PluginError, match="plugin 'Sloppy' implements an unknown hook 'register_provider'") as caught:
        make_plugin_manager(autoload=False, plugins=[Sloppy()])
    assert "did you mean 'register_providers'?" == caught.value.hint


def test_an_old_style_provider_hook_points_to_the_provider_class():
    class Old:
        @hookimpl
        def build_call(self, provider, integration, chat_id, message):
            return None

    with pytest.raises(PluginError, match="unknown hook 'build_call'") as caught:
        make_plugin_manager(autoload=False, plugins=[Old()])
    assert "subclass broadcaster.plugin.Provider" in str(caught.value.hint)


def test_a_hook_with_a_wrong_argument_name_is_a_plugin_error():
    class WrongArgs:
        @hookimpl
        def register_providers(self, registry):
            return None

    with pytest.raises(PluginError, match="WrongArgs"):
        make_plugin_manager(autoload=False, plugins=[WrongArgs()])


def test_a_plugin_that_fails_to_import_is_listed_broken_and_the_others_load(installed):
    class Broken(FakeEntryPoint):
        def load(self):
            raise ImportError("No module named 'broadcaster_broken'")

    installed(dist("broken", Broken("broken", None)), dist("broadcaster-ok", FakeEntryPoint("ok", plugin("ok"))))
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    assert ("ok",) == registry.providers
    [broken] = registry.broken
    assert (
        "entry point 'broken' (distribution broken 1.2.3) is broken: cannot be imported:"
        " ImportError(\"No module named 'broadcaster_broken'\")"
    ) == broken.message()


def test_a_register_hook_that_raises_is_a_broken_plugin(installed):
    class Raises:
        @hookimpl
        def register_providers(self, register):
            raise RuntimeError("boom")

    installed(dist("broadcaster-raises", FakeEntryPoint("raises", Raises())))
    [broken] = ProviderRegistry(make_plugin_manager(environ={})).broken
    assert "failed in register_providers: RuntimeError('boom')" in broken.error


def test_unknown_provider_lists_the_known_ones():
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[plugin("acme"), plugin("beta")]))
    with pytest.raises(PluginError, match=r"no plugin provides 'nope' \(known providers: acme, beta\)"):
        registry.spec("nope")


def test_a_wrong_answer_type_is_a_plugin_error_naming_the_method():
    class Wrong(Named):
        def build_call(self, integration, chat_id, message):
            return "a string"

    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[Wrong("acme")]))
    from broadcaster.core.models import Integration, TextMessage

    with pytest.raises(PluginError, match="build_call of provider 'acme' \\(plugin 'Wrong'\\) returned a str"):
        registry.build_call(integration=Integration("main", "acme"), chat_id="1", message=TextMessage("x"))


def test_tracing_names_hooks_but_never_arguments():
    out = io.StringIO()
    pm = make_plugin_manager(
        autoload=False, plugins=[plugin("acme")], environ={"BROADCASTER_TRACE_PLUGINS": "1"}, trace_writer=out.write
    )
    ProviderRegistry(pm)
    pm.hook.register_providers(register=lambda provider: None)
    assert (
        "broadcaster: register_providers -> asking ['Plugin']\nbroadcaster: register_providers returned list\n"
        == out.getvalue()
    )


def test_the_built_in_providers_are_found_through_their_entry_points():
    registry = ProviderRegistry(make_plugin_manager(environ={}), strict=True)
    for provider, distribution in [("telegram", "broadcaster-telegram"), ("whatsapp", "broadcaster-whatsapp")]:
        assert distribution == registry.info(provider).distribution
