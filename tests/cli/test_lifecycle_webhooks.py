"""Lifecycle events of CLI actions reach webhooks: `schedule` and `cancel` while no worker
runs, then a `broadcaster run --once` process delivers them, signed, to a loopback receiver —
once (a second run sends nothing)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
from typing import Any, Iterator

import pytest

from .test_broadcast_commands import create

SECRET = "whsec-e2e"


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


def run_once(ready: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOK_SECRET": SECRET, "BROADCASTER_TIMEZONE": "UTC"}
    command = [sys.executable, "-m", "broadcaster.cli", "run", "--once", "--plain"]
    return subprocess.run(command, cwd=ready.root, env=env, capture_output=True, text=True, timeout=60)


def test_cli_schedule_and_cancel_are_delivered_by_a_worker_signed(ready, receiver, monkeypatch) -> None:
    url, received = receiver
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    ready.write("broadcaster.toml", f'[[webhooks]]\nurl = "{url}"\nsecret_env = "HOOK_SECRET"\nname = "ops"\n')
    later = create(ready, "--filter", "", "--draft")
    dropped = create(ready, "--filter", "", "--draft")
    assert ready("schedule", later["id"], "--run-at", "2030-01-01T09:00").exit_code == 0
    assert ready("cancel", dropped["id"]).exit_code == 0
    assert received == []  # no worker yet: the events wait in the store

    worker = run_once(ready)
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.endswith("idle: 0 broadcast(s) run\n")
    seen = []
    for headers, body in received:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-broadcaster-signature"] == expected
        payload = json.loads(body)
        assert headers["x-broadcaster-event"] == payload["event"]
        seen.append((payload["event"], payload["broadcast_id"], payload["state"], headers["x-broadcaster-delivery"]))
    assert sorted(s[:3] for s in seen) == sorted(
        [("scheduled", later["id"], "SCHEDULED"), ("cancelled", dropped["id"], "CANCELLED")]
    )
    assert len({s[3] for s in seen}) == 2

    again = run_once(ready)
    assert again.returncode == 0, again.stderr
    assert len(received) == 2  # delivered once: nothing is sent again
