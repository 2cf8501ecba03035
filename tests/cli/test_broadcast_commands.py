"""create, list, show, history, cancel, edit, retry, lineage, purge, run: outputs and refusals."""

from __future__ import annotations

import csv
import datetime
import fcntl
import json
import time

import attrs
import pytest

from broadcaster.core.lifecycle import State
from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import ErrorKind, Status
from broadcaster.core.reasons import ErrorReason

BLOCKED = {"error_reason": ErrorReason("telegram", "403", "blocked_by_user"), "error_kind": ErrorKind.PERMANENT_CONTACT}


def create(cli, *args):
    result = cli("create", "--flow", "welcome", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.output)


def finished(cli, *, failed=("c2", "c3")):
    """A COMPLETED broadcast over c1..c4: c1, c4 delivered, the rest failed (blocked)."""
    b = create(cli, "--name", "spring", "--filter", "")
    now = time.time()
    rows = [
        DispatchRow(
            b["id"],
            cid,
            Status.DELIVERED if cid not in failed else Status.PROVIDER_ERROR,
            contact_name=name,
            integration="tg",
            sent_at=now - 3,
            recorded_at=now - 2,
            **({} if cid not in failed else BLOCKED),
        )  # fmt: skip
        for cid, name in (("c1", "Ada"), ("c2", "Bo"), ("c3", "Cy"), ("c4", "Di"))
    ]
    cli.finish(b["id"], rows, at=now)
    return b["id"]


def test_create_shows_the_estimate_and_run_at_in_the_users_zone(ready, monkeypatch):
    monkeypatch.setenv("BROADCASTER_TIMEZONE", "Europe/Oslo")
    result = ready("create", "--name", "spring", "--flow", "welcome", "--filter", 'city = "Oslo"',
                   "--run-at", "2030-06-01T09:00")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    first, second = result.output.splitlines()
    assert first.endswith("(SCHEDULED, runs at 2030-06-01T09:00:00+02:00)")
    assert second == "audience estimate: 3 contacts"
    data = json.loads(ready("list", "--json").output)[0]
    assert (
        data["run_at"] == datetime.datetime(2030, 6, 1, 7, tzinfo=datetime.UTC).timestamp()
        and data["state"] == "SCHEDULED"
    )
    assert data["counters"]["audience_size_estimate"] == 3


def test_create_relative_time_ids_file_and_draft(ready):
    before = time.time()
    b = create(ready, "--filter", "", "--run-at", "in 10m")
    assert before + 600 <= b["run_at"] <= time.time() + 600
    ids = ready.write("ids.txt", "# vip\nc1\nc2\n\nghost\n")
    d = create(ready, "--ids", str(ids), "--draft")
    assert d["state"] == "DRAFT" and d["audience"]["contact_ids"] == ["c1", "c2", "ghost"]
    assert d["counters"]["audience_size_estimate"] == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--flow", "welcome"],
            2,
            "error: give the audience: --filter EXPR ('' for everyone) or --ids FILE — see 'broadcaster create --help'",
        ),
        (["--flow", "welcome", "--filter", "city = "], 2, "error: expected a value after '=' at column 8"),
        (["--flow", "welcome", "--filter", "", "--run-at", "tomorrow-ish"], 2, "cannot read 'tomorrow-ish' as a time"),
        (
            ["--flow", "ghost", "--filter", ""],
            1,
            "error: flow 'ghost' does not exist — define it first with `broadcaster flows add`",
        ),
        (["--route", "tg", "--filter", ""], 2, "'tg' must start with INTEGRATION:TEMPLATE"),
        (["--route", "tg:promo", "--filter", ""], 1, "template 'promo' (en) is not defined for integration 'tg'"),
        (["--flow", "welcome", "--ids", "missing.txt"], 1, "error: missing.txt: no such file — check the path"),
        (["--flow", "welcome", "--filter", "", "--ids", "x"], 2, "not both"),
        (
            ["--flow", "welcome", "--filter", "", "--bogus"],
            2,
            "error: No such option '--bogus' — see 'broadcaster create --help'",
        ),
    ],
)
def test_create_refusals_are_one_line_and_change_nothing(ready, args, code, message):
    before = ready.dump()
    result = ready("create", *args)
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert ready.dump() == before


