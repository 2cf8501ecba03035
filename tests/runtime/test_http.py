"""HttpExecutor: HttpCall -> httpx -> HttpReply, and transport failures as values."""

from __future__ import annotations

import functools
import json
import logging
import socket
import ssl

import httpx
import pytest
import trio

from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import NotSent, OutcomeUnknown
from broadcaster.runtime.http import HttpExecutor, HttpSettings, classify_transport_error

TOKEN = "123456:AAE-secret-bot-token"
CALL = HttpCall(
    method="POST",
    url=f"https://api.telegram.example/bot{TOKEN}/sendMessage",
    headers={"Content-Type": "application/json", "X-Trace": "t-1"},
    json={"chat_id": "42", "text": "héllo"},
    secrets=(TOKEN,),
)


def executor_for(handler: object, **settings: object) -> HttpExecutor:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return HttpExecutor(transport=transport, settings=HttpSettings(**settings))  # type: ignore[arg-type]


async def test_call_becomes_request_and_response_becomes_reply(autojump_clock: trio.abc.Clock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"X-Reply": "yes"}, content=b'{"ok":true}')

    async with executor_for(handler) as executor:
        with trio.fail_after(5):
            reply = await executor.perform("tg-main", CALL, provider="telegram")

    assert reply == HttpReply(
        status=200,
        headers=[("x-reply", "yes"), ("content-length", "11")],
        body=b'{"ok":true}',
    )
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == CALL.url
    assert request.headers["x-trace"] == "t-1"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"chat_id": "42", "text": "héllo"}


