"""plugins, integrations, flows, templates, contacts: happy paths and every refusal."""

from __future__ import annotations

import json
import time

from broadcaster.core.health import HealthStatus
from broadcaster.core.models import Chat, Contact
from broadcaster.store.base import IntegrationHealth


def test_every_command_has_help_with_an_example(cli):
    from broadcaster.cli import main

    def walk(group, path):
        for name, command in group.commands.items():
            if name in ("simulate", "sandbox"):
                continue
            yield [*path, name], command
            if hasattr(command, "commands"):
                yield from walk(command, [*path, name])

    for path, _ in walk(main, []):
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.output, path
        assert "broadcaster " in result.output, path


def test_plugins_lists_installed_providers_with_distribution_and_capabilities(cli):
    data = json.loads(cli("plugins", "--json").output)
    telegram = next(p for p in data if p["provider"] == "telegram")
    assert telegram["distribution"] == "broadcaster-telegram"
    assert telegram["version"]
    assert telegram["capabilities"]["required_settings"] == ["token"]
    assert {"telegram", "whatsapp", "viber", "instagram"} <= {p["provider"] for p in data}
    text = cli("plugins").output
    assert "telegram" in text and "broadcaster-telegram" in text


def test_integration_secret_is_a_reference_never_the_value(cli):
    result = cli("integrations", "add", "tg", "--provider", "telegram", "--secret", "token=TG_TOKEN",
                 "--setting", "base_url=http://127.0.0.1:9")  # fmt: skip
    assert result.exit_code == 0
    assert "123:secret-token" not in cli.dump().__repr__()
    listed = json.loads(cli("integrations", "list", "--json").output)
    assert listed == [
        {
            "name": "tg",
            "provider": "telegram",
            "settings": {"token": "env:TG_TOKEN", "base_url": "http://127.0.0.1:9"},
            "health": None,
            "health_detail": None,
            "health_updated_at": None,
            "allows_more": None,
        }
    ]
    check = cli("integrations", "check", "tg")
    assert check.exit_code == 0 and "secret-token" not in check.output
    assert "ok   secrets" in check.output


def test_integrations_list_says_when_the_provider_seems_to_allow_more(cli):
    cli("integrations", "add", "tg", "--provider", "telegram", "--secret", "token=TG_TOKEN")
    store = cli.store()
    try:  # what a worker's health tracker writes after a run held back by its configured rate
        store.put_integration_health(IntegrationHealth("tg", HealthStatus.OK, "", 1_800_000_000.0, allows_more=120.0))
    finally:
        store.close()
    listed = json.loads(cli("integrations", "list", "--json").output)
    assert (listed[0]["health"], listed[0]["allows_more"]) == ("ok", 120.0)
    shown = " ".join(cli("integrations", "list").output.split())  # the table wraps long cells
    assert "ok; the provider seems to allow more than its configured rate (no refusal at it): try rates.tg = 120" in (
        shown.replace("│ ", "").replace(" │", "")
    )


def test_integration_refuses_secrets_on_the_command_line(cli):
    before = cli.dump()
    result = cli("integrations", "add", "tg", "--provider", "telegram", "--setting", "token=123:abc")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "'token' is a secret" in result.stderr and "123:abc" not in result.stderr
    assert cli.dump() == before


def test_integration_with_an_unset_variable_or_unknown_provider_is_refused(cli, monkeypatch):
    monkeypatch.delenv("TG_TOKEN")
    unset = cli("integrations", "add", "tg", "--provider", "telegram", "--secret", "token=TG_TOKEN")
    assert unset.exit_code == 1
    assert unset.stderr == (
        "error: integration 'tg': environment variable TG_TOKEN (its 'token') is not set"
        " — export TG_TOKEN=... in the worker's environment\n"
    )
    unknown = cli("integrations", "add", "x", "--provider", "carrier-pigeon", "--secret", "token=TG_TOKEN")
    assert unknown.exit_code == 1 and "no plugin provides 'carrier-pigeon'" in unknown.stderr
    assert cli("integrations", "list", "--json").output.strip() == "[]"


def test_integration_secret_from_the_secrets_file(cli):
    cli.write("secrets.toml", '[wa]\ntoken = "EAAG-secret"\n')
    cli.write("broadcaster.toml", 'secrets_file = "secrets.toml"\n')
    added = cli("integrations", "add", "wa", "--provider", "whatsapp", "--secret", "token",
                "--setting", "phone_number_id=123")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "EAAG-secret" not in repr(cli.dump())
    check = cli("integrations", "check", "wa", "--json")
    assert json.loads(check.output)["ok"] is True
    cli.write("secrets.toml", "[wa]\n")
    broken = cli("integrations", "check", "wa")
    assert broken.exit_code == 1 and "FAIL secrets" in broken.output and "has no [wa] token" in broken.output


