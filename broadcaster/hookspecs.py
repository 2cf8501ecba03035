"""The hooks a broadcaster plugin can implement.

Pluggy finds plugins (the ``broadcaster`` entry-point group) and broadcasts events to
them; it does not sit between the runtime and a provider. A plugin hands its provider
objects over once, from :func:`register_providers`, and the runtime then calls those
objects directly (see :class:`broadcaster.provider.Provider`).
Call every hook with keyword arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

from .core.models import LifecycleEvent

if TYPE_CHECKING:
    from .provider import Provider

__all__ = ["PROJECT_NAME", "Register", "hookimpl", "hookspec"]

PROJECT_NAME = "broadcaster"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: what :func:`register_providers` receives: call it once per provider object
Register = Callable[["Provider"], None]


@hookspec
def register_providers(register: Register) -> None:
    """Hand broadcaster this plugin's provider objects: ``register(Acme())``.

    Fires: once, when the provider registry is built (every command that needs
    providers, and ``broadcaster plugins``). Each provider is checked as it registers: a
    missing required method, an invalid spec or a provider name another plugin already
    registered marks this plugin broken (listed by ``broadcaster plugins``, with the
    reason); commands that do not use it carry on.
    """


@hookspec
def on_lifecycle_event(event: LifecycleEvent) -> None:
    """Observe a broadcast changing phase (scheduled, started, finished, cancelled), or
    found overdue (SCHEDULED, its run-at passed more than the worker's max lateness ago:
    the worker will not fire it; reported once per worker start).

    Fires: in a worker (``broadcaster run``), after the change is stored — whichever
    process made it (the CLI, ``broadcaster serve``, a worker): the change wrote the event
    to the store's outbox in its own transaction, and workers deliver it. Once per event
    across every worker sharing the store, also after a crash (a worker killed in the
    instant between this call and recording it lets the next one call it again).
    Arguments: the :class:`LifecycleEvent` (its ``broadcast`` is the stored state right
    after the change). Returns nothing; an exception here is logged and never stops a
    run. Not firstresult. A plugin can use it, for
    example, to chain a retry when a broadcast finishes with failures.
    """
