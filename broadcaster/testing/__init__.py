"""A test kit for broadcaster plugin authors.

* :func:`check_provider_conformance` — run the whole conformance suite against a plugin
  in one call (hypothesis drives it with hostile provider replies);
* :class:`ProviderConformance` — the same checks as a pytest class to subclass;
* :mod:`broadcaster.testing.strategies` — hypothesis strategies for provider replies;
* :func:`send_through_mock` — run an :class:`HttpCall` through ``httpx.MockTransport``.

Importing this package needs neither pytest nor hypothesis: the names are loaded when
first used (hypothesis is a test dependency, not a runtime one). Type checkers see the
real names through the ``TYPE_CHECKING`` imports, so mypy in a plugin's own repository
types them (not ``Any``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import strategies
    from .conformance import ConformanceError, ProviderConformance, check_provider_conformance
    from .transport import reply_from_response, request_from_call, send_through_mock

__all__ = [
    "ConformanceError",
    "ProviderConformance",
    "check_provider_conformance",
    "reply_from_response",
    "request_from_call",
    "send_through_mock",
    "strategies",
]

_WHERE = {
    "ConformanceError": ".conformance",
    "ProviderConformance": ".conformance",
    "check_provider_conformance": ".conformance",
    "reply_from_response": ".transport",
    "request_from_call": ".transport",
    "send_through_mock": ".transport",
}


def __getattr__(name: str) -> Any:
    if name == "strategies":
        return importlib.import_module(".strategies", __name__)
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
