"""PostgreSQL going away under a running ``serve``: every request gets a one-line
``STORE_UNAVAILABLE`` answer (HTTP 503), never a traceback or a hang, and the server answers
normally again once the database is back — without a restart.

The shared PostgreSQL server cannot be stopped here (other suites use it), so ``serve``
reaches it through a loopback TCP relay that the test cuts (every connection dropped, new
ones refused) and restores on the same port.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx

from .conftest import free_port, open_server, pg_database


class Relay:
    """127.0.0.1:port → PostgreSQL, cut and restored at will."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
            except OSError:
                pass
            listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_a_dead_postgresql_is_an_error_answer_and_serve_recovers_when_it_is_back():
    with pg_database() as url:
        head, _, tail = url.partition("@")
        host, _, rest = tail.partition("/")
        relay = Relay((host.split(":")[0], int(host.split(":")[1])))
        relayed = f"{head}@127.0.0.1:{relay.port}/{rest}"
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
