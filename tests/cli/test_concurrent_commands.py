"""Concurrent ``broadcaster`` processes against one store: the scheduled quota holds (SQLite
file and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from broadcaster.core.models import Chat, Contact, Flow, TextCard
from broadcaster.service import BroadcastService
from broadcaster.store import open_store
from tests.conftest import pg_reset


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        pg_reset(url)
        return url
    return str(tmp_path / "broadcaster.db")


def test_six_parallel_creates_at_23_of_25_give_two_created_four_quota_exceeded(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    store.put_flow(Flow("welcome", "Welcome", first_card=TextCard("Hello")))
    store.upsert_contacts([Contact("c1", "Ada", chats=(Chat("tg", "1"),))])
    service = BroadcastService(store=store, quota=25)
    for _ in range(23):
        service.create(flow_id="welcome", audience_filter="", draft=True)
    store.close()

    env = {**os.environ, "BROADCASTER_QUOTA": "25", "BROADCASTER_TIMEZONE": "UTC"}
    env.pop("BROADCASTER_CONFIG", None)
    command = [
        sys.executable,
        "-m",
        "broadcaster.cli",
        "--store",
        store_url,
        "create",
        "--flow",
        "welcome",
        "--filter",
        "",
    ]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    results = [(p.wait(60), p.stderr.read().decode()) for p in processes]  # type: ignore[union-attr]
    refused = [err for code, err in results if code != 0]
    assert sum(1 for code, _ in results if code == 0) == 2
    assert len(refused) == 4
    assert all(
        err.startswith("error: the combined scheduled quota is full (25 of 25 DRAFT or SCHEDULED broadcasts)")
        for err in refused
    ), refused
    with open_store(store_url) as check:
        assert check.count_quota() == 25