def test_check_unknown_integration(cli):
    result = cli("integrations", "check", "nope")
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "nope" in result.stderr


def test_flows_add_list_publish_unpublish(cli):
    path = cli.write(
        "flows.json",
        json.dumps({"flows": [{"id": "a", "first_card": {"type": "text", "text": "hi"}},
                              {"id": "b", "published": False, "first_card": {"type": "template", "template": "t"}}]}),
    )  # fmt: skip
    assert cli("flows", "add", str(path)).output == "flow a saved (published)\nflow b saved (unpublished)\n"
    assert cli("flows", "publish", "b").output == "flow b published\n"
    assert cli("flows", "unpublish", "a").output == "flow a unpublished\n"
    listed = {f["id"]: f["published"] for f in json.loads(cli("flows", "list", "--json").output)}
    assert listed == {"a": False, "b": True}


def test_bad_flow_files_name_the_problem(cli):
    before = cli.dump()
    missing = cli("flows", "add", "nope.toml")
    assert missing.exit_code == 1 and missing.stderr == "error: nope.toml: no such file — check the path\n"
    broken = cli("flows", "add", str(cli.write("f.toml", "id = \n")))
    assert broken.exit_code == 1 and "is not valid TOML" in broken.stderr and broken.stderr.count("\n") == 1
    incomplete = cli("flows", "add", str(cli.write("g.toml", 'id = "x"\n[first_card]\ntype = "text"\n')))
    assert incomplete.exit_code == 1
    assert "first_card.text: required field missing" in incomplete.stderr
    unpublish = cli("flows", "unpublish", "ghost")
    assert unpublish.exit_code == 1 and "ghost" in unpublish.stderr
    assert cli.dump() == before


def test_templates_need_a_known_integration(ready):
    path = ready.write("t.toml", 'integration = "wa"\nname = "promo"\nparam_count = 1\n')
    refused = ready("templates", "add", str(path))
    assert refused.exit_code == 1 and "integration 'wa' does not exist" in refused.stderr
    ok = ready("templates", "add", str(ready.write("u.toml", 'integration = "tg"\nname = "promo"\nparam_count = 1\n')))
    assert ok.output == "template promo (en) saved for tg\n"
    assert json.loads(ready("templates", "list", "--json").output) == [
        {"integration": "tg", "name": "promo", "language": "en", "param_count": 1, "body": ""}
    ]


# -- contacts ---------------------------------------------------------------------------------


def test_csv_import_types_fields_chats_and_windows(cli):
    path = cli.write(
        "p.csv",
        "id,name,opted_out,age,score,phone,chat:wa,last_inbound:wa\n"
        "c1,Ada,yes,36,1.5,0047123,4790,2026-01-05T09:00:00Z\n"
        "c2,Bo,,,,,,\n",
    )
    assert cli("contacts", "import", str(path)).output == "imported 2 contacts\n"
    store = cli.store()
    assert store.get_contact("c1") == Contact(
        "c1", "Ada", fields={"age": 36, "score": 1.5, "phone": "0047123"}, opted_out=True,
        chats=(Chat("wa", "4790", 1767603600.0),),
    )  # fmt: skip
    assert store.get_contact("c2") == Contact("c2", "Bo")
    store.close()


def test_bad_rows_are_all_reported_and_nothing_is_imported(cli):
    path = cli.write(
        "p.csv",
        "id,name,opted_out,chat:wa,last_inbound:wa\n"
        "c1,Ada,no,1,\n"
        ",NoId,no,2,\n"
        "c3,Cy,maybe,3,\n"
        "c1,Again,no,4,\n"
        "c5,Ed,no,,2026-01-01\n"
        "c6,Fi,no,6,yesterday\n",
    )
    before = cli.dump()
    result = cli("contacts", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:3: the id is empty",
        f"{path}:4: opted_out must be true or false, not 'maybe'",
        f"{path}:5: duplicate id 'c1' (first on line 2)",
        f"{path}:6: last_inbound:wa is set but chat:wa is empty",
        f"{path}:7: last_inbound:wa must be an ISO 8601 time like 2026-01-05T09:00:00Z, not 'yesterday'",
        f"error: 5 bad row(s) in {path}; nothing imported — fix them, or pass --skip-bad to import the 1 good row(s)",
    ]
    assert cli.dump() == before
    skipped = cli("contacts", "import", str(path), "--skip-bad", "--json")
    assert skipped.exit_code == 0
    assert json.loads(skipped.stdout)["imported"] == 1 and json.loads(skipped.stdout)["skipped"] == 5


