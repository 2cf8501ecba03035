"""The loopback fake provider in a process of its own (``broadcaster_simulator.limited``)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from broadcaster_simulator import limited

SEND = "/bot123:T/sendMessage"


def _send(client: httpx.Client, base_url: str, chat: int) -> httpx.Response:
    return client.post(f"{base_url}{SEND}", json={"chat_id": chat, "text": "hi"})


def test_over_its_limit_it_answers_telegrams_429_and_counts_each_second():
    server, base_url = limited.start(5.0, burst=3, latency=(0.001, 0.002))
    try:
        with httpx.Client(timeout=10) as client:
            codes = [_send(client, base_url, chat).status_code for chat in range(6)]
            stats = limited.stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    accepted = codes.count(200)
    assert stats["requests"] == 6 and stats["accepted"] == accepted
    assert stats["busiest_sent"] == 6 and stats["busiest_accepted"] == accepted
    assert stats["per_second"] == [accepted] and stats["duplicates"] == 0


def test_a_storm_refuses_with_retry_after_5_from_its_start_and_unlimited_takes_everything():
    server, base_url = limited.start(None, storm=(0.3, 30.0), latency=(0.001, 0.002))
    try:
        with httpx.Client(timeout=10) as client:
            before = [_send(client, base_url, chat).status_code for chat in range(50)]
            deadline = time.monotonic() + 10
            while (reply := _send(client, base_url, 1000)).status_code == 200:
                assert time.monotonic() < deadline, "the storm never began"
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert before == [200] * 50  # unlimited, and the storm's clock starts at the first request
    assert reply.status_code == 429
    assert reply.json()["parameters"] == {"retry_after": 5}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--limit", "0"], "--limit must be above 0 messages/s, not 0"),
        (["--storm", "1"], "expected 2 arguments"),
        (["--latency", "0", "0.1"], "--latency needs 0 < MEDIAN <= P99 (seconds), not 0 0.1"),
    ],
)
def test_wrong_options_are_one_line_and_serve_nothing(args, said):
    done = subprocess.run(
        [sys.executable, "-m", "broadcaster_simulator.limited", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and done.stdout == ""
    assert said in done.stderr and "Traceback" not in done.stderr
