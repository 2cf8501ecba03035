"""The simulator plays any installed provider that ships a fake: ntfy (an example
third-party plugin) rehearses an outage, and the precomputed fast-path tables of the
built-in providers are exactly what their plugins read from their fakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from broadcaster_simulator.fakes import FakeProvider
from broadcaster_simulator.fastpath import Codec, ResultTable
from broadcaster_simulator.specs import SIM_SPECS, chat_id_for, chat_index, fake_for, simulated_providers
from click.testing import CliRunner

from broadcaster.cli import main
from broadcaster.core.errors import PluginError
from broadcaster.fake import Verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUILT_IN = ("instagram", "telegram", "viber", "whatsapp")


def test_every_installed_provider_with_a_fake_is_simulated():
    assert ("instagram", "ntfy", "telegram", "viber", "whatsapp") == simulated_providers()
    assert ("ntfy", 0.2, 60) == (SIM_SPECS["ntfy"].provider, SIM_SPECS["ntfy"].rate_per_second, SIM_SPECS["ntfy"].burst)


@pytest.mark.parametrize("provider", simulated_providers())
def test_chat_ids_round_trip_through_each_fake(provider):
    for index in (0, 1, 12345, 99_999_999):
        assert index == chat_index(provider, chat_id_for(provider, index))
    assert chat_index(provider, "not-one-of-ours") >= 100_000_000


@pytest.mark.parametrize("provider", BUILT_IN)
def test_the_precomputed_tables_are_what_the_plugins_read_from_their_fakes(provider):
    table, codec = ResultTable(integration="i", provider=provider), Codec(provider, "i")
    verdicts = [Verdict.ACCEPTED, Verdict.SERVER_ERROR, Verdict.AUTH_FAILED, *table_verdicts(table)]
    for verdict in verdicts:
        assert table.result(verdict) == codec.result(verdict, None), f"{provider} {verdict.value}"
    hint = 7 if provider == "telegram" else None
    throttled = codec.result(Verdict.THROTTLED, hint)
    assert (table.throttled(hint).retry_after, table.throttled(hint).reason) == (
        throttled.retry_after,  # type: ignore[union-attr]
        throttled.reason,  # type: ignore[union-attr]
    )


def table_verdicts(table: ResultTable) -> list[Verdict]:
    per_contact = (Verdict.BLOCKED, Verdict.UNREGISTERED, Verdict.OPTED_OUT, Verdict.WINDOW_CLOSED)
    return [verdict for verdict in per_contact if verdict in table._fixed]


def test_a_derived_table_reads_ntfy_through_its_own_plugin():
    table = ResultTable(integration="nt", provider="ntfy")
    assert "ntfy:5xx:server_error" == str(table.result(Verdict.SERVER_ERROR).reason)  # type: ignore[union-attr]
    assert "nt:auth_failed" == str(table.result(Verdict.AUTH_FAILED).reason)  # type: ignore[union-attr]
    assert table.result(Verdict.ACCEPTED).confirmed  # type: ignore[union-attr]
    assert 3.0 == table.throttled(3).retry_after


def test_ntfy_fake_serves_its_wire_format():
    import httpx

    fake = FakeProvider.healthy("ntfy", token="tk_secret")
    with httpx.Client(transport=fake.transport(), base_url="https://ntfy.test") as client:
        ok = client.post(
            "/", json={"topic": chat_id_for("ntfy", 3), "message": "hi"}, headers={"authorization": "Bearer tk_secret"}
        )
        refused = client.post("/", json={"topic": "t", "message": "hi"}, headers={"authorization": "Bearer nope"})
        missing = client.post("/", json={"message": "hi"})
    assert 200 == ok.status_code and "sim-topic-00000003" == ok.json()["topic"]
    assert (401, 40101) == (refused.status_code, refused.json()["code"])
    assert (400, 40009) == (missing.status_code, missing.json()["code"])
    assert [m.chat_id for m in fake.accepted] == ["sim-topic-00000003"]


def test_a_provider_without_a_fake_is_refused_naming_those_that_have_one():
    with pytest.raises(PluginError, match="no plugin provides 'dc'"):
        fake_for("dc")


def test_an_ntfy_outage_rehearses_through_the_real_runtime(tmp_path):
    result = CliRunner().invoke(
        main,
        ["rehearse", str(EXAMPLES / "ntfy-outage.toml"), "--store", str(tmp_path / "r.db")],
        catch_exceptions=False,
    )
    assert 0 == result.exit_code, result.output
    out = result.stdout
    assert "Original broadcast r1: 200 targeted, COMPLETED" in out
    assert "delivered 164  failed 36  skipped 0" in out
    assert "ntfy:5xx:server_error    36" in out
    assert "Retry #1 r2 (retry of r1): 36 targeted, COMPLETED" in out
    assert "delivered 36  failed 0  skipped 0" in out


def test_an_ntfy_outage_simulates_the_same_outcome():
    result = CliRunner().invoke(
        main, ["simulate", str(EXAMPLES / "ntfy-outage.toml"), "--no-plot"], catch_exceptions=False
    )
    assert 0 == result.exit_code
    assert "reached over the chain: 200 of 200 (100.00%); still failed: 0 (0 systemic)" in result.stdout