def test_jsonl_import_reports_line_numbers(cli):
    path = cli.write(
        "p.jsonl",
        '{"id": "c1", "name": "Ada", "chats": [{"integration": "tg", "chat_id": "1"}]}\n'
        "\n"
        "{oops\n"
        '{"name": "no id"}\n'
        '{"id": "c4", "fields": {"tags": ["a"]}}\n'
        "[1]\n",
    )
    result = cli("contacts", "import", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:3: not valid JSON")
    assert lines[1] == f"{path}:4: id: required field missing"
    assert lines[2].startswith(f"{path}:5: ") and "fields" in lines[2]
    assert lines[3] == f"{path}:6: expected a JSON object"
    assert cli("contacts", "list", "--json").output.count('"id"') == 0


def test_import_refusals(cli):
    assert cli("contacts", "import", str(cli.write("x.txt", "id\n"))).exit_code == 2
    no_id = cli("contacts", "import", str(cli.write("y.csv", "name\nAda\n")))
    assert no_id.exit_code == 1 and "no 'id' column" in no_id.stderr
    assert cli("contacts", "import", "ghost.csv").stderr == "error: ghost.csv: no such file — check the path\n"


def test_contacts_list_with_filter_and_pages(ready):
    data = json.loads(ready("contacts", "list", "--filter", 'city = "Oslo"', "--limit", "2", "--json").output)
    assert data["total"] == 3 and [c["id"] for c in data["contacts"]] == ["c1", "c3"]
    text = ready("contacts", "list", "--filter", 'city = "Oslo"', "--limit", "2")
    assert "next page: --after c3" in text.output
    rest = json.loads(ready("contacts", "list", "--filter", 'city = "Oslo"', "--after", "c3", "--json").output)
    assert [c["id"] for c in rest["contacts"]] == ["c4"]
    bad = ready("contacts", "list", "--filter", "city = ")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ") and "column" in bad.stderr


def test_the_command_line_starts_without_loading_the_heavy_simulator_libraries():
    # every `broadcaster` command registers the simulator's commands; numpy and matplotlib
    # (~0.1 s and more to import) must wait until a simulation actually runs
    import subprocess
    import sys

    probe = "import sys, broadcaster.cli; print(sorted(m for m in ('numpy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_db_upgrade_on_sqlite_and_postgresql(cli, pg_url):
    from tests.conftest import pg_reset

    first = cli("db", "upgrade")
    assert first.exit_code == 0 and first.output == "broadcaster.db: upgraded schema from version 0 to 10\n"
    assert cli("db", "upgrade").output == "broadcaster.db: schema version 10, up to date\n"
    pg_reset(pg_url)
    assert cli("--store", pg_url, "db", "upgrade").exit_code == 0
    again = cli("--store", pg_url, "db", "upgrade")
    assert again.exit_code == 0 and again.output == f"{pg_url}: schema version 7, up to date\n"
    missing = cli("--store", pg_url + "_nope", "db", "upgrade")
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1
    assert "cannot open the PostgreSQL store" in missing.stderr and "does not exist" in missing.stderr


def test_workers_lists_live_and_lost_workers(cli, pg_url):
    from broadcaster.store import open_store
    from tests.conftest import pg_reset

    pg_reset(pg_url)
    assert cli("--store", pg_url, "workers").output == "no workers\n"
    with open_store(pg_url, worker_id="host-a:11:aaaa") as a, open_store(pg_url, worker_id="host-b:22:bbbb") as b:
        now = time.time()
        a.upsert_contacts([Contact("c1")])
        a.heartbeat(now - 100, lease=30.0, broadcasts=["b1"])
        a.claim("b1", [("c1", "tg")], now - 100)
        b.heartbeat(now, lease=30.0, broadcasts=["b2"])
        b.mark_lost_workers(now)
    data = json.loads(cli("--store", pg_url, "workers", "--json").output)
    assert [(w["id"], w["status"], w["broadcasts"], w["takenOver"]) for w in data] == [
        ("host-b:22:bbbb", "live", ["b2"], []),
        ("host-a:11:aaaa", "lost", ["b1"], ["b1"]),
    ]
    table = cli("--store", pg_url, "workers").output
    assert "host-a:11:aaaa" in table and "lost" in table and "live" in table
