"""The contract suite's engines: every test taking ``store`` (or ``new_store``) runs on
SQLite and on PostgreSQL (a throw-away database of this session, emptied per test)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from broadcaster.store import SQLStore, open_store
from tests.conftest import pg_reset

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_store(engine: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], SQLStore]]:
    """Makes empty stores of this engine (each call empties the PostgreSQL database again)."""
    opened: list[SQLStore] = []
    url = request.getfixturevalue("pg_url") if engine == "postgresql" else ":memory:"

    def make() -> SQLStore:
        if engine == "postgresql" and opened:
            pg_reset(url)  # the same open store, emptied: opening a pool per example is slow
            return opened[0]
        if engine == "postgresql":
            pg_reset(url)
        store = open_store(url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(new_store: Callable[[], SQLStore]) -> SQLStore:
    return new_store()


@pytest.fixture
def shared_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty store that several store instances (connections) open: a file, or the database."""
    if engine == "postgresql":
        pg_url: str = request.getfixturevalue("pg_url")
        pg_reset(pg_url)
        return pg_url
    return str(tmp_path / "shared.db")
