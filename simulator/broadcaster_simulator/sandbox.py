"""``broadcaster sandbox``: a fake provider API served on loopback by hypercorn on trio."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from .fakes import FakeProvider
from .scenario import ScenarioError, load_scenario

__all__ = ["build_fake", "serve", "serve_async"]


def build_fake(provider: str, *, scenario_path: Path | None = None, seed: int | None = None) -> FakeProvider:
    """The fake ``provider``: healthy, or driven by the scenario's first integration on it.
    Its clock is wall time since it was built (the timeline starts when the server does)."""
    started = time.monotonic()

    def clock() -> float:
        return time.monotonic() - started

    if scenario_path is None:
        return FakeProvider.healthy(provider, clock=clock, seed=seed or 0)
    scenario = load_scenario(scenario_path)
    for name, behaviour in scenario.providers.items():
        if behaviour.provider == provider:
            return FakeProvider.from_scenario(scenario, name, seed=seed, clock=clock)
    raise ScenarioError(
        str(scenario_path),
        "providers",
        f"has no integration on provider {provider!r}",
        hint=f"its integrations: {', '.join(f'{n} ({b.provider})' for n, b in scenario.providers.items())}",
    )


async def serve_async(
    fake: FakeProvider, *, port: int, host: str = "127.0.0.1", task_status: trio.TaskStatus[list[str]] | None = None
) -> None:
    """Serve until cancelled (hypercorn's trio worker)."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    kwargs = {} if task_status is None else {"task_status": task_status}
    await hypercorn_serve(fake.asgi, config, **kwargs)  # type: ignore[arg-type]


def serve(fake: FakeProvider, *, port: int) -> None:
    import trio

    trio.run(lambda: serve_async(fake, port=port))
