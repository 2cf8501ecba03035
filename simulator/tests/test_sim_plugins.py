"""The real plugins against the fake servers: ``build_call`` -> fake (MockTransport) ->
``interpret_reply`` gives, for every verdict, exactly the result the fast path feeds the
dispatcher. Skipped for a plugin that is not installed."""

from __future__ import annotations

import importlib.util

import httpx
import pytest
from broadcaster_simulator.failures import Verdict
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.fastpath import ResultTable
from broadcaster_simulator.model import Fates, Latency, Period, PeriodKind, ProviderBehaviour
from broadcaster_simulator.specs import SIM_SPECS, chat_id_for

from broadcaster.core.http import HttpReply
from broadcaster.core.models import Integration, TemplateMessage, TextMessage
from broadcaster.plugins import ProviderRegistry, make_plugin_manager

SETTINGS = {
    "telegram": {"token": "123:abc"},
    "whatsapp": {"token": "wa-token", "phone_number_id": "1055"},
    "instagram": {"access_token": "ig-token"},
    "viber": {"auth_token": "vb-token", "sender_name": "Shop"},
}
BASE = {"viber": "https://chatapi.viber.com/pa"}
PROVIDERS = [p for p in SETTINGS if importlib.util.find_spec(f"broadcaster_{p}") is not None]

#: the failure model that makes the fake answer each verdict for contact 1
FATES = {
    Verdict.BLOCKED: Fates(blocked=1.0),
    Verdict.UNREGISTERED: Fates(unregistered=1.0),
    Verdict.OPTED_OUT: Fates(opted_out=1.0),
}
PERIODS = {
    Verdict.SERVER_ERROR: Period(PeriodKind.OUTAGE, 0.0),
    Verdict.AUTH_FAILED: Period(PeriodKind.AUTH_FAILED, 0.0),
}


@pytest.fixture(scope="module")
def registry() -> ProviderRegistry:
    return ProviderRegistry(make_plugin_manager(environ={}))


def verdicts(provider: str) -> list[Verdict]:
    out = [Verdict.ACCEPTED, Verdict.THROTTLED, *PERIODS, *FATES]
    if SIM_SPECS[provider].window_seconds is not None:
        out.append(Verdict.WINDOW_CLOSED)
    return out


def fake_answering(provider: str, verdict: Verdict) -> FakeProvider:
    timeline: tuple[Period, ...] = ()
    limit, burst = 1000.0, 1000
    if verdict in PERIODS:
        timeline = (PERIODS[verdict],)
    if verdict is Verdict.THROTTLED:
        timeline = (Period(PeriodKind.RATE_LIMIT, 0.0, limit=0.001, burst=1, retry_after=7),)
    behaviour = ProviderBehaviour(
        provider,
        provider,
        limit=limit,
        burst=burst,
        latency=Latency(0.01, 0.01),
        fates=FATES.get(verdict, Fates()),
        timeline=timeline,
    )
    return FakeProvider(behaviour, window_closed=lambda index: verdict is Verdict.WINDOW_CLOSED)


