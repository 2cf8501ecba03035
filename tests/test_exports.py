"""``__all__`` is the public API: complete for the core, and never naming a missing object."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import broadcaster
import broadcaster.core


def _public_modules(package: ModuleType) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


ALL_MODULES = _public_modules(broadcaster)
CORE_MODULES = [name for name in _public_modules(broadcaster.core) if name != "broadcaster.core"]


def test_the_walk_finds_the_core() -> None:
    assert {"broadcaster.core.reasons", "broadcaster.core.retry", "broadcaster.core.dispatcher"} <= set(CORE_MODULES)


@pytest.mark.parametrize("name", ALL_MODULES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", [])
    assert [] == [item for item in exported if not hasattr(module, item)]
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"


@pytest.mark.parametrize("name", CORE_MODULES)
def test_core_modules_export_every_public_definition(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == name
    }
    assert set() == defined - set(module.__all__)
