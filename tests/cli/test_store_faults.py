"""Issue 10 items 6, 7 and 8: times and numbers bounded at the edge; deep filters and store faults in one line."""

from __future__ import annotations

import sqlite3

import attrs
import pytest

from broadcaster.store import sqlite as sqlite_module


def one_error(result) -> str:
    assert result.exit_code != 0, result.output
    lines = result.stderr.splitlines() if result.stderr_bytes is not None else result.output.splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in result.output
    assert lines[0].startswith("error: ")
    return lines[0]


# -- item 6: bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_at",
    ["in 99999999999d", "in 3651d", "9999-12-31T23:59", "0001-01-01T00:00", "in " + "9" * 400 + "s", "1969-01-01"],
)
def test_an_out_of_range_run_at_is_refused_and_nothing_is_saved(ready, run_at):
    before = ready.dump()
    line = one_error(ready("create", "--filter", "", "--flow", "welcome", "--run-at", run_at))
    assert "--run-at" in line
    assert ready.dump() == before
    assert ready("list").exit_code == 0


def test_a_stored_extreme_run_at_never_breaks_list_or_show(ready):
    created = ready("create", "--filter", "", "--flow", "welcome", "--draft", "--json")
    broadcast_id = created.output.split('"id": "')[1].split('"')[0]
    store = ready.store()
    try:
        b = store.get_broadcast(broadcast_id)
        store.update_broadcast(attrs.evolve(b, run_at=8.6e15), expected_state=b.state)
    finally:
        store.close()
    listed = ready("list")
    assert listed.exit_code == 0 and "out of range" in listed.output
    shown = ready("show", broadcast_id)
    assert shown.exit_code == 0 and "8600000000000000.0 (out of range)" in shown.output
    assert ready("list", "--json").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--limit", "99999999999999999999"),
        ("contacts", "list", "--limit", "10001"),
        ("history", "x", "--cursor", "99999999999999999999"),
        ("history", "x", "--follow", "--poll", "nan"),
        ("history", "x", "--follow", "--poll", "inf"),
    ],
)
def test_numbers_out_of_range_are_usage_errors(ready, args):
    line = one_error(ready(*args))
    assert "is not in the range" in line or "is not a number" in line


def test_durations_are_bounded():
    from broadcaster.durations import parse_duration

    assert parse_duration("3650d") == 3650 * 86400
    for text in ("3651d", "99999999999d", 1e300, "9" * 500 + "s"):
        with pytest.raises(ValueError):
            parse_duration(text)


# -- item 8: store faults --------------------------------------------------------------------------


def test_a_wrong_store_path_is_no_such_store(cli):
    line = one_error(cli("--store", "nowhere.db", "show", "abc"))
    assert line.startswith("error: no such store: nowhere.db")
    assert not (cli.root / "nowhere.db").exists()
    assert one_error(cli("--store", "missing/folder/x.db", "list")).startswith("error: no such store")
    assert not (cli.root / "missing").exists()


def test_an_empty_file_is_not_turned_into_a_store(cli):
    empty = cli.write("empty.db", "")
    assert "is an empty file" in one_error(cli("--store", str(empty), "list"))
    assert empty.read_bytes() == b""


def test_a_non_database_file_is_refused_unchanged(cli):
    for content in (b"garbage\n", b"x" * 5000, b"SQLite format 3\x00" + b"\xff" * 2000):
        bad = cli.root / "bad.db"
        bad.write_bytes(content)
        line = one_error(cli("--store", str(bad), "list"))
        assert "bad.db" in line and ("not a broadcaster store" in line or "damaged" in line)
        one_error(cli("--store", str(bad), "contacts", "import", str(cli.write("p.csv", "id\nc1\n"))))
        assert bad.read_bytes() == content


def test_a_store_path_through_a_file_is_refused(cli):
    cli.write("plain", "x")
    cli.write("p.csv", "id\nc1\n")
    assert "is not a folder" in one_error(cli("--store", "plain/x.db", "contacts", "import", "p.csv"))


def test_a_refused_integrations_add_leaves_no_new_store(cli):
    one_error(cli("integrations", "add", "x", "--provider", "telegram", "--setting", "a=1"))
    assert not cli.db.exists()
    one_error(cli("contacts", "import", str(cli.write("p.csv", "id\n\n,\n"))))
    assert not cli.db.exists()
    # a store that existed before stays
    assert cli("contacts", "import", str(cli.write("q.csv", "id\nc1\n"))).exit_code == 0
    one_error(cli("integrations", "add", "x", "--provider", "telegram", "--setting", "a=1"))
    assert cli.db.exists()


@pytest.fixture
def read_only(monkeypatch):
    """Every store opens read-only, as for a read-only file or folder (the tests run as root,
    for whom chmod does not refuse anything)."""
    real = sqlite3.connect

    def connect(path, **kwargs):
        return real(f"file:{path}?mode=ro", uri=True, **kwargs)

    class Module:
        def __getattr__(self, name):
            return getattr(sqlite3, name)

    module = Module()
    module.connect = connect  # type: ignore[attr-defined]
    monkeypatch.setattr(sqlite_module, "sqlite3", module)


@pytest.mark.parametrize(
    "args",
    [
        ("contacts", "import", "more.csv"),
        ("flows", "unpublish", "welcome"),
        ("create", "--filter", "", "--flow", "welcome"),
        ("run", "--once"),
        ("purge",),
    ],
)
def test_a_read_only_store_is_one_line_for_every_write(ready, read_only, args):
    ready.write("more.csv", "id\nc9\n")
    before = ready.dump()
    line = one_error(ready(*args))
    assert "is read-only" in line and "broadcaster.db" in line
    assert ready.dump() == before


def test_a_folder_sqlite_cannot_open_is_one_line(cli, monkeypatch):
    def refuse(path, **kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    class Module:
        def __getattr__(self, name):
            return getattr(sqlite3, name)

    module = Module()
    module.connect = refuse  # type: ignore[attr-defined]
    monkeypatch.setattr(sqlite_module, "sqlite3", module)
    assert cli("contacts", "import", str(cli.write("p.csv", "id\nc1\n"))).exit_code == 1
    line = one_error(cli("--store", "x.db", "contacts", "import", "p.csv"))
    assert line.startswith("error: cannot open store x.db")


def test_a_deep_filter_at_the_cli_is_one_line(ready):
    for text in ("NOT " * 50 + "a = 1", "(" * 500 + "a = 1" + ")" * 500):
        before = ready.dump()
        for args in (("contacts", "list", "--filter", text), ("create", "--flow", "welcome", "--filter", text)):
            result = ready(*args)
            assert result.exit_code == 2
            assert len(result.output.splitlines()) == 1 and "deep at column" in result.output
        assert ready.dump() == before
