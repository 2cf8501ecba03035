"""``broadcaster rehearse``: small scenarios through the real store, plugins, service and
worker against the fake servers. The invariants are checked here from the store and the
fakes directly (the CSV export, the counters, the fakes' accepted lists), not from the
report's own checks."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tomllib
from collections import Counter

import pytest
from broadcaster_simulator.rehearse import build_rehearsal_report, prepare_store, rehearse
from broadcaster_simulator.scenario import parse_scenario
from click.testing import CliRunner

from broadcaster.cli import main
from broadcaster.core.errors import ConfigError
from broadcaster.core.outcomes import Outcome
from broadcaster.service import BroadcastService
from broadcaster.store import open_store

SMALL = """
[scenario]
name = "small mixed"
seed = 3

[audience]
size = 300
channels = { whatsapp = 0.5, telegram = 0.5 }
no_chat = 0.02
closed_window = 0.2
missing_field = 0.01

[broadcast]
text = "hi"
required_fields = ["first_name"]

[[broadcast.fallbacks]]
integration = "whatsapp"
template = "reopen"
params = ["first_name"]

[providers.whatsapp]
fates = { unregistered = 0.02, flaky = 0.3, flaky_failure = 0.5 }

[providers.telegram]
fates = { blocked = 0.02 }
failure_rate = 0.05

[retry]
until = "only_systemic"
max_retries = 4
delay = "1m"
"""

TEMPLATES = """
[scenario]
name = "template routes on WhatsApp"
seed = 5

[audience]
size = 200
channels = { wa = 0.7, vb = 0.3 }
opted_out = 0.05

[broadcast]
mode = "template"

[[broadcast.routes]]
integration = "wa"
template = "promo_lisbon"
params = ["first_name"]
when = 'city = "Lisbon"'

[[broadcast.routes]]
integration = "wa"
template = "promo"
params = ["first_name", "city"]

[providers.wa]
provider = "whatsapp"

[providers.vb]
provider = "viber"
"""

TEXT_ELSEWHERE = """
[scenario]
name = "a flow on Viber and Instagram"
seed = 7

[audience]
size = 200
channels = { vb = 0.5, ig = 0.5 }

[broadcast]
text = "hello"

[providers.vb]
provider = "viber"
fates = { blocked = 0.05 }

[providers.ig]
provider = "instagram"
failure_rate = 0.1

