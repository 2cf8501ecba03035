"""The providers the simulator can play: every installed provider that ships a fake.

There are no copies here: a provider's spec and its fake server (routing, reading and
answering requests; inventing chat ids) come from its plugin's
:class:`~broadcaster.provider.Provider` object, so ``simulate``, ``rehearse`` and
``sandbox`` accept any installed provider — a third party's too — and exercise exactly
what ``broadcaster run`` would.

Chat ids follow each provider's real shape and encode the contact's index, so a fake
server that only sees a chat id can still find that contact's traits (its fate, whether
its window is closed).
"""

from __future__ import annotations

import functools
from typing import Callable, Iterator, Mapping

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.errors import PluginError
from broadcaster.fake import ProviderFake
from broadcaster.plugins import ProviderRegistry, make_plugin_manager

from .draws import stream_id

__all__ = ["SIM_SPECS", "chat_id_for", "chat_id_maker", "chat_index", "fake_for", "simulated_providers"]


@functools.cache
def _registry() -> ProviderRegistry:
    return ProviderRegistry(make_plugin_manager())


def simulated_providers() -> tuple[str, ...]:
    """The installed providers with a fake server, sorted."""
    return tuple(info.provider for info in _registry() if info.provider_object.fake is not None)


def fake_for(provider: str) -> ProviderFake:
    """The fake server of ``provider``; a PluginError if it is not installed or has none."""
    fake = _registry().provider(provider).fake
    if fake is None:
        raise PluginError(
            f"provider {provider!r} ships no fake server, so the simulator cannot play it "
            f"(providers it can play: {', '.join(simulated_providers()) or 'none'})",
            hint="give its Provider class a `fake` (see docs/writing-a-plugin.md)",
        )
    return fake


class _InstalledSpecs(Mapping[str, ChannelSpec]):
    """The specs of the simulated providers, read from their plugins."""

    def __getitem__(self, provider: str) -> ChannelSpec:
        fake_for(provider)
        return _registry().spec(provider)

    def __iter__(self) -> Iterator[str]:
        return iter(simulated_providers())

    def __len__(self) -> int:
        return len(simulated_providers())


SIM_SPECS: Mapping[str, ChannelSpec] = _InstalledSpecs()


def chat_id_for(provider: str, index: int) -> str:
    """The chat id of contact ``index`` on a ``provider`` integration."""
    return fake_for(provider).chat_id(index)


def chat_id_maker(provider: str) -> Callable[[int], str]:
    """``chat_id_for`` with the provider fixed (the audience generator calls it per contact)."""
    return fake_for(provider).chat_id


def chat_index(provider: str, chat_id: str) -> int:
    """The contact index a simulator chat id encodes; any other id gets a stable
    pseudo-index (so a fake server answers consistently for chats it did not invent)."""
    index = fake_for(provider).chat_index(chat_id)
    if index is not None and 0 <= index < 100_000_000:
        return index
    return 100_000_000 + stream_id(chat_id) % 1_000_000_000