def test_quota_is_enforced(ready, monkeypatch):
    monkeypatch.setenv("BROADCASTER_QUOTA", "1")
    create(ready, "--filter", "")
    before = ready.dump()
    result = ready("create", "--flow", "welcome", "--filter", "")
    assert result.exit_code == 1 and "quota" in result.stderr.lower() and result.stderr.count("\n") == 1
    assert ready.dump() == before


def test_show_reports_rates_duration_fallback_share_and_lineage(ready):
    bid = finished(ready)
    data = json.loads(ready("show", bid, "--json").output)
    assert data["state"] == "COMPLETED"
    assert data["counters"]["delivered"] == 2 and data["counters"]["failed"] == 2
    assert (data["delivery_rate"], data["drop_rate"], data["duration"]) == (0.5, 0.5, 5.0)
    assert (data["used_fallback"], data["used_fallback_share"]) == (0, 0.0)
    assert (data["lineage"], data["retries"]) == ([bid], [])
    text = ready("show", bid).output
    assert "delivery rate       50.0%" in text and "drop rate           50.0%" in text
    assert "duration            5.0s" in text


def test_history_pages_filters_and_exports(ready):
    bid = finished(ready)
    page = json.loads(ready("history", bid, "--limit", "3", "--json").output)
    assert len(page["rows"]) == 3 and page["next_cursor"] is not None
    rest = json.loads(ready("history", bid, "--limit", "3", "--cursor", str(page["next_cursor"]), "--json").output)
    assert len(rest["rows"]) == 1 and rest["next_cursor"] is None
    assert {r["contact_id"] for r in page["rows"] + rest["rows"]} == {"c1", "c2", "c3", "c4"}
    failed = json.loads(ready("history", bid, "--status", "failed", "--json").output)["rows"]
    assert sorted(r["contact_id"] for r in failed) == ["c2", "c3"]
    assert failed[0]["error_reason"] == "telegram:403:blocked_by_user" and failed[0]["outcome"] == "FAILED"
    found = json.loads(ready("history", bid, "--search", "ad", "--json").output)["rows"]
    assert [r["contact_name"] for r in found] == ["Ada"]
    text = ready("history", bid, "--limit", "3").output
    assert "telegram:403:blocked_by_user" in text and f"more rows: --cursor {page['next_cursor']}" in text
    exported = ready("history", bid, "--csv", "out.csv", "--status", "FAILED")
    assert exported.output == "wrote 2 rows to out.csv\n"
    with open(ready.root / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["contact_id"] for r in rows) == ["c2", "c3"]
    assert {r["error_reason"] for r in rows} == {"telegram:403:blocked_by_user"}


def test_history_follow_on_a_finished_broadcast_prints_the_summary_and_ends(ready):
    bid = finished(ready)
    result = ready("history", bid, "--follow", "--poll", "0.05")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == (
        f"{bid} COMPLETED: 2 delivered, 2 failed, 0 skipped (delivery 50.0%, drop 50.0%)"
    )


def test_retry_shows_the_count_and_links_the_lineage(ready):
    bid = finished(ready)
    result = ready("retry", bid, "--run-at", "in 5m")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines()[0] == "contacts to retry: 2"
    retry_id = json.loads(ready("list", "--json").output)[0]["id"]
    spawned = json.loads(ready("show", retry_id, "--json").output)
    assert spawned["retry_of"] == bid and spawned["audience"]["contact_ids"] == ["c2", "c3"]
    assert spawned["lineage"] == [bid, retry_id]
    chain = json.loads(ready("lineage", bid, "--json").output)
    assert [b["id"] for b in chain] == [bid, retry_id]
    table = ready("lineage", retry_id).output
    assert f"{retry_id} ←" in table
    override = json.loads(ready("retry", bid, "--ids", str(ready.write("ids.txt", "c1\n")), "--json").output)
    assert override["contacts_to_retry"] == 1 and override["audience"]["contact_ids"] == ["c1"]


