"""The discrete-event driver: accounting invariants, each failure model's effect on the
rows, the retry chain, and byte-identical reports for one seed."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from broadcaster_simulator.audience import AudienceGenerator, contact_id
from broadcaster_simulator.driver import simulate
from broadcaster_simulator.report import build_report, render_json, render_text
from broadcaster_simulator.scenario import load_scenario, parse_scenario
from broadcaster_simulator.specs import SIM_SPECS

from broadcaster.core.outcomes import Status

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def scenario(extra_providers: str = "", **sections: str):
    import tomllib

    text = f"""
[scenario]
seed = 5
[audience]
size = {sections.get("size", "2000")}
channels = {sections.get("channels", "{ tg = 1.0 }")}
{sections.get("audience", "")}
[broadcast]
text = "hi"
{sections.get("broadcast", "")}
[providers.tg]
provider = "telegram"
latency = 0.1
{sections.get("tg", "")}
{extra_providers}
{sections.get("retry", "")}
"""
    return parse_scenario(tomllib.loads(text), source="test.toml")


def check_accounting(result):
    for tally in result.attempts:
        assert tally.targeted == tally.delivered + tally.failed + tally.skipped
        assert tally.targeted == sum(tally.statuses.values())


def test_healthy_run_delivers_everyone_at_the_paced_rate():
    result = simulate(scenario())
    (run,) = result.attempts
    assert (run.targeted, run.delivered, run.failed, run.skipped) == (2000, 2000, 0, 0)
    assert run.statuses == {Status.DELIVERED: 2000}
    # 30/s, warming up as a real run does: one token and no burst saved up for 0.5 s, at
    # 30/s from the first send; plus the last reply's 0.1 s
    assert run.duration == pytest.approx((2000 - 1) / 30 + 0.1, abs=0.05)
    assert run.requests == 2000 and sum(result.timeline.sends) == 2000


def test_audience_shares_become_skips():
    result = simulate(
        scenario(
            audience="no_chat = 0.1\nopted_out = 0.05\nmissing_field = 0.05",
            broadcast='required_fields = ["first_name"]',
        )
    )
    run = result.original
    check_accounting(result)
    assert set(run.statuses) == {
        Status.DELIVERED,
        Status.NO_REACHABLE_CHANNEL,
        Status.OPTED_OUT,
        Status.MISSING_REQUIRED_FIELD,
    }
    assert 150 < run.statuses[Status.NO_REACHABLE_CHANNEL] < 250
    assert run.failed == 0


def test_contact_traits_are_a_pure_function_of_seed_and_index():
    spec = scenario(
        audience="no_chat = 0.2\nclosed_window = 0.5",
        channels="{ tg = 0.5, wa = 0.5 }",
        extra_providers='[providers.wa]\nprovider = "whatsapp"',
    )
    providers = {name: b.provider for name, b in spec.providers.items()}
    one = AudienceGenerator(spec.audience, key=42, start=0.0, providers=providers, specs=SIM_SPECS)
    two = AudienceGenerator(spec.audience, key=42, start=0.0, providers=providers, specs=SIM_SPECS)
    forward = [one.contact(i) for i in range(300)]
    backward = [two.contact(i) for i in reversed(range(300))][::-1]
    assert forward == backward
    page = one.page(contact_id(99), 50, ids=[contact_id(i) for i in range(0, 300, 3)])
    assert [c.id for c in page.contacts] == [contact_id(i) for i in range(102, 300, 3)][:50]
    assert page.exhausted is False


def test_outage_modes_5xx_refused_timeout():
    tg = """
