"""Fake provider servers: the failure models answering in each provider's real wire format.

A :class:`FakeProvider` is one provider's API. Use it in-process as an
``httpx.MockTransport`` handler (:meth:`FakeProvider.transport`), or serve its ASGI app
(:meth:`FakeProvider.asgi`) on loopback with hypercorn (``broadcaster sandbox``). It
records every message it accepted, so a test can check that nothing was sent twice.

Time is the fake's ``clock`` (seconds since the scenario's start): a :class:`ManualClock`
by default, ``trio.current_time`` under pytest-trio's ``autojump_clock``, the wall clock
in the sandbox. A connection refused is ``httpx.ConnectError`` in-process; over a real
socket the closest HTTP can say is a bare 503 with ``Connection: close``.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

import attrs
import httpx

from broadcaster.asgi import answer_lifespan
from broadcaster.fake import ProviderFake, Target, WireReply, WireRequest

from .audience import AudienceGenerator
from .draws import derive_key
from .failures import SimulatedProvider, Verdict
from .model import Latency, ProviderBehaviour, Scenario
from .specs import SIM_SPECS, chat_index, fake_for

__all__ = ["AcceptedMessage", "FakeProvider", "ManualClock"]


_NO_ANSWER = WireReply(503, {"connection": "close", "content-type": "text/plain"}, b"")


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class AcceptedMessage:
    chat_id: str
    content: str
    message_id: int
    at: float


@attrs.frozen
class _Exchange:
    """What the fake does with one request: wait ``delay`` seconds, then reply or fail."""

    delay: float
    reply: WireReply | None = None
    #: REFUSED or TIMEOUT when there is no reply
    failure: Verdict | None = None


class FakeProvider:
    def __init__(
        self,
        behaviour: ProviderBehaviour,
        *,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        window_closed: Callable[[int], bool] | None = None,
        token: str | None = None,
    ) -> None:
        """``token``, when given, is the only credential accepted (others get the
        provider's auth failure); ``window_closed`` says which contact indexes have a
        closed messaging window."""
        self.behaviour = behaviour
        self.provider = behaviour.provider
        self.wire = fake_for(self.provider)
        rng = random.Random(seed)
        self.model = SimulatedProvider(behaviour, rng=rng, key=derive_key(rng), window_closed=window_closed)
        self.clock = clock or ManualClock()
        self.token = token
        self.accepted: list[AcceptedMessage] = []
        self.requests = 0
        self.answers: Counter[Verdict] = Counter()
        self._ids = itertools.count(1)

    @classmethod
    def healthy(cls, provider: str, **options: Any) -> FakeProvider:
        """A fake that accepts everything at the provider's usual rate, 50 ms per reply."""
        spec = SIM_SPECS[provider]
        behaviour = ProviderBehaviour(
            provider, provider, limit=spec.rate_per_second, burst=spec.burst, latency=Latency(0.05, 0.05)
        )
        return cls(behaviour, **options)

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, integration: str, *, seed: int | None = None, **options: Any
    ) -> FakeProvider:
        """The fake of one of the scenario's integrations: same failure model, same
        per-contact fates and closed windows as ``broadcaster simulate`` gives it."""
        behaviour = scenario.providers[integration]
        seed = scenario.seed if seed is None else seed
        key = derive_key(random.Random(seed))
        providers = {name: b.provider for name, b in scenario.providers.items()}
        audience = AudienceGenerator(
            scenario.audience, key=key, start=scenario.start, providers=providers, specs=SIM_SPECS
        )
        windowed = SIM_SPECS[behaviour.provider].window_seconds is not None
        return cls(behaviour, seed=seed, window_closed=audience.window_closed if windowed else None, **options)

    # -- what was accepted --------------------------------------------------------------------

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(chat id, content) pairs accepted more than once, with their counts."""
        counts = Counter((m.chat_id, m.content) for m in self.accepted)
        return {pair: n for pair, n in sorted(counts.items()) if n > 1}

    # -- the exchange -------------------------------------------------------------------------

    def _decide(self, target: Target, now: float) -> tuple[Verdict, float, int | None]:
        verdict, latency, hint = self.model.decide(chat_index(self.provider, target.chat_id), now, text=target.text)
        self.answers[verdict] += 1
        return verdict, latency, hint

    def _accept(self, target: Target, now: float) -> int:
        message_id = next(self._ids)
        self.accepted.append(AcceptedMessage(target.chat_id, target.content, message_id, now))
        return message_id

    def exchange(self, request: WireRequest) -> _Exchange:
        """Decide the answer to ``request`` at the clock's current time."""
        self.requests += 1
        now = self.clock()
        wire = self.wire
        endpoint = wire.route(request.method, request.path)
        if endpoint is None:
            return _Exchange(0.0, wire.not_found())
        targets = wire.targets(endpoint, request)
        if isinstance(targets, WireReply):
            return _Exchange(0.0, targets)
        if self.token is not None and wire.credentials(request) != self.token:
            return _Exchange(0.0, wire.answer(Verdict.AUTH_FAILED, targets[0], retry_after=None, message_id=0))
        if endpoint in wire.batch_endpoints:
            return self._broadcast(wire, targets, now)
        target = targets[0]
        verdict, latency, hint = self._decide(target, now)
        if verdict in (Verdict.REFUSED, Verdict.TIMEOUT):
            return _Exchange(latency, failure=verdict)
        message_id = self._accept(target, now) if verdict is Verdict.ACCEPTED else 0
        return _Exchange(latency, wire.answer(verdict, target, retry_after=hint, message_id=message_id))

    def _broadcast(self, wire: ProviderFake, targets: list[Target], now: float) -> _Exchange:
        indexes = [chat_index(self.provider, target.chat_id) for target in targets]
        verdict, latency, hint, verdicts = self.model.decide_batch(indexes, now, text=targets[0].text)
        if verdict is not None:
            # The request as a whole: an outage, a revoked token, the request rate.
            self.answers[verdict] += len(targets)
            if verdict in (Verdict.REFUSED, Verdict.TIMEOUT):
                return _Exchange(latency, failure=verdict)
            return _Exchange(latency, wire.answer(verdict, targets[0], retry_after=hint, message_id=0))
        message_id = next(self._ids)
        for target, each in zip(targets, verdicts, strict=True):
            self.answers[each] += 1
            if each is Verdict.ACCEPTED:
                self.accepted.append(AcceptedMessage(target.chat_id, target.content, message_id, now))
        return _Exchange(latency, wire.answer_batch(list(zip(targets, verdicts, strict=True)), message_id=message_id))

    def answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[float, WireReply]:
        """A request as a server received it (``headers`` lower-cased, the body undecoded):
        how long to wait, then what to write. No answer (an outage's refused connection or
        timeout) is, over a real socket, the closest HTTP can say: a bare 503 with
        ``Connection: close``."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        exchange = self.exchange(WireRequest(method=method, path=path, query=query, headers=headers, body=body))
        if exchange.failure is not None or exchange.reply is None:
            return exchange.delay, _NO_ANSWER
        return exchange.delay, exchange.reply

    # -- httpx ----------------------------------------------------------------------------------

    def _from_httpx(self, request: httpx.Request) -> WireRequest:
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = None
        return WireRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )

    def _to_httpx(self, exchange: _Exchange, request: httpx.Request) -> httpx.Response:
        if exchange.failure is Verdict.REFUSED:
            raise httpx.ConnectError("[Errno 111] Connection refused (simulated outage)", request=request)
        if exchange.failure is Verdict.TIMEOUT:
            raise httpx.ReadTimeout("timed out waiting for the reply (simulated)", request=request)
        reply = exchange.reply
        assert reply is not None
        return httpx.Response(reply.status, headers=dict(reply.headers), content=reply.body, request=request)

    def handler(self, request: httpx.Request) -> httpx.Response:
        """A synchronous ``httpx.MockTransport`` handler: latency is not waited for."""
        return self._to_httpx(self.exchange(self._from_httpx(request)), request)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        """An async handler that waits out the latency on trio's clock (instant under
        ``autojump_clock``)."""
        import trio

        exchange = self.exchange(self._from_httpx(request))
        await trio.sleep(exchange.delay)
        return self._to_httpx(exchange, request)

    def transport(self, *, wait: bool = False) -> httpx.MockTransport:
        return httpx.MockTransport(self.async_handler if wait else self.handler)

    # -- ASGI (hypercorn on trio, or uvicorn on asyncio: anyio sleeps on either) ----------

    async def asgi(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        import anyio

        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        delay, reply = self.answer(
            scope["method"],
            scope["path"],
            dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])},
            b"".join(chunks),
        )
        await anyio.sleep(delay)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
