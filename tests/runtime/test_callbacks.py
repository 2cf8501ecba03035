"""The delivery-callback ASGI app: in process through httpx.ASGITransport, and over loopback."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from typing import Any, Mapping, Sequence

import httpx
import pytest
import trio

from broadcaster.core.channels import ChannelSpec
from broadcaster.core.errors import ConfigError, NotFound
from broadcaster.core.models import Integration
from broadcaster.core.outcomes import ErrorKind
from broadcaster.core.reasons import ErrorReason
from broadcaster.core.results import DeliveryUpdate
from broadcaster.plugin import Provider
from broadcaster.plugins import ProviderRegistry, make_plugin_manager
from broadcaster.runtime.callbacks import CallbackApp, serve_callbacks

SECRET = "fake-app-secret"
FAKE = Integration("fake-main", "fakeprov", {"secret": SECRET, "verify_token": "let-me-in"})
UNSIGNED = Integration("nosig-main", "nosig", {})
BROKEN = Integration("fake-nosecret", "fakeprov", {})
BUGGY = Integration("fake-buggy", "fakeprov", {"secret": "explode"})
INTEGRATIONS = {i.name: i for i in (FAKE, UNSIGNED, BROKEN, BUGGY)}


def sign(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Fake-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


class FakeProvider(Provider):
    """Signs with HMAC-SHA256 of the raw body; body = {"statuses": [{"id", "status", "at", "error"?}]}."""

    @property
    def spec(self) -> ChannelSpec:
        return ChannelSpec(provider="fakeprov")

    def build_call(self, integration, chat_id, message):
        raise NotImplementedError("callbacks only")

    def interpret_reply(self, integration, call, reply):
        raise NotImplementedError("callbacks only")

    def verify_callback(self, integration: Integration, headers: Mapping[str, str], body: bytes) -> bool | None:
        secret = integration.settings.get("secret")
        if not secret:
            raise ConfigError(f"integration {integration.name!r} has no 'secret' setting")
        if secret == "explode":
            raise RuntimeError("a bug in the plugin's verifier")
        given = headers.get("x-fake-signature", "")
        return hmac.compare_digest(given.encode(), sign(body, secret)["X-Fake-Signature"].encode())

    def parse_callback(
        self, integration: Integration, headers: Mapping[str, str], body: bytes
    ) -> Sequence[DeliveryUpdate] | None:
        try:
            statuses = json.loads(body)["statuses"]
            return [
                DeliveryUpdate(
                    message_id=s["id"],
                    status=s["status"],
                    at=float(s["at"]),
                    reason=ErrorReason.parse(s["error"]) if "error" in s else None,
                    kind=ErrorKind.PERMANENT_CONTACT if "error" in s else None,
                )
                for s in statuses
            ]
        except (ValueError, KeyError, TypeError):
            return []


class NoCallbacksProvider(Provider):
    @property
    def spec(self) -> ChannelSpec:
        return ChannelSpec(provider="nosig")

    def build_call(self, integration, chat_id, message):
        raise NotImplementedError("callbacks only")

    def interpret_reply(self, integration, call, reply):
        raise NotImplementedError("callbacks only")


class FakeRows:
    """The store's rule in miniature: rows only move forward; anything else is a no-op."""

    ORDER = {"accepted": 0, "delivered": 1, "failed": 1}

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {("fake-main", "m1"): "accepted", ("fake-main", "m2"): "accepted"}
        self.calls: list[tuple[str, DeliveryUpdate]] = []
        self.fail = False

    def apply(self, integration: str, update: DeliveryUpdate) -> bool:
        self.calls.append((integration, update))
        if self.fail:
            raise OSError("database is locked")
        key = (integration, update.message_id)
        if self.rows.get(key) != "accepted" or update.status == "sent":
            return False
        self.rows[key] = "delivered" if update.status in ("delivered", "read") else "failed"
        return True


def lookup(name: str) -> Integration | None:
    if name == "raises":
        raise NotFound("no integration named 'raises'")
    return INTEGRATIONS.get(name)


REGISTRY = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[FakeProvider(), NoCallbacksProvider()]))


def body_of(*statuses: dict[str, Any]) -> bytes:
    return json.dumps({"statuses": list(statuses)}).encode()


