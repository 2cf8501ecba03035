"""Plugins: loading them (:mod:`broadcaster.loading`) and the providers they register
(:mod:`broadcaster.registry`), under one name for the rest of broadcaster."""

from __future__ import annotations

from .loading import (
    AUTOLOAD_ENV,
    BLOCK_ENV,
    ENTRY_POINT_GROUP,
    TRACE_ENV,
    BroadcasterPluginManager,
    BrokenPlugin,
    PluginOrigin,
    make_plugin_manager,
)
from .registry import ProviderInfo, ProviderRegistry, check_provider

__all__ = [
    "AUTOLOAD_ENV",
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "BroadcasterPluginManager",
    "BrokenPlugin",
    "PluginOrigin",
    "ProviderInfo",
    "ProviderRegistry",
    "check_provider",
    "make_plugin_manager",
]
