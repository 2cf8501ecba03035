"""make_plugin_manager and ProviderRegistry: discovery, blocking, conflicts, misspelt hooks."""

from __future__ import annotations

import importlib.metadata
import io

import attrs
import pytest

from broadcaster import hookimpl
from broadcaster.core.channels import ChannelSpec
from broadcaster.core.errors import PluginConflictError, PluginError
from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TextMessage
from broadcaster.plugins import ProviderRegistry, make_plugin_manager


class Provider:
    """A tiny plugin declaring one provider that never answers build_call."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def provide_channels(self):
        return [ChannelSpec(provider=self.name)]


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
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", Provider("acme"))))
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    assert ("acme",) == registry.providers
    info = registry.info("acme")
    assert ("acme", "broadcaster-acme", "1.2.3") == (info.plugin_name, info.distribution, info.version)


def test_other_entry_point_groups_are_ignored(installed):
    installed(dist("x", FakeEntryPoint("acme", Provider("acme"), group="pytest11")))
    assert () == ProviderRegistry(make_plugin_manager(environ={})).providers


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_autoload_can_be_turned_off_by_environment(installed, value):
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", Provider("acme"))))
    pm = make_plugin_manager(environ={"BROADCASTER_DISABLE_PLUGIN_AUTOLOAD": value})
    assert () == ProviderRegistry(pm).providers


def test_autoload_false_loads_nothing_but_explicit_plugins(installed):
    installed(dist("broadcaster-acme", FakeEntryPoint("acme", Provider("acme"))))
    pm = make_plugin_manager(autoload=False, plugins=[Provider("beta")])
    assert ("beta",) == ProviderRegistry(pm).providers
    assert (None, None) == (ProviderRegistry(pm).info("beta").distribution, ProviderRegistry(pm).info("beta").version)


def test_blocked_names_and_environment(installed):
    installed(
        dist("a", FakeEntryPoint("acme", Provider("acme"))),
        dist("b", FakeEntryPoint("beta", Provider("beta"))),
        dist("c", FakeEntryPoint("gamma", Provider("gamma"))),
    )
    pm = make_plugin_manager(blocked=["acme"], environ={"BROADCASTER_BLOCK_PLUGINS": " gamma, "})
    assert ("beta",) == ProviderRegistry(pm).providers


def test_two_plugins_claiming_one_provider_conflict_naming_both(installed):
    installed(
        dist("a", FakeEntryPoint("acme", Provider("acme"))), dist("b", FakeEntryPoint("acme-fork", Provider("acme")))
    )
    with pytest.raises(PluginConflictError, match="'acme' and 'acme-fork'"):
        ProviderRegistry(make_plugin_manager(environ={}))


def test_a_misspelt_hook_fails_loudly_naming_plugin_and_hook():
    class Sloppy:
        @hookimpl
        def build_cal(self, provider):
            return None

    with pytest.raises(PluginError, match="plugin 'Sloppy' implements an unknown hook 'build_cal'") as caught:
        make_plugin_manager(autoload=False, plugins=[Sloppy()])
    assert "did you mean 'build_call'?" == caught.value.hint


def test_a_hook_with_a_wrong_argument_name_is_a_plugin_error():
    class WrongArgs:
        @hookimpl
        def build_call(self, provider, recipient):
            return None

    with pytest.raises(PluginError, match="WrongArgs"):
        make_plugin_manager(autoload=False, plugins=[WrongArgs()])


def test_a_plugin_that_fails_to_import_is_a_plugin_error(installed):
    class Broken(FakeEntryPoint):
        def load(self):
            raise ImportError("No module named 'broadcaster_broken'")

    installed(dist("broken", Broken("broken", None)))
    with pytest.raises(PluginError, match="broadcaster_broken") as caught:
        make_plugin_manager(environ={})
    assert "BROADCASTER_BLOCK_PLUGINS" in caught.value.hint


def test_unknown_provider_lists_the_known_ones():
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[Provider("acme"), Provider("beta")]))
    with pytest.raises(PluginError, match=r"no plugin provides 'nope' \(known providers: acme, beta\)"):
        registry.spec("nope")


def test_a_silent_plugin_is_a_plugin_error_not_none():
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[Provider("acme")]))
    integration = Integration("main", "acme")
    with pytest.raises(PluginError, match="no plugin answered build_call for provider 'acme'"):
        registry.build_call(integration=integration, chat_id="1", message=TextMessage("x"))


def test_provide_channels_must_return_channel_specs():
    class Bad:
        @hookimpl
        def provide_channels(self):
            return ChannelSpec(provider="acme")

    with pytest.raises(PluginError, match="plugin 'Bad': provide_channels returned ChannelSpec"):
        ProviderRegistry(make_plugin_manager(autoload=False, plugins=[Bad()]))


def test_tracing_names_hooks_but_never_arguments():
    class Echo(Provider):
        @hookimpl
        def interpret_reply(self, provider, integration, call, reply):
            return None

    out = io.StringIO()
    pm = make_plugin_manager(
        autoload=False, plugins=[Echo("acme")], environ={"BROADCASTER_TRACE_PLUGINS": "1"}, trace_writer=out.write
    )
    secret_integration = Integration("main", "acme", {"token": "top-secret-token"})
    pm.hook.interpret_reply(provider="acme", integration=secret_integration, call=None, reply=HttpReply(200))
    assert (
        "broadcaster: interpret_reply provider='acme' -> asking ['Echo']\nbroadcaster: interpret_reply returned NoneType\n"
        == out.getvalue()
    )


def test_the_built_in_providers_are_found_through_their_entry_points():
    registry = ProviderRegistry(make_plugin_manager(environ={}))
    for provider, distribution in [("telegram", "broadcaster-telegram"), ("whatsapp", "broadcaster-whatsapp")]:
        assert distribution == registry.info(provider).distribution
