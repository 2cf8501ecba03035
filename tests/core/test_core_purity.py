"""broadcaster.core is pure: an AST scan for I/O, clock and global-randomness use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import broadcaster.core

CORE_DIR = Path(broadcaster.core.__file__).parent

#: top-level modules the core must never import (I/O, clocks, global randomness, concurrency)
FORBIDDEN_MODULES = frozenset(
    {"trio", "httpx", "sqlite3", "socket", "time", "random", "os", "asyncio", "subprocess", "threading"}
)
#: clock reads, as the dotted call they appear as
FORBIDDEN_CALLS = frozenset(
    {
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "date.today",
        "datetime.date.today",
        "time.time",
        "time.monotonic",
        "time.perf_counter",
    }
)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def impurities(source: str, filename: str = "<string>") -> list[str]:
    """Every forbidden import or clock call in ``source``, as ``file:line: what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            # level > 0 is a relative import inside the package: never a forbidden module.
            if node.level == 0 and node.module and node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{filename}:{node.lineno}: call {name}()")
    return found


def core_modules() -> list[Path]:
    return sorted(CORE_DIR.rglob("*.py"))


def test_the_scan_sees_the_core_modules() -> None:
    names = {path.stem for path in core_modules()}
    assert {"reasons", "outcomes", "lifecycle", "retry", "preflight", "dispatcher"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    assert [] == impurities(path.read_text(encoding="utf-8"), path.name)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import trio", ["m.py:1: import trio"]),
        ("import os.path", ["m.py:1: import os.path"]),
        ("x = 1\nfrom random import Random", ["m.py:2: from random import ..."]),
        ("import httpx as h", ["m.py:1: import httpx"]),
        ("from sqlite3 import connect", ["m.py:1: from sqlite3 import ..."]),
        ("def f():\n    import socket", ["m.py:2: import socket"]),
        ("import asyncio, subprocess", ["m.py:1: import asyncio", "m.py:1: import subprocess"]),
        ("from threading import Lock", ["m.py:1: from threading import ..."]),
        ("import datetime\nt = datetime.datetime.now()", ["m.py:2: call datetime.datetime.now()"]),
        ("from datetime import datetime\nt = datetime.now()", ["m.py:2: call datetime.now()"]),
        ("from datetime import date\nd = date.today()", ["m.py:2: call date.today()"]),
        ("t = time.time()", ["m.py:1: call time.time()"]),
    ],
)
def test_scanner_catches_forbidden_source(source: str, expected: list[str]) -> None:
    assert expected == impurities(source, "m.py")


@pytest.mark.parametrize(
    "source",
    [
        "from . import time",  # a sibling module that happens to share a name
        "from .random_things import x",
        "import attrs\nimport enum\nfrom typing import Protocol",
        "def f(now: float) -> float:\n    return now + 1",
        "import timeit_free_name",
    ],
)
def test_scanner_accepts_pure_source(source: str) -> None:
    assert [] == impurities(source, "m.py")