async def test_a_call_without_json_sends_no_body(autojump_clock: trio.abc.Clock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with executor_for(handler) as executor:
        with trio.fail_after(5):
            reply = await executor.perform("x", HttpCall(method="GET", url="https://p.example/me"))
    assert reply == HttpReply(status=204, headers=[], body=b"")
    assert seen[0].content == b""


async def test_error_statuses_are_replies_not_failures(autojump_clock: trio.abc.Clock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3"}, content=b"slow down")

    async with executor_for(handler) as executor:
        with trio.fail_after(5):
            reply = await executor.perform("x", CALL)
    assert isinstance(reply, HttpReply)
    assert (reply.status, reply.header("retry-after"), reply.body) == (429, "3", b"slow down")


async def test_one_client_per_integration_reused(autojump_clock: trio.abc.Clock) -> None:
    async with executor_for(lambda r: httpx.Response(200)) as executor:
        first = executor.client("a")
        await executor.perform("a", CALL)
        assert executor.client("a") is first
        assert executor.client("b") is not first
        timeout = first.timeout
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5.0, 30.0, 30.0, 5.0)
    with pytest.raises(RuntimeError, match="closed"):
        executor.client("a")


async def test_oversized_reply_body_is_cut(autojump_clock: trio.abc.Clock) -> None:
    async with executor_for(lambda r: httpx.Response(200, content=b"x" * 5000), max_reply_bytes=1000) as executor:
        reply = await executor.perform("x", CALL)
    assert isinstance(reply, HttpReply)
    assert reply.body == b"x" * 1000


def _raising(exc: Exception):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _caused(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


FAILURES = [
    (
        _caused(httpx.ConnectError(f"refused for {CALL.url}"), ConnectionRefusedError(111, "Connection refused")),
        NotSent,
        "telegram:conn:connection_refused",
    ),
    (
        _caused(httpx.ConnectError("no such host"), socket.gaierror(-2, "Name or service not known")),
        NotSent,
        "telegram:conn:dns_failed",
    ),
    (
        _caused(httpx.ConnectError("bad cert"), ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")),
        NotSent,
        "telegram:conn:tls_failed",
    ),
    (httpx.ConnectError(f"something else at {CALL.url}"), NotSent, "telegram:conn:connect_failed"),
    (httpx.ConnectTimeout(f"connect timed out {CALL.url}"), NotSent, "telegram:timeout:connect_timeout"),
    (httpx.PoolTimeout("pool full"), NotSent, "telegram:timeout:pool_timeout"),
    (httpx.ProxyError("proxy down"), NotSent, "telegram:conn:proxy_failed"),
    (httpx.UnsupportedProtocol("ftp"), NotSent, "telegram:conn:unsupported_protocol"),
    (httpx.LocalProtocolError("bad header"), NotSent, "telegram:conn:invalid_request"),
    (httpx.ReadTimeout(f"read timed out {CALL.url}"), OutcomeUnknown, "telegram:timeout:outcome_unknown"),
    (httpx.WriteTimeout("write timed out"), OutcomeUnknown, "telegram:timeout:outcome_unknown"),
    (
        httpx.RemoteProtocolError(f"peer closed connection {TOKEN}"),
        OutcomeUnknown,
        "telegram:conn:connection_lost_outcome_unknown",
    ),
    (httpx.ReadError("reset by peer"), OutcomeUnknown, "telegram:conn:connection_lost_outcome_unknown"),
    (httpx.WriteError("broken pipe"), OutcomeUnknown, "telegram:conn:connection_lost_outcome_unknown"),
    (httpx.CloseError("close failed"), OutcomeUnknown, "telegram:conn:connection_lost_outcome_unknown"),
    (httpx.DecodingError("bad gzip"), OutcomeUnknown, "telegram:reply:undecodable_outcome_unknown"),
]


@pytest.mark.parametrize(("exc", "kind", "reason"), FAILURES, ids=[type(f[0]).__name__ + ":" + f[2] for f in FAILURES])
async def test_transport_failures_become_values_without_secrets(
    exc: Exception, kind: type, reason: str, autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with executor_for(_raising(exc)) as executor:
        with trio.fail_after(5):
            result = await executor.perform("tg-main", CALL, provider="telegram")
    assert result == kind(ErrorReason.parse(reason))
    assert TOKEN not in str(result)
    assert caplog.records, "the failure is logged"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert "***" in caplog.text


async def test_reason_names_the_integration_when_no_provider_given(autojump_clock: trio.abc.Clock) -> None:
    async with executor_for(_raising(httpx.ReadTimeout("slow"))) as executor:
        result = await executor.perform("wa-main", CALL)
    assert result == OutcomeUnknown(ErrorReason("wa-main", "timeout", "outcome_unknown"))


async def test_invalid_url_is_not_sent(autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture) -> None:
    call = HttpCall(method="GET", url=f"https://a:b:c/bot{TOKEN}", secrets=(TOKEN,))
    async with executor_for(lambda r: httpx.Response(200)) as executor:
        result = await executor.perform("tg", call, provider="telegram")
    assert result == NotSent(ErrorReason("telegram", "conn", "invalid_url"))
    assert TOKEN not in caplog.text


def test_non_transport_errors_are_bugs() -> None:
    with pytest.raises(TypeError, match="TooManyRedirects is not a transport failure"):
        classify_transport_error(httpx.TooManyRedirects("loop"), label="x")


async def test_unexpected_exceptions_propagate(autojump_clock: trio.abc.Clock) -> None:
    async with executor_for(_raising(ZeroDivisionError("plugin bug"))) as executor:
        with pytest.raises(ZeroDivisionError):
            await executor.perform("x", CALL)


# Real sockets: no autojump_clock here, it would jump the clock while the kernel works.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_real_refused_connection_is_not_sent() -> None:
    call = HttpCall(method="POST", url=f"http://127.0.0.1:{_free_port()}/bot{TOKEN}/send", json={}, secrets=(TOKEN,))
    async with HttpExecutor() as executor:
        with trio.fail_after(10):
            result = await executor.perform("tg", call, provider="telegram")
    assert result == NotSent(ErrorReason("telegram", "conn", "connection_refused"))


async def test_real_server_that_never_answers_is_outcome_unknown() -> None:
    accepted = trio.Event()

    async def silent(stream: trio.SocketStream) -> None:
        accepted.set()
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(functools.partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        call = HttpCall(method="POST", url=f"http://127.0.0.1:{port}/bot{TOKEN}/send", json={}, secrets=(TOKEN,))
        async with HttpExecutor(settings=HttpSettings(read_timeout=0.2)) as executor:
            with trio.fail_after(10):
                result = await executor.perform("tg", call, provider="telegram")
        nursery.cancel_scope.cancel()
    assert accepted.is_set()
    assert result == OutcomeUnknown(ErrorReason("telegram", "timeout", "outcome_unknown"))