[[providers.tg.timeline]]
kind = "outage"
at = "10s"
for = "10s"
error = "5xx"
[[providers.tg.timeline]]
kind = "outage"
at = "20s"
for = "5s"
error = "timeout"
[[providers.tg.timeline]]
kind = "outage"
at = "25s"
for = "10s"
error = "refused"
"""
    result = simulate(scenario(tg=tg, size="3000"))
    run = result.original
    check_accounting(result)
    reasons = {str(r): n for r, n in run.reasons.items()}
    # 10 s at 30/s of 5xx; 5 s of timeouts (unknown outcome, never resent); refused sends are retried in the run
    assert 250 <= reasons["telegram:5xx:server_error"] <= 350
    # each timed-out request holds its slot for the 10 s timeout: the 50 in flight is all that leaves
    assert reasons["telegram:timeout"] == 50
    assert run.statuses[Status.OUTCOME_UNKNOWN] == reasons["telegram:timeout"]
    assert "telegram:connection_refused" not in reasons
    assert run.rate_limit_retries > 0
    assert run.failed == run.failed_retryable


def test_429_storm_backs_off_inside_the_run_then_exhausts_budgets():
    tg = '[[providers.tg.timeline]]\nkind = "rate_limit"\nat = "5s"\nfor = "2m"\nlimit = 1\nretry_after = 5'
    result = simulate(scenario(tg=tg, broadcast="backoff = { budget = 2 }"))
    run = result.original
    check_accounting(result)
    assert run.answers[next(v for v in run.answers if v.value == "throttled")] > 0
    assert run.rate_limit_retries > 0
    assert run.statuses[Status.RATE_LIMIT_EXHAUSTED] > 0
    assert {str(r) for r in run.reasons} == {"telegram:rate_limit_exhausted"}


def test_auth_failure_marks_the_integration_broken():
    tg = '[[providers.tg.timeline]]\nkind = "auth_failed"\nat = "20s"'
    run = simulate(scenario(tg=tg)).original
    assert {str(r) for r in run.reasons} == {"tg:auth_failed"}
    # about 20 s worth were delivered, then everything else failed — mostly without a request
    assert 500 < run.delivered < 700
    assert run.failed == 2000 - run.delivered
    assert run.requests < run.delivered + 100


def test_closed_windows_fail_131047_without_fallback_and_use_it_with_one():
    common = dict(
        channels="{ wa = 1.0 }",
        audience="closed_window = 0.3",
        extra_providers='[providers.wa]\nprovider = "whatsapp"\nlatency = 0.1',
    )
    without = simulate(scenario(**common)).original
    reasons = {str(r): n for r, n in without.reasons.items()}
    assert set(reasons) == {"whatsapp:131047:re_engagement_message_required"}
    assert 500 < reasons["whatsapp:131047:re_engagement_message_required"] < 700
    assert without.failed_retryable == 0
    fallback = '[[broadcast.fallbacks]]\nintegration = "wa"\ntemplate = "reopen"'
    with_fallback = simulate(scenario(broadcast=fallback, **common)).original
    assert with_fallback.failed == 0
    assert with_fallback.fallbacks_delivered == reasons["whatsapp:131047:re_engagement_message_required"]


def test_retry_chain_targets_failed_contacts_until_only_systemic_remain():
    result = simulate(load_scenario(EXAMPLES / "retry-chain.toml"))
    chain = [(t.targeted, t.delivered, t.failed) for t in result.attempts]
    assert chain == [(10_000, 9_796, 204), (204, 186, 18), (18, 16, 2), (2, 1, 1)]
    last = result.attempts[-1]
    assert last.failed_retryable == 0 and {str(r) for r in last.reasons} == {"telegram:403:blocked_by_user"}
    assert [t.broadcast_id for t in result.attempts] == ["sim-1", "sim-2", "sim-3", "sim-4"]
    for before, after in zip(result.attempts, result.attempts[1:], strict=False):
        assert after.started_at == pytest.approx(before.finished_at + 120.0)


def test_retry_stops_at_max_retries_and_none_left_policy_redrives_systemic_failures():
    base = scenario(tg="fates = { blocked = 0.05 }", retry='[retry]\nuntil = "none_left"\nmax_retries = 2')
    result = simulate(base)
    assert [t.targeted for t in result.attempts][1:] == [result.original.failed] * 2
    only = attrs.evolve(base, retry=attrs.evolve(base.retry, until=type(base.retry.until)("only_systemic")))
    assert len(simulate(only).attempts) == 1


def test_same_seed_same_bytes_other_seed_other_bytes():
    spec = load_scenario(EXAMPLES / "outage-mid-run.toml")
    first = build_report(simulate(spec))
    second = build_report(simulate(spec))
    assert render_text(first) == render_text(second)
    assert render_json(first) == render_json(second)
    other = build_report(simulate(spec, seed=spec.seed + 1))
    assert render_json(other) != render_json(first)


def test_report_shape():
    report = build_report(simulate(load_scenario(EXAMPLES / "outage-mid-run.toml")))
    first = report["attempts"][0]
    assert first["targeted"] == first["delivered"] + first["failed"] + first["skipped"] == 10_000
    assert list(first["error_reasons"].values()) == sorted(first["error_reasons"].values(), reverse=True)
    assert report["retry_chain"][0] == {
        key: first[key] for key in ("attempt", "broadcast", "targeted", "delivered", "failed", "skipped")
    }
    timeline = report["timeline"]
    assert timeline["cumulative_delivered"][-1] == report["chain"]["delivered"]
    assert sum(timeline["failed"]) == sum(a["failed"] for a in report["attempts"])
    assert first["error_reasons"]["whatsapp:131016:service_unavailable"] > 1000