@pytest.fixture
def rows() -> FakeRows:
    return FakeRows()


@pytest.fixture
def client(rows: FakeRows) -> httpx.AsyncClient:
    app = CallbackApp(registry=REGISTRY, lookup=lookup, apply=rows.apply)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://callbacks.test")


async def post(client: httpx.AsyncClient, path: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    with trio.fail_after(5):
        return await client.post(path, content=body, headers=dict(headers))


async def test_signed_callback_applies_each_update(
    client: httpx.AsyncClient, rows: FakeRows, autojump_clock: trio.abc.Clock
) -> None:
    body = body_of(
        {"id": "m1", "status": "delivered", "at": 10},
        {"id": "m2", "status": "failed", "at": 11, "error": "fakeprov:131047:re_engagement_message_required"},
    )
    response = await post(client, "/callbacks/fake-main", body, sign(body))
    assert (response.status_code, response.json()) == (200, {"applied": 2, "ignored": 0})
    assert rows.rows == {("fake-main", "m1"): "delivered", ("fake-main", "m2"): "failed"}
    assert [(name, u.message_id, u.status) for name, u in rows.calls] == [
        ("fake-main", "m1", "delivered"),
        ("fake-main", "m2", "failed"),
    ]


async def test_duplicates_and_out_of_order_updates_are_harmless(
    client: httpx.AsyncClient, rows: FakeRows, autojump_clock: trio.abc.Clock
) -> None:
    read_first = body_of({"id": "m1", "status": "read", "at": 12})
    late_delivered = body_of(
        {"id": "m1", "status": "delivered", "at": 10}, {"id": "unknown", "status": "read", "at": 1}
    )
    first = await post(client, "/callbacks/fake-main", read_first, sign(read_first))
    again = await post(client, "/callbacks/fake-main", read_first, sign(read_first))
    late = await post(client, "/callbacks/fake-main", late_delivered, sign(late_delivered))
    assert [r.json() for r in (first, again, late)] == [
        {"applied": 1, "ignored": 0},
        {"applied": 0, "ignored": 1},
        {"applied": 0, "ignored": 2},
    ]
    assert rows.rows[("fake-main", "m1")] == "delivered"


@pytest.mark.parametrize(
    "headers",
    [{}, sign(b"another body"), sign(body_of({"id": "m1", "status": "delivered", "at": 1}), "wrong-secret")],
    ids=["unsigned", "signature-of-other-body", "wrong-secret"],
)
async def test_bad_signature_is_403_and_applies_nothing(
    client: httpx.AsyncClient, rows: FakeRows, headers: dict[str, str], autojump_clock: trio.abc.Clock
) -> None:
    body = body_of({"id": "m1", "status": "delivered", "at": 1})
    response = await post(client, "/callbacks/fake-main", body, headers)
    assert (response.status_code, response.json()) == (403, {"error": "signature missing or wrong"})
    assert rows.calls == []


@pytest.mark.parametrize("body", [b"", b"not json", b'{"statuses": 3}', b"\xff\xfe", b'{"statuses": [{"id": 1}]}'])
async def test_authentic_garbage_is_200_with_nothing_applied(
    client: httpx.AsyncClient, rows: FakeRows, body: bytes, autojump_clock: trio.abc.Clock
) -> None:
    response = await post(client, "/callbacks/fake-main", body, sign(body))
    assert (response.status_code, response.json()) == (200, {"applied": 0, "ignored": 0})
    assert rows.calls == []


@pytest.mark.parametrize(
    "path", ["/callbacks/nobody", "/callbacks/raises", "/callbacks/", "/elsewhere", "/callbacks/a/b"]
)
async def test_unknown_integration_or_path_is_404(
    client: httpx.AsyncClient, path: str, autojump_clock: trio.abc.Clock
) -> None:
    response = await post(client, path, b"{}", {})
    assert response.status_code == 404


async def test_provider_without_callback_hooks_is_404(
    client: httpx.AsyncClient, autojump_clock: trio.abc.Clock
) -> None:
    response = await post(client, "/callbacks/nosig-main", b"{}", {})
    assert response.json() == {"error": "integration 'nosig-main' does not take delivery callbacks"}
    assert response.status_code == 404


async def test_misconfigured_integration_is_500_so_the_provider_retries(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    response = await post(client, "/callbacks/fake-nosecret", b"{}", {})
    assert response.status_code == 500
    assert "has no 'secret' setting" in caplog.text


async def test_a_verifier_that_raises_is_500_with_nothing_applied(
    client: httpx.AsyncClient, rows: FakeRows, caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    body = body_of({"id": "m1", "status": "delivered", "at": 10})
    response = await post(client, "/callbacks/fake-buggy", body, sign(body))
    assert (response.status_code, response.json()) == (500, {"error": "the callback could not be verified"})
    assert rows.calls == []
    assert "the plugin failed to verify a callback" in caplog.text and "RuntimeError" in caplog.text


async def test_store_failure_is_500_so_the_provider_retries(
    client: httpx.AsyncClient, rows: FakeRows, autojump_clock: trio.abc.Clock
) -> None:
    rows.fail = True
    body = body_of({"id": "m1", "status": "delivered", "at": 10})
    response = await post(client, "/callbacks/fake-main", body, sign(body))
    assert response.status_code == 500
    rows.fail = False
    retried = await post(client, "/callbacks/fake-main", body, sign(body))
    assert retried.json() == {"applied": 1, "ignored": 0}


async def test_oversized_body_is_413(rows: FakeRows, autojump_clock: trio.abc.Clock) -> None:
    app = CallbackApp(registry=REGISTRY, lookup=lookup, apply=rows.apply, max_body=100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as small:
        body = b"x" * 101
        response = await post(small, "/callbacks/fake-main", body, sign(body))
    assert response.status_code == 413
    assert rows.calls == []


async def test_other_methods_are_405(client: httpx.AsyncClient, autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(5):
        response = await client.put("/callbacks/fake-main", content=b"{}")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


async def test_async_lookup_and_apply_are_awaited(autojump_clock: trio.abc.Clock) -> None:
    applied: list[str] = []

    async def lookup_async(name: str) -> Integration | None:
        await trio.sleep(0.01)
        return INTEGRATIONS.get(name)

    async def apply_async(integration: str, update: DeliveryUpdate) -> bool:
        await trio.sleep(0.01)
        applied.append(update.message_id)
        return True

    app = CallbackApp(registry=REGISTRY, lookup=lookup_async, apply=apply_async)
    body = body_of({"id": "m9", "status": "delivered", "at": 1})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await post(c, "/callbacks/fake-main", body, sign(body))
    assert (response.status_code, applied) == (200, ["m9"])


# -- Meta's subscription handshake -------------------------------------------------------


async def test_handshake_echoes_the_challenge(client: httpx.AsyncClient, autojump_clock: trio.abc.Clock) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1158201444"}
    with trio.fail_after(5):
        response = await client.get("/callbacks/fake-main", params=params)
    assert (response.status_code, response.text) == (200, "1158201444")


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/callbacks/fake-main", {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, 403),
        ("/callbacks/fake-main", {"hub.mode": "subscribe", "hub.challenge": "1"}, 403),
        ("/callbacks/nosig-main", {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, 403),
        ("/callbacks/fake-main", {"hub.verify_token": "let-me-in", "hub.challenge": "1"}, 400),
        ("/callbacks/nobody", {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1"}, 404),
    ],
    ids=["wrong-token", "no-token", "integration-without-token", "no-mode", "unknown-integration"],
)
async def test_handshake_refusals(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(5):
        response = await client.get(path, params=params)
    assert response.status_code == status
    assert "1" != response.text


# -- the real WhatsApp plugin ------------------------------------------------------------


async def test_real_whatsapp_status_webhook(rows: FakeRows, autojump_clock: trio.abc.Clock) -> None:
    import broadcaster_whatsapp

    whatsapp = Integration(
        "wa-main", "whatsapp", {"token": "EAAG-token", "phone_number_id": "1065", "app_secret": SECRET}
    )
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[broadcaster_whatsapp]))
    rows.rows[("wa-main", "wamid.ABC")] = "accepted"
    rows.rows[("wa-main", "wamid.DEF")] = "accepted"
    app = CallbackApp(registry=registry, lookup={"wa-main": whatsapp}.get, apply=rows.apply)
    statuses = [
        {"id": "wamid.ABC", "status": "delivered", "timestamp": "1700000000", "recipient_id": "1650"},
        {
            "id": "wamid.DEF",
            "status": "failed",
            "timestamp": "1700000001",
            "recipient_id": "1651",
            "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}],
        },
    ]
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1065"}, "statuses": statuses}
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}],
        },
        ensure_ascii=False,
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        forged = await post(c, "/callbacks/wa-main", body, {"X-Hub-Signature-256": "sha256=" + "0" * 64})
        response = await post(c, "/callbacks/wa-main", body, {"X-Hub-Signature-256": signature})
    assert forged.status_code == 403
    assert (response.status_code, response.json()) == (200, {"applied": 2, "ignored": 0})
    assert rows.rows[("wa-main", "wamid.ABC")] == "delivered"
    assert rows.rows[("wa-main", "wamid.DEF")] == "failed"
    failed = rows.calls[-1][1]
    assert (failed.at, str(failed.reason).split(":")[:2]) == (1700000001.0, ["whatsapp", "131047"])


# -- over a real loopback socket (no autojump_clock: the kernel does real work) -----------


async def test_served_by_hypercorn_over_loopback(rows: FakeRows, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = CallbackApp(registry=REGISTRY, lookup=lookup, apply=rows.apply)
    body = body_of({"id": "m1", "status": "delivered", "at": 10})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(functools.partial(serve_callbacks, app, host="127.0.0.1", port=0))
            base = next(url for url in urls if url.startswith("http://"))
            async with httpx.AsyncClient(base_url=base) as c:
                response = await c.post("/callbacks/fake-main", content=body, headers=sign(body))
                forged = await c.post("/callbacks/fake-main", content=body, headers=sign(body, "nope"))
            nursery.cancel_scope.cancel()
    assert (response.status_code, response.json()) == (200, {"applied": 1, "ignored": 0})
    assert forged.status_code == 403
    assert rows.rows[("fake-main", "m1")] == "delivered"


# -- wired to the real SQLite store -------------------------------------------------------


async def test_for_store_applies_to_real_rows_and_moves_counters(tmp_path: Any) -> None:
    # no autojump_clock: the store runs in a worker thread
    import broadcaster_whatsapp

    from broadcaster.core.models import DispatchRow
    from broadcaster.core.outcomes import Status
    from broadcaster.store.sqlite import open_store

    store = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    store.put_integration(
        Integration("wa", "whatsapp", {"token": "EAAG-token", "phone_number_id": "1065", "app_secret": SECRET})
    )
    from broadcaster.core.models import Broadcast

    store.create_broadcast(Broadcast(id="b"))
    store.record(
        [
            DispatchRow("b", cid, Status.ACCEPTED, integration="wa", message_id=mid, sent_at=1.0, recorded_at=1.0)
            for cid, mid in (("c1", "wamid.1"), ("c2", "wamid.2"))
        ]
    )
    registry = ProviderRegistry(make_plugin_manager(autoload=False, plugins=[broadcaster_whatsapp]))
    app = CallbackApp.for_store(store, registry)
    statuses = [
        {"id": "wamid.1", "status": "delivered", "timestamp": "1700000000"},
        {"id": "wamid.2", "status": "failed", "timestamp": "1700000001", "errors": [{"code": 131047, "title": "x"}]},
        {"id": "wamid.1", "status": "read", "timestamp": "1700000002"},
    ]
    body = json.dumps({"entry": [{"changes": [{"field": "messages", "value": {"statuses": statuses}}]}]}).encode()
    signature = {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        first = await post(c, "/callbacks/wa", body, signature)
        replay = await post(c, "/callbacks/wa", body, signature)
        unknown = await post(c, "/callbacks/nope", body, signature)
    assert (first.status_code, first.json()) == (200, {"applied": 2, "ignored": 1})
    assert (replay.status_code, replay.json()) == (200, {"applied": 0, "ignored": 3})
    assert unknown.status_code == 404
    counters = store.get_broadcast("b").counters
    assert (counters.delivered, counters.failed) == (1, 1)
    store.close()
