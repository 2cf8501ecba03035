"""Hypothesis profiles (``dev``, the default, and ``ci``, chosen by ``HYPOTHESIS_PROFILE``) and
the PostgreSQL server fixture (``pg_url``)."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest
from hypothesis import settings

settings.register_profile("dev", max_examples=100)
# CI: fewer examples, no per-example deadline (shared runners are noisy), and the same
# examples on every run so a red build is reproducible.
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# -- PostgreSQL: one throw-away database per test session --------------------------------------

#: the server the PostgreSQL tests use (a maintenance database on it; tests never write there)
PG_ADMIN_URL = os.environ.get("BROADCASTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_PG_SKIPPED: list[str] = []


def _pg_unavailable(why: str) -> None:
    message = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({why})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + ": in CI the PostgreSQL tests must run (.ci/run starts the server)", pytrace=False)
    _PG_SKIPPED.append(message)
    pytest.skip(message + " — PostgreSQL tests SKIPPED")


@contextlib.contextmanager
def pg_database(prefix: str = "broadcaster_test") -> Iterator[str]:
    """The URL of a fresh database on the test server, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _pg_unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = PG_ADMIN_URL.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a fresh database made for this session and dropped after it."""
    with pg_database() as url:
        yield url


def pg_reset(url: str) -> None:
    """Empty every table of the session's database (far faster than a database per test)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'broadcaster_schema'"
        )]  # fmt: skip
        for table in tables:
            conn.execute(f'DELETE FROM "{table}"')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _PG_SKIPPED:
        terminalreporter.write_sep("!", f"PostgreSQL tests SKIPPED: {_PG_SKIPPED[0]}", red=True, bold=True)
