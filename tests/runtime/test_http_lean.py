"""HttpExecutor's lean path: parsed URLs reused, no cookie jar, undecoded replies read
from the transport's stream (and encoded ones still decoded)."""

from __future__ import annotations

import gzip

import httpx
import trio

from broadcaster.core.http import HttpCall, HttpReply
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import NotSent
from broadcaster.runtime import http as http_module
from broadcaster.runtime.http import HttpExecutor, HttpSettings

CALL = HttpCall(method="POST", url="https://api.example/bot1:x/sendMessage", json={"chat_id": "1", "text": "hi"})


def executor_for(handler: object, **settings: object) -> HttpExecutor:
    return HttpExecutor(transport=httpx.MockTransport(handler), settings=HttpSettings(**settings))  # type: ignore[arg-type]


async def test_the_same_url_is_parsed_once_and_every_request_goes_to_it(autojump_clock: trio.abc.Clock) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=b"{}")

    async with executor_for(handler) as executor:
        for _ in range(3):
            await executor.perform("tg", CALL)
        other = HttpCall(method="POST", url="https://api.example/bot1:x/sendPhoto", json={})
        await executor.perform("tg", other)
        assert list(executor._urls) == [CALL.url, other.url]
        first = executor._urls[CALL.url]
        await executor.perform("tg", CALL)
        assert executor._urls[CALL.url] is first
    assert seen == [CALL.url] * 3 + [other.url, CALL.url]


async def test_the_url_cache_never_grows_past_its_size(autojump_clock: trio.abc.Clock, monkeypatch: object) -> None:
    monkeypatch.setattr(http_module, "_KEPT_URLS", 2)  # type: ignore[attr-defined]
    async with executor_for(lambda request: httpx.Response(200, content=b"{}")) as executor:
        for i in range(5):
            await executor.perform("tg", HttpCall(method="GET", url=f"https://api.example/{i}"))
            assert len(executor._urls) <= 2
        assert list(executor._urls) == ["https://api.example/4"]


async def test_an_invalid_url_is_still_not_sent_and_not_kept(autojump_clock: trio.abc.Clock) -> None:
    async with executor_for(lambda request: httpx.Response(200)) as executor:
        result = await executor.perform("tg", HttpCall(method="GET", url="https://a:b:c/bot1"), provider="tg")
        assert result == NotSent(ErrorReason("tg", "conn", "invalid_url"))
        assert executor._urls == {}


async def test_a_providers_cookie_is_not_sent_back(autojump_clock: trio.abc.Clock) -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "AWSALB=sticky; Path=/"}, content=b"{}")

    async with executor_for(handler) as executor:
        first = await executor.perform("tg", CALL)
        await executor.perform("tg", CALL)
        assert len(executor.client("tg").cookies) == 0
    assert cookies == [None, None]
    assert isinstance(first, HttpReply) and ("set-cookie", "AWSALB=sticky; Path=/") in first.headers


async def test_a_gzip_reply_is_still_decoded_and_a_plain_one_capped(autojump_clock: trio.abc.Clock) -> None:
    body = b'{"ok":true,"result":"' + b"x" * 500 + b'"}'

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gz"):
            return httpx.Response(200, headers={"content-encoding": "gzip"}, content=gzip.compress(body))
        return httpx.Response(200, content=body)

    async with executor_for(handler, max_reply_bytes=100) as capped, executor_for(handler) as executor:
        gz = await executor.perform("tg", HttpCall(method="GET", url="https://api.example/gz"))
        plain = await executor.perform("tg", HttpCall(method="GET", url="https://api.example/plain"))
        cut = await capped.perform("tg", HttpCall(method="GET", url="https://api.example/plain"))
    assert isinstance(gz, HttpReply) and gz.body == body
    assert isinstance(plain, HttpReply) and plain.body == body
    assert isinstance(cut, HttpReply) and cut.body == body[:100]
