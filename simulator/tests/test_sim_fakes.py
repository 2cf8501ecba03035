"""Fake provider servers: real wire formats, the same failure models, a record of what was
accepted; in-process (MockTransport) and on loopback (hypercorn on trio)."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from broadcaster_simulator.fakes import FakeProvider, ManualClock
from broadcaster_simulator.model import ErrorMode, Fates, Latency, Period, PeriodKind, ProviderBehaviour
from broadcaster_simulator.sandbox import serve_async
from broadcaster_simulator.specs import chat_id_for


def behaviour(provider: str, **changes) -> ProviderBehaviour:
    values = dict(limit=1000.0, burst=1000, latency=Latency(0.05, 0.05))
    values.update(changes)
    return ProviderBehaviour(provider, provider, **values)


def telegram_send(client: httpx.Client, chat: str, text: str = "hi") -> httpx.Response:
    return client.post("https://api.telegram.org/bot123:abc/sendMessage", json={"chat_id": int(chat), "text": text})


def test_telegram_429_has_the_real_body_and_retry_after_header():
    storm = Period(PeriodKind.RATE_LIMIT, 0.0, 60.0, limit=1.0, burst=1, retry_after=5)
    fake = FakeProvider(behaviour("telegram", timeline=(storm,)))
    with httpx.Client(transport=fake.transport()) as client:
        first = telegram_send(client, chat_id_for("telegram", 1))
        second = telegram_send(client, chat_id_for("telegram", 2))
    assert first.status_code == 200 and first.json()["ok"] is True
    assert first.json()["result"]["chat"]["id"] == 700000001
    assert second.status_code == 429
    assert second.headers["retry-after"] == "5"
    assert second.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }
    assert [m.chat_id for m in fake.accepted] == ["700000001"]


def test_telegram_fates_and_unknown_methods():
    fake = FakeProvider(behaviour("telegram", fates=Fates(blocked=1.0)))
    with httpx.Client(transport=fake.transport()) as client:
        blocked = telegram_send(client, chat_id_for("telegram", 3))
        unknown = client.post("https://api.telegram.org/bot123:abc/sendPigeon", json={})
    assert (blocked.status_code, blocked.json()["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, 404)
    assert fake.accepted == []


def test_outage_refused_and_timeout_are_transport_errors_in_process():
    clock = ManualClock()
    timeline = (
        Period(PeriodKind.OUTAGE, 10.0, 20.0, error=ErrorMode.REFUSED),
        Period(PeriodKind.OUTAGE, 20.0, 30.0, error=ErrorMode.TIMEOUT),
        Period(PeriodKind.OUTAGE, 30.0, 40.0, error=ErrorMode.SERVER_ERROR),
    )
    fake = FakeProvider(behaviour("telegram", timeline=timeline), clock=clock)
    with httpx.Client(transport=fake.transport()) as client:
        clock.advance(10)
        with pytest.raises(httpx.ConnectError):
            telegram_send(client, "700000001")
        clock.advance(10)
        with pytest.raises(httpx.ReadTimeout):
            telegram_send(client, "700000001")
        clock.advance(10)
        assert telegram_send(client, "700000001").status_code == 500
        clock.advance(10)
        assert telegram_send(client, "700000001").status_code == 200


def test_whatsapp_routes_by_version_and_phone_number_id_and_answers_graph_errors():
    fake = FakeProvider(behaviour("whatsapp"), window_closed=lambda index: index == 7)
    url = "https://graph.facebook.com/v21.0/1055/messages"
    text = {"messaging_product": "whatsapp", "to": chat_id_for("whatsapp", 7), "type": "text", "text": {"body": "hi"}}
    template = dict(text, type="template", template={"name": "reopen", "language": {"code": "en"}})
    del template["text"]
    with httpx.Client(transport=fake.transport(), headers={"authorization": "Bearer tok"}) as client:
        closed = client.post(url, json=text)
        reopened = client.post(url, json=template)
        wrong_path = client.post("https://graph.facebook.com/v21.0/1055/nope", json=text)
    assert closed.status_code == 400
    error = closed.json()["error"]
    assert (error["code"], error["type"], error["error_data"]["messaging_product"]) == (
        131047,
        "OAuthException",
        "whatsapp",
    )
    assert reopened.status_code == 200
    assert reopened.json()["messages"][0]["id"].startswith("wamid.")
    assert wrong_path.status_code == 400
    assert [(m.chat_id, m.content) for m in fake.accepted] == [("351900000007", "template:reopen")]


def test_wrong_token_is_the_providers_auth_failure():
    fake = FakeProvider(behaviour("viber"), token="right")
    body = {"receiver": chat_id_for("viber", 1), "type": "text", "text": "hi", "sender": {"name": "Shop"}}
    with httpx.Client(transport=fake.transport()) as client:
        wrong = client.post(
            "https://chatapi.viber.com/pa/send_message", json=body, headers={"x-viber-auth-token": "bad"}
        )
        right = client.post(
            "https://chatapi.viber.com/pa/send_message", json=body, headers={"x-viber-auth-token": "right"}
        )
    assert (wrong.status_code, wrong.json()) == (200, {"status": 2, "status_message": "invalidAuthToken"})
    assert right.json()["status"] == 0 and isinstance(right.json()["message_token"], int)


def test_viber_broadcast_lists_failed_receivers():
    fake = FakeProvider(behaviour("viber", fates=Fates(unregistered=0.5)))
    receivers = [chat_id_for("viber", i) for i in range(20)]
    body = {"broadcast_list": receivers, "type": "text", "text": "hi", "sender": {"name": "Shop"}}
    with httpx.Client(transport=fake.transport()) as client:
        reply = client.post("https://chatapi.viber.com/pa/broadcast_message", json=body).json()
    failed = {entry["receiver"] for entry in reply["failed_list"]}
    assert reply["status"] == 0 and 0 < len(failed) < 20
    assert {e["status"] for e in reply["failed_list"]} == {5}
    assert {m.chat_id for m in fake.accepted} == set(receivers) - failed


def test_instagram_window_and_accept():
    fake = FakeProvider(behaviour("instagram"), window_closed=lambda index: index == 2)
    url = "https://graph.facebook.com/v21.0/me/messages"
    with httpx.Client(transport=fake.transport()) as client:
        closed = client.post(
            url,
            params={"access_token": "t"},
            json={"recipient": {"id": chat_id_for("instagram", 2)}, "message": {"text": "x"}},
        )
        ok = client.post(
            url,
            params={"access_token": "t"},
            json={"recipient": {"id": chat_id_for("instagram", 3)}, "message": {"text": "x"}},
        )
    assert closed.status_code == 403
    assert (closed.json()["error"]["code"], closed.json()["error"]["error_subcode"]) == (10, 2534022)
    assert ok.json()["recipient_id"] == chat_id_for("instagram", 3)


def test_duplicates_are_detectable():
    fake = FakeProvider.healthy("telegram")
    with httpx.Client(transport=fake.transport()) as client:
        for chat in ("700000001", "700000002", "700000001"):
            telegram_send(client, chat)
    assert fake.duplicates() == {("700000001", "hi"): 2}


async def test_async_handler_waits_out_latency_on_trio_clock(autojump_clock):
    fake = FakeProvider(behaviour("telegram", latency=Latency(2.0, 2.0)), clock=trio.current_time)
    with trio.fail_after(30):
        async with httpx.AsyncClient(transport=fake.transport(wait=True)) as client:
            before = trio.current_time()
            reply = await client.post("https://api.telegram.org/bot1:x/sendMessage", json={"chat_id": 1, "text": "a"})
            assert reply.status_code == 200
            assert trio.current_time() - before == pytest.approx(2.0)


async def test_loopback_sandbox_serves_the_wire_format_over_http():
    fake = FakeProvider(behaviour("telegram", latency=Latency(0.001, 0.001), fates=Fates(blocked=1.0)))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            # port 0: hypercorn reports the address it bound, e.g. http://127.0.0.1:41234
            binds = await nursery.start(lambda task_status: serve_async(fake, port=0, task_status=task_status))
            async with httpx.AsyncClient() as client:
                reply = await client.post(
                    f"{binds[0]}/bot1:x/sendMessage", json={"chat_id": 700000004, "text": "hello"}
                )
            nursery.cancel_scope.cancel()
    assert reply.status_code == 403
    assert json.loads(reply.content)["description"] == "Forbidden: bot was blocked by the user"
    assert fake.requests == 1
