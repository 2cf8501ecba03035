"""pytest plugin (``pytest11`` entry point) exposing broadcaster's test kit fixtures.

Loaded in every pytest session where broadcaster is installed, so it imports nothing
heavy at module level; the fixtures import what they need when used.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["installed_plugin_manager", "plugin_manager", "provider_registry"]


@pytest.fixture
def plugin_manager() -> Any:
    """A fresh plugin manager with no entry points loaded: register your plugin on it."""
    from broadcaster.plugins import make_plugin_manager

    return make_plugin_manager(autoload=False)


@pytest.fixture
def installed_plugin_manager() -> Any:
    """A plugin manager with the installed ``broadcaster`` entry points (env controls apply)."""
    from broadcaster.plugins import make_plugin_manager

    return make_plugin_manager()


@pytest.fixture
def provider_registry(installed_plugin_manager: Any) -> Any:
    """The providers the installed plugins declare (a ``ProviderRegistry``)."""
    from broadcaster.plugins import ProviderRegistry

    return ProviderRegistry(installed_plugin_manager)
