"""PostgreSQL going away under a running ``serve``: every request gets a one-line
``STORE_UNAVAILABLE`` answer (HTTP 503), never a traceback or a hang, and the server answers
normally again once the database is back — without a restart.

The shared PostgreSQL server cannot be stopped here (other suites use it), so ``serve``
reaches it through a loopback TCP relay that the test cuts (every connection dropped, new
ones refused) and restores on the same port.
"""

from __future__ import annotations

import time

import httpx

from tests.relay import relayed_url

from .conftest import open_server, pg_database


def test_a_dead_postgresql_is_an_error_answer_and_serve_recovers_when_it_is_back():
    with pg_database() as url:
        relay, relayed = relayed_url(url)
        for server in open_server(relayed):
            secret = server.tokens["read"]

            def ask(url: str = server.url, secret: str = secret) -> httpx.Response:
                return httpx.post(url, json={"query": "{ flows { id } }"}, timeout=30,
                                  headers={"Authorization": f"Bearer {secret}"})  # fmt: skip

            assert ask().json() == {"data": {"flows": [{"id": "f1"}, {"id": "welcome"}]}}
            relay.cut()
            for _ in range(3):
                started = time.monotonic()
                answer = ask()
                assert time.monotonic() - started < 15  # the serve waits 5 s for a connection, no more
                assert answer.status_code == 503, answer.text
                (error,) = answer.json()["errors"]
                assert error["extensions"] == {"code": "STORE_UNAVAILABLE"}
                assert error["message"].startswith(("lost the PostgreSQL store", "the PostgreSQL store"))
                assert error["message"].endswith("check that the server runs; broadcaster carries on once it is back")
                assert "Traceback" not in answer.text and "\n" not in error["message"]
            assert server.process.poll() is None
            relay.restore()
            deadline = time.monotonic() + 60
            while (answer := ask()).status_code != 200:
                assert time.monotonic() < deadline, answer.text
                assert answer.json()["errors"][0]["extensions"] == {"code": "STORE_UNAVAILABLE"}
                time.sleep(0.5)
            assert answer.json() == {"data": {"flows": [{"id": "f1"}, {"id": "welcome"}]}}
            mutation = 'mutation { unpublishFlow(id: "f1") { published } }'
            written = httpx.post(server.url, json={"query": mutation}, timeout=30,
                                 headers={"Authorization": f"Bearer {server.tokens['write']}"})  # fmt: skip
            assert written.json() == {"data": {"unpublishFlow": {"published": False}}}
        assert server.process.stderr is not None
        assert "Traceback" not in server.process.stderr.read().decode()
        relay.cut()