[retry]
until = "none_left"
max_retries = 1
"""


def scenario_from(text: str, name: str = "small.toml"):
    return parse_scenario(tomllib.loads(text), source=name)


def rows_of(store, broadcast_id: str) -> list[dict[str, str]]:
    out = io.StringIO()
    store.export_csv(broadcast_id, out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    scenario = scenario_from(SMALL)
    path = tmp_path_factory.mktemp("rehearsal") / "small.db"
    return scenario, rehearse(scenario, store_path=path)


def test_every_contact_has_exactly_one_row_and_counters_equal_rows(small):
    scenario, result = small
    store = open_store(result.store_path, create=False)
    try:
        assert store.count_contacts() == 300
        for broadcast_id in result.broadcast_ids:
            broadcast = store.get_broadcast(broadcast_id)
            rows = rows_of(store, broadcast_id)
            ids = [row["contact_id"] for row in rows]
            assert len(ids) == len(set(ids)) == broadcast.counters.audience_size_actual
            by_outcome = Counter(row["status"] for row in rows)
            counters = broadcast.counters
            assert (counters.delivered, counters.failed, counters.skipped) == (
                by_outcome["DELIVERED"],
                by_outcome["FAILED"],
                by_outcome["SKIPPED"],
            )
            stored = store.count_rows(broadcast_id)
            assert {o: stored.get(o, 0) for o in Outcome} == {o: by_outcome[o.value] for o in Outcome}
            assert store.pending(broadcast_id) == []
        first = rows_of(store, result.broadcast_ids[0])
        assert sorted(row["contact_id"] for row in first) == [f"c{i:08d}" for i in range(300)]
    finally:
        store.close()


def test_each_retry_targets_exactly_the_failed_contacts_of_its_source(small):
    scenario, result = small
    store = open_store(result.store_path, create=False)
    try:
        ids = result.broadcast_ids
        assert len(ids) >= 2, "the scenario's flaky contacts must make at least one retry"
        for source, retry in zip(ids, ids[1:], strict=False):
            failed = sorted(row["contact_id"] for row in rows_of(store, source) if row["status"] == "FAILED")
            target = store.get_broadcast(retry)
            assert target.retry_of == source
            assert sorted(target.audience.contact_ids or ()) == failed
            assert target.counters.audience_size_actual == len(failed)
        # the chain stopped for the policy's reason: only systemic failures left, or retries spent
        last = rows_of(store, ids[-1])
        transient = [row for row in last if row["status"] == "FAILED" and "service_unavailable" in row["error_reason"]]
        assert len(ids) == 5 or not transient
        assert [b.id for b in BroadcastService(store=store).lineage(ids[-1])] == list(ids)
    finally:
        store.close()


def test_no_message_was_accepted_twice_and_every_accept_is_a_delivered_row(small):
    scenario, result = small
    store = open_store(result.store_path, create=False)
    try:
        delivered = [row for bid in result.broadcast_ids for row in rows_of(store, bid) if row["status"] == "DELIVERED"]
    finally:
        store.close()
    accepted = [m for fake in result.fakes.values() for m in fake.accepted]
    assert Counter((m.chat_id, m.content) for m in accepted).most_common(1)[0][1] == 1
    assert len({m.chat_id for m in accepted}) == len(accepted) == len(delivered)
    fallback_rows = [row for row in delivered if row["used_fallback"] == "yes"]
    assert fallback_rows, "closed windows must have used the fallback template"
    assert sum(m.content == "template:reopen" for m in accepted) == len(fallback_rows)
    assert all(row["channel"] == "whatsapp" for row in fallback_rows)


def test_the_report_is_read_from_the_store(small):
    scenario, result = small
    report = build_rehearsal_report(result)
    assert report["lineage"] == list(result.broadcast_ids)
    assert all(report["checks"].values()), report["checks"]
    store = open_store(result.store_path, create=False)
    try:
        for attempt, broadcast_id in zip(report["attempts"], result.broadcast_ids, strict=True):
            counters = store.get_broadcast(broadcast_id).counters
            assert (attempt["delivered"], attempt["failed"], attempt["skipped"], attempt["targeted"]) == (
                counters.delivered,
                counters.failed,
                counters.skipped,
                counters.audience_size_actual,
            )
            assert attempt["used_fallback"] == store.count_used_fallback(broadcast_id)
            assert sum(attempt["error_reasons"].values()) <= attempt["failed"]
    finally:
        store.close()
    assert report["chain"]["delivered"] == sum(len(f.accepted) for f in result.fakes.values())
    assert {name: v["duplicates"] for name, v in report["fakes"].items()} == {"whatsapp": 0, "telegram": 0}


def test_template_routes_pick_the_template_by_the_contacts_city(tmp_path):
    scenario = scenario_from(TEMPLATES, "templates.toml")
    result = rehearse(scenario, store_path=tmp_path / "t.db")
    assert result.broadcast_ids == ("r1",)  # no [retry]: one attempt
    report = build_rehearsal_report(result)
    assert all(report["checks"].values()), report["checks"]
    (attempt,) = report["attempts"]
    store = open_store(result.store_path, create=False)
    try:
        rows = {row["contact_id"]: row for row in rows_of(store, "r1")}
        cities = {cid: store.get_contact(cid).fields["city"] for cid in rows}
    finally:
        store.close()
    assert len(rows) == attempt["targeted"] == 200
    by_chat = {m.chat_id: m.content for m in result.fakes["wa"].accepted}
    assert len(by_chat) == attempt["delivered"] > 0 and result.fakes["vb"].requests == 0
    assert attempt["statuses"]["channel_mismatch"] > 0
    for cid, row in rows.items():
        if row["channel"] == "vb":
            assert row["finer_status"] in ("channel_mismatch", "opted_out")
        elif row["status"] == "DELIVERED":
            chat = f"3519{int(cid[1:]):08d}"
            assert by_chat[chat] == ("template:promo_lisbon" if cities[cid] == "Lisbon" else "template:promo")


def test_a_text_flow_on_viber_and_instagram_retries_until_none_left_or_spent(tmp_path):
    scenario = scenario_from(TEXT_ELSEWHERE, "text.toml")
    result = rehearse(scenario, store_path=tmp_path / "x.db")
    report = build_rehearsal_report(result)
    assert all(report["checks"].values()), report["checks"]
    assert result.broadcast_ids == ("r1", "r2")  # max_retries = 1
    first, retry = report["attempts"]
    assert retry["targeted"] == first["failed"] > 0
    assert {m.content for fake in result.fakes.values() for m in fake.accepted} == {"hello"}
    assert report["chain"]["delivered"] == first["delivered"] + retry["delivered"]


def test_a_store_that_is_not_a_rehearsals_is_never_replaced(tmp_path):
    real = tmp_path / "broadcaster.db"
    store = open_store(real)
    store.close()
    conn = sqlite3.connect(real)
    conn.execute(
        "INSERT INTO integrations VALUES ('tg', ?)",
        (json.dumps({"name": "tg", "provider": "telegram", "settings": {"token": "x"}}),),
    )
    conn.commit()
    conn.close()
    before = real.read_bytes()
    with pytest.raises(ConfigError, match="is not a rehearsal's store"):
        prepare_store(real)
    assert real.read_bytes() == before
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ConfigError):
        prepare_store(text)
    assert text.read_text() == "hello"


def test_an_earlier_rehearsals_store_is_replaced(tmp_path):
    path = tmp_path / "again.db"
    scenario = scenario_from(TEXT_ELSEWHERE, "text.toml")
    first = rehearse(scenario, store_path=path)
    second = rehearse(scenario, store_path=path)
    assert first.broadcast_ids == second.broadcast_ids == ("r1", "r2")
    store = open_store(path, create=False)
    try:
        assert sorted(b.id for b in store.list_broadcasts()) == ["r1", "r2"]
        assert store.count_contacts() == 200
    finally:
        store.close()


# -- the command --------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_prints_the_store_and_the_counters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    result = run("rehearse", str(scenario))
    assert result.exit_code == 0, result.output
    default = tmp_path / "rehearsal.db"
    assert f"store: {default}" in result.stdout
    store = open_store(default, create=False)
    try:
        counters = store.get_broadcast("r1").counters
    finally:
        store.close()
    assert (
        f"delivered {counters.delivered:,}  failed {counters.failed:,}  skipped {counters.skipped:,}" in result.stdout
    )
    assert "Lineage: r1 -> r2" in result.stdout
    assert "FAILED" not in result.stdout.split("Checks:")[1]


def test_cli_json_with_seed_and_store(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    target = tmp_path / "elsewhere" / "r.db"
    result = run("rehearse", str(scenario), "--json", "--seed", "8", "--store", str(target))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["store"] == str(target) and target.exists()
    assert report["scenario"]["seed"] == 8 and report["scenario"]["file"] == "small.toml"
    assert list(report) == [
        "scenario",
        "store",
        "attempts",
        "lineage",
        "chain",
        "fakes",
        "checks",
        "timeline",
        "runtime_warnings",
        "wall_s",
    ]
    assert report["attempts"][0]["targeted"] == 300


def test_cli_bad_scenario_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[audience]\nsize = 'many'\n")
    result = run("rehearse", str(bad), "--store", str(tmp_path / "r.db"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "bad.toml: providers: is missing; expected a table" in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_cli_refuses_to_replace_a_real_store(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    other = tmp_path / "notes.db"
    other.write_text("not a database")
    result = run("rehearse", str(scenario), "--store", str(other))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "is not a rehearsal's store" in result.stderr
    assert other.read_text() == "not a database"