def test_retry_refusals(ready):
    scheduled = create(ready, "--filter", "")["id"]
    clean = finished(ready, failed=())
    before = ready.dump()
    not_done = ready("retry", scheduled)
    assert not_done.exit_code == 1 and "SCHEDULED" in not_done.stderr and not_done.stderr.count("\n") == 1
    nothing = ready("retry", clean)
    assert nothing.exit_code == 1 and "FAILED" in nothing.stderr
    unknown = ready("retry", "bnope")
    assert unknown.exit_code == 1 and "bnope" in unknown.stderr
    assert ready.dump() == before


def test_cancel_and_edit_follow_the_lifecycle(ready):
    bid = create(ready, "--filter", "")["id"]
    edited = ready("edit", bid, "--name", "renamed", "--filter", 'city = "Rome"')
    assert edited.output == f"{bid} updated: audience, name\n"
    data = json.loads(ready("show", bid, "--json").output)
    assert data["name"] == "renamed" and data["counters"]["audience_size_estimate"] == 1
    assert ready("edit", bid).exit_code == 2
    assert ready("cancel", bid).output == f"{bid} is CANCELLED\n"
    before = ready.dump()
    again = ready("cancel", bid)
    assert again.exit_code == 1 and again.stderr.startswith("error: cannot cancel a broadcast that is CANCELLED")
    late = ready("edit", bid, "--run-at", "in 1h")
    assert late.exit_code == 1 and late.stderr.count("\n") == 1
    assert ready("show", "bnope").exit_code == 1
    assert ready.dump() == before


def test_list_and_purge(ready):
    assert ready("list").output == "no broadcasts\n"
    bid = finished(ready)
    assert bid in ready("list", "--state", "completed").output
    assert json.loads(ready("purge", "--json").output) == {"rows_deleted": 0}


def test_run_once_when_idle_and_the_single_worker_lock(ready):
    assert ready("run", "--once").output == "idle: 0 broadcast(s) run\n"
    with open(ready.root / "broadcaster.db.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = ready("run", "--once")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: another worker is already running on this store")