def comparable(result):
    return (
        type(result).__name__,
        str(getattr(result, "reason", None)),
        getattr(result, "kind", None),
        getattr(result, "retry_after", None),
        getattr(result, "scope", None),
        getattr(result, "confirmed", None),
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_plugin_reads_every_fake_answer_as_the_fast_path_does(registry, provider):
    integration = Integration(
        provider, provider, {**SETTINGS[provider], "base_url": BASE.get(provider, "https://sandbox.test")}
    )
    table = ResultTable(integration=provider, provider=provider)
    seen = []
    for verdict in verdicts(provider):
        fake = fake_answering(provider, verdict)
        call = registry.build_call(integration=integration, chat_id=chat_id_for(provider, 1), message=TextMessage("hi"))
        with httpx.Client(transport=fake.transport()) as client:
            if verdict is Verdict.THROTTLED:  # the first request takes the only token
                client.request(call.method, call.url, headers=dict(call.headers), json=call.json)
            response = client.request(call.method, call.url, headers=dict(call.headers), json=call.json)
        assert fake.answers[verdict] == 1, f"{provider}: the fake did not answer {verdict}"
        reply = HttpReply(response.status_code, response.headers.items(), response.content)
        result = registry.interpret_reply(integration=integration, call=call, reply=reply)
        expected = table.result(verdict, 7)
        assert comparable(expected) == comparable(result), f"{provider} {verdict.value}"
        seen.append(verdict)
    assert len(seen) == len(verdicts(provider))


def test_whatsapp_plugin_template_is_accepted_even_with_a_closed_window(registry):
    if "whatsapp" not in PROVIDERS:
        pytest.skip("broadcaster-whatsapp is not installed")
    integration = Integration("wa", "whatsapp", {**SETTINGS["whatsapp"], "base_url": "https://sandbox.test"})
    fake = fake_answering("whatsapp", Verdict.WINDOW_CLOSED)
    call = registry.build_call(
        integration=integration, chat_id=chat_id_for("whatsapp", 1), message=TemplateMessage("reopen", "en", ("Ana",))
    )
    with httpx.Client(transport=fake.transport()) as client:
        response = client.request(call.method, call.url, headers=dict(call.headers), json=call.json)
    result = registry.interpret_reply(
        integration=integration,
        call=call,
        reply=HttpReply(response.status_code, response.headers.items(), response.content),
    )
    assert type(result).__name__ == "Delivered" and result.message_id.startswith("wamid.")
    assert [m.content for m in fake.accepted] == ["template:reopen"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_simulated_channel_specs_match_the_plugins(registry, provider):
    real, simulated = registry.spec(provider), SIM_SPECS[provider]
    fields = (
        "kinds",
        "window_seconds",
        "confirmation",
        "rate_per_second",
        "burst",
        "max_batch",
        "window_closed_errors",
    )
    assert {f: getattr(real, f) for f in fields} == {f: getattr(simulated, f) for f in fields}


def test_plugin_reads_every_fake_broadcast_answer_as_the_driver_does(registry):
    """Viber's broadcast_message: request-level answers (outage, revoked token, request
    rate) reach every recipient; per-recipient fates come back through failed_list."""
    if "viber" not in PROVIDERS:
        pytest.skip("broadcaster-viber is not installed")
    integration = Integration("viber", "viber", {**SETTINGS["viber"], "base_url": BASE.get("viber", "https://x.test")})
    table = ResultTable(integration="viber", provider="viber")
    pairs = [(f"c{i}", chat_id_for("viber", i)) for i in (1, 2, 3)]
    for verdict in verdicts("viber"):
        fake = fake_answering("viber", verdict)
        call = registry.build_batch_call(integration=integration, recipients=pairs, message=TextMessage("hi"))
        assert call is not None
        with httpx.Client(transport=fake.transport()) as client:
            if verdict is Verdict.THROTTLED:  # the first request takes the only token
                client.request(call.method, call.url, headers=dict(call.headers), json=call.json)
            before = len(fake.accepted)
            response = client.request(call.method, call.url, headers=dict(call.headers), json=call.json)
        reply = HttpReply(response.status_code, response.headers.items(), response.content)
        results = registry.interpret_batch_reply(integration=integration, call=call, reply=reply)
        request_level = verdict in (Verdict.THROTTLED, *PERIODS)
        expected = table.request_result(verdict, 7) if request_level else table.result(verdict)
        assert {contact: comparable(r) for contact, r in results.items()} == {
            contact: comparable(expected) for contact, _ in pairs
        }, verdict.value
        accepted = {m.chat_id for m in fake.accepted[before:]}
        assert accepted == ({chat for _, chat in pairs} if verdict is Verdict.ACCEPTED else set())
