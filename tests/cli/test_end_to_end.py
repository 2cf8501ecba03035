"""End to end in subprocesses: the real `broadcaster` program, the real Telegram plugin, and the
simulator's sandbox (a fake Telegram API on loopback) where 3 contacts in 10 blocked the bot."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("broadcaster_simulator")
pytest.importorskip("broadcaster_telegram")

SCENARIO = """
[scenario]
name = "e2e"
seed = 3
[audience]
size = 10
channels = { telegram = 1.0 }
[broadcast]
name = "e2e"
text = "hi"
[providers.telegram]
send_rate = 1000
latency = { median = "1ms", p99 = "2ms" }
fates = { blocked = 0.3 }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sandbox(tmp_path):
    port = _free_port()
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broadcaster.cli",
            "sandbox",
            "telegram",
            "--scenario",
            "scenario.toml",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the sandbox did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_import_create_run_history_export_retry_lineage(tmp_path: Path, sandbox: str):
    env = {**os.environ, "TG_TOKEN": "123:token", "BROADCASTER_TIMEZONE": "UTC"}
    env.pop("BROADCASTER_CONFIG", None)
    env.pop("BROADCASTER_STORE", None)

    def bc(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "broadcaster.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stdout

    # the sandbox decodes a contact's index from its chat id (700000000 + index)
    rows = ["id,name,city,chat:tg"] + [f"c{i},Person {i},Oslo,{700_000_000 + i}" for i in range(10)]
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "welcome.toml").write_text('id = "welcome"\n[first_card]\ntype = "text"\ntext = "Hello"\n')

    bc(
        "integrations",
        "add",
        "tg",
        "--provider",
        "telegram",
        "--secret",
        "token=TG_TOKEN",
        "--setting",
        f"base_url={sandbox}",
    )
    assert bc("contacts", "import", "people.csv") == "imported 10 contacts\n"
    bc("flows", "add", "welcome.toml")
    created = json.loads(bc("create", "--name", "e2e", "--flow", "welcome", "--filter", 'city = "Oslo"', "--json"))
    bid = created["id"]
    assert created["counters"]["audience_size_estimate"] == 10

    out = bc("run", "--once", "--concurrent", "2")
    assert out.splitlines()[-1] == "idle: 1 broadcast(s) run"
    shown = json.loads(bc("show", bid, "--json"))
    counters = shown["counters"]
    assert shown["state"] == "COMPLETED" and counters["audience_size_actual"] == 10
    assert counters["delivered"] + counters["failed"] == 10 and counters["failed"] > 0 and counters["skipped"] == 0
    assert shown["delivery_rate"] == counters["delivered"] / 10

    failed = json.loads(bc("history", bid, "--status", "FAILED", "--json"))["rows"]
    assert len(failed) == counters["failed"]
    assert {r["error_reason"] for r in failed} == {"telegram:403:blocked_by_user"}
    assert bc("history", bid, "--csv", "history.csv") == "wrote 10 rows to history.csv\n"
    with open(tmp_path / "history.csv", newline="") as f:
        exported = list(csv.DictReader(f))
    assert sorted(r["contact_id"] for r in exported) == sorted(f"c{i}" for i in range(10))
    health = json.loads(bc("integrations", "list", "--json"))[0]
    assert (health["name"], health["health"]) == ("tg", "ok")  # the worker's tracker wrote it
    assert "123:token" not in bc("integrations", "list")

    retried = bc("retry", bid, "--run-at", "now")
    assert retried.splitlines()[0] == f"contacts to retry: {counters['failed']}"
    bc("run", "--once", "--plain")
    chain = json.loads(bc("lineage", bid, "--json"))
    assert [b["retry_of"] for b in chain] == [None, bid]
    retry = chain[1]
    # a blocked bot stays blocked: the retry fails the same contacts again
    assert retry["state"] == "COMPLETED"
    assert (retry["counters"]["audience_size_actual"], retry["counters"]["failed"]) == (counters["failed"],) * 2
    assert sorted(r["contact_id"] for r in json.loads(bc("history", retry["id"], "--json"))["rows"]) == sorted(
        r["contact_id"] for r in failed
    )