def test_the_single_worker_lock_holds_for_every_spelling_of_the_path(ready):
    (ready.root / "link.db").symlink_to(ready.root / "broadcaster.db")
    (ready.root / "sub").mkdir()
    with open(ready.root / "broadcaster.db.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        for spelling in ("link.db", "sub/../broadcaster.db", str(ready.root / "link.db")):
            result = ready("--store", spelling, "run", "--once")
            assert result.exit_code == 1, spelling
            assert result.stderr.startswith("error: another worker is already running on this store")
    assert not (ready.root / "link.db.lock").exists()


def test_run_refuses_an_unresolvable_secret(ready, monkeypatch):
    monkeypatch.delenv("TG_TOKEN")
    result = ready("run", "--once")
    assert result.exit_code == 1 and "TG_TOKEN" in result.stderr and result.stderr.count("\n") == 1


def test_configuration_file_and_its_errors(cli):
    cli.write("custom.toml", 'store = "other.db"\nquota = 3\n[pacing]\npage_size = 10\nbatch_size = 5\n')
    assert cli("--config", "custom.toml", "list").output == "no broadcasts\n"
    assert not (cli.root / "other.db").exists()  # a read never creates an empty store
    cli.write("people.csv", "id,name\nc1,Ann\n")
    assert cli("--config", "custom.toml", "contacts", "import", "people.csv").exit_code == 0
    assert (cli.root / "other.db").exists()  # the config's store is the one written
    cli.write("bad.toml", "[pacing]\nbatch_size = 0\n")
    bad = cli("--config", "bad.toml", "list")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: bad.toml: pacing: pacing.batch_size must be")
    cli.write("typo.toml", "qouta = 3\n")
    typo = cli("--config", "typo.toml", "list")
    assert typo.exit_code == 1 and "typo.toml: qouta: unknown setting" in typo.stderr
    missing = cli("--config", "nope.toml", "list")
    assert missing.exit_code == 1 and "nope.toml does not exist" in missing.stderr


def test_run_concurrent_must_be_at_least_one(ready):
    result = ready("run", "--once", "--concurrent", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--concurrent': 0 is not in the range 1<=x<=64" in result.stderr
    assert ready("run", "--once", "--concurrent", "2").output == "idle: 0 broadcast(s) run\n"


def test_a_run_at_too_far_in_the_past_is_refused_and_changes_nothing(ready):
    before = ready.dump()
    result = ready("create", "--flow", "welcome", "--filter", "", "--run-at", "2020-01-01T09:00")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: that run-at is ")
    assert "days in the past, more than the 24.0 hours a broadcast may start late: it would never fire" in (
        result.stderr
    )
    assert ready.dump() == before


def test_an_overdue_broadcast_is_marked_in_list_and_show_and_can_be_sent_anyway(ready):
    b = create(ready, "--filter", "")
    store = ready.store()
    try:
        current = store.get_broadcast(b["id"])
        store.update_broadcast(attrs.evolve(current, run_at=time.time() - 3 * 86_400), expected_state=State.SCHEDULED)
    finally:
        store.close()
    assert f"{b['id']}" in ready("list").output and "SCHEDULED (overdue)" in ready("list").output
    assert [x["attention"] for x in json.loads(ready("list", "--json").output)] == ["overdue"]
    shown = ready("show", b["id"]).output
    assert "SCHEDULED  (overdue: its run-at passed 72h00m" in shown
    assert f"`broadcaster edit {b['id']} --run-at now` sends it, `broadcaster cancel {b['id']}` drops it" in shown
    assert json.loads(ready("show", b["id"], "--json").output)["overdue_by"] == pytest.approx(3 * 86_400, abs=5)
    # sent anyway: the run-at moves to now and it is on time again
    assert ready("edit", b["id"], "--run-at", "now").exit_code == 0
    assert json.loads(ready("show", b["id"], "--json").output)["overdue_by"] is None
    assert "(overdue)" not in ready("list").output


def test_max_lateness_comes_from_the_configuration(cli, monkeypatch):
    cli.write("broadcaster.toml", 'max_lateness = "90m"\n')
    assert cli("list").exit_code == 0
    monkeypatch.setenv("BROADCASTER_MAX_LATENESS", "soon")
    bad = cli("list")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: broadcaster.toml: max_lateness: cannot read 'soon' as a duration")


def test_a_sending_broadcast_with_no_new_row_for_long_is_marked_stalled(ready):
    b = create(ready, "--filter", "")
    store = ready.store()
    try:
        current = store.get_broadcast(b["id"])
        started = time.time() - 2 * 3600
        store.update_broadcast(
            attrs.evolve(current, state=State.SENDING, counters=attrs.evolve(current.counters, started_at=started)),
            expected_state=State.SCHEDULED,
        )
        store.snapshot_audience(b["id"])
        store.record([DispatchRow(b["id"], "c1", Status.DELIVERED, "Ada", "tg", recorded_at=started + 60)])
    finally:
        store.close()
    assert "SENDING (stalled)" in ready("list").output
    assert [x["attention"] for x in json.loads(ready("list", "--json").output)] == ["stalled"]
    shown = ready("show", b["id"]).output
    assert "SENDING  (stalled: no new row for 1h59m" in shown and "is `broadcaster run` running?" in shown
    assert json.loads(ready("show", b["id"], "--json").output)["stalled_for"] == pytest.approx(7140, abs=5)
    store = ready.store()
    try:
        store.record([DispatchRow(b["id"], "c2", Status.DELIVERED, "Bo", "tg", recorded_at=time.time())])
    finally:
        store.close()
    assert "(stalled)" not in ready("list").output
    assert [x["attention"] for x in json.loads(ready("list", "--json").output)] == [None]
    assert json.loads(ready("show", b["id"], "--json").output)["stalled_for"] is None
