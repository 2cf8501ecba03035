"""Issue 10 items 9, 10, 11 and 14: configuration faults, no silent coercion, no terminal
injection, bounded input files — each one line on stderr, nothing changed."""

from __future__ import annotations

import json
import socket
import time

import pytest

from broadcaster.core.models import DispatchRow
from broadcaster.core.outcomes import Status
from broadcaster.store.csv_export import neutralise

from .test_store_faults import one_error

# -- item 9: configuration and server faults ---------------------------------------------------------


@pytest.mark.parametrize(
    "toml, where",
    [
        ('rates = "fast"', "rates: expected a table"),
        ("rates = [1, 2]", "rates: expected a table"),
        ("[rates]\ntg = 1e308", "rates.tg: expected a number from"),
        ('[rates]\ntg = "fast"', "rates.tg: expected a number"),
        ('callbacks = "on"', "callbacks: expected a table"),
        ('[callbacks]\nenabled = "no"', "callbacks.enabled: expected true or false"),
        ("[callbacks]\nport = 99999", "callbacks.port: expected a whole number from 1 to 65535"),
        ("[callbacks]\nport = -1", "callbacks.port: expected a whole number from 1 to 65535"),
        ('[[webhooks]]\nurl = "http://127.0.0.1:1/"\nsecret_env = "WH"\nevents = 5', "webhooks[0].events"),
        ('[[webhooks]]\nurl = "http://127.0.0.1:1/"\nsecret_env = "WH"\nevents = ["nope"]', "webhooks[0]"),
        ('webhooks = "x"', "webhooks: expected [[webhooks]] tables"),
        ("quota = 1.9", "quota: expected a whole number"),
        ("quota = true", "quota: expected a whole number"),
        ("quota = 0", "quota: expected a whole number from 1"),
        ("store = 5", "store: expected text"),
        ('max_lateness = "99999999d"', "max_lateness"),
        ("[backoff]\ncap = 1e308", "backoff: cap: expected a number from 0.001 to 86400"),
        ("[backoff]\nfactor = true", "backoff: factor: expected a number, got a boolean"),
        ("[backoff]\nbudget = 1e9", "backoff: budget: expected a whole number"),
    ],
)
def test_configuration_faults_are_one_line(ready, monkeypatch, toml, where):
    monkeypatch.setenv("WH", "s3cret")
    ready.write("broadcaster.toml", toml + "\n")
    before = ready.dump()
    for args in (("list",), ("run", "--once")):
        line = one_error(ready(*args))
        assert where in line, line
    assert ready.dump() == before


def test_env_numbers_still_read_as_text(cli, monkeypatch):
    monkeypatch.setenv("BROADCASTER_QUOTA", "3")
    monkeypatch.setenv("BROADCASTER_CALLBACKS_PORT", "9000")
    from broadcaster.config import load_config

    config = load_config()
    assert config.quota == 3 and config.callbacks.port == 9000
    monkeypatch.setenv("BROADCASTER_QUOTA", "1.9")
    assert "quota: expected a whole number" in one_error(cli("list"))


def test_a_busy_callback_port_is_one_line(ready):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ready.write("broadcaster.toml", f"[callbacks]\nenabled = true\nport = {port}\n")
        line = one_error(ready("run", "--once"))
    assert f"cannot listen for delivery callbacks on 127.0.0.1:{port}" in line


def test_a_busy_sandbox_port_is_one_line(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error(cli("sandbox", "telegram", "--port", str(port)))
    assert f"cannot listen on 127.0.0.1:{port}" in line


# -- item 10: no silent coercion -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, why",
    [
        ('{"id": "c1", "opted_out": "false"}', "opted_out: expected true or false, got text 'false'"),
        ('{"id": "c1", "opted_out": "maybe"}', "opted_out: expected true or false"),
        ('{"id": "c1", "opted_out": 0}', "opted_out: expected true or false"),
        ('{"id": ""}', "id must not be empty"),
        ('{"id": "  "}', "id must not be empty"),
        ('{"id": 7}', "id: expected text"),
        ('{"id": "c1", "name": 5}', "name: expected text"),
        ('{"id": "c1", "nick": "x"}', "extra fields found (nick)"),
        ('{"id": "c1", "chats": [{"integration": "tg", "chat_id": 5}]}', "chat_id: expected text"),
        ('{"id": "c1", "chats": [{"integration": "tg", "chat_id": ""}]}', "chat_id must not be empty"),
    ],
)
def test_jsonl_values_are_never_coerced(cli, line, why):
    path = cli.write("p.jsonl", line + "\n")
    message = one_error(cli("contacts", "import", str(path)))
    assert why in message and "nothing imported" in message
    assert not cli.db.exists()


@pytest.mark.parametrize(
    "toml, why",
    [
        ('id = "w"\npublished = "no"\n[first_card]\ntype = "text"\ntext = "hi"', "published: expected true or false"),
        ('id = "w"\ncolour = "red"\n[first_card]\ntype = "text"\ntext = "hi"', "extra fields found (colour)"),
        ('id = "w"\n[first_card]\ntype = "text"\ntext = "hi"\nbold = true', "first_card: extra fields found (bold)"),
        ('id = ""\n[first_card]\ntype = "text"\ntext = "hi"', "id must not be empty"),
        ('id = "w"\n[first_card]\ntype = "text"\ntext = ""', "first_card: text must not be empty"),
        ('id = "w"', "a flow needs a first card"),
        ('id = "w"\nrequired_fields = "abc"\n[first_card]\ntype = "text"\ntext = "hi"', "expected a list"),
    ],
)
def test_flow_files_are_strict(ready, toml, why):
    before = ready.dump()
    message = one_error(ready("flows", "add", str(ready.write("f.toml", toml + "\n"))))
    assert why in message, message
    assert ready.dump() == before


@pytest.mark.parametrize(
    "extra, why",
    [
        ("param_count = -3", "param_count: expected a whole number from 0 to 100, got -3"),
        ("param_count = 1.5", "param_count: expected a whole number"),
        ('param_count = "2"', "param_count: expected a whole number"),
        ("param_count = true", "param_count: expected a whole number"),
    ],
)
def test_template_files_are_strict(ready, extra, why):
    before = ready.dump()
    text = f'integration = "tg"\nname = "promo"\n{extra}\n'
    message = one_error(ready("templates", "add", str(ready.write("t.toml", text))))
    assert why in message, message
    assert ready.dump() == before


def test_a_csv_with_a_byte_order_mark_imports(cli):
    path = cli.root / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,name\r\nc1,Ada\r\n")
    result = cli("contacts", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("contacts", "list", "--json").output)["contacts"][0]["id"] == "c1"


# -- item 11: terminal injection ---------------------------------------------------------------------

LINK = "[link=http://evil.example]click[/link]"
STYLED = "[bold red]ALERT[/bold red]"
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\r\x9b31m\u202eevil"


@pytest.fixture
def hostile(cli):
    rows = [
        {"id": "h1", "name": LINK, "fields": {"note": STYLED}, "chats": [{"integration": "tg", "chat_id": "1"}]},
        {"id": "h2", "name": TITLE + "Bo", "fields": {"note": CLEAR}, "chats": [{"integration": "tg", "chat_id": "2"}]},
    ]
    path = cli.write("h.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    assert cli("contacts", "import", str(path)).exit_code == 0
    flow = 'id = "welcome"\nname = "[link=http://evil.example]x[/link]"\n[first_card]\ntype = "text"\ntext = "\\u001b]0;t\\u0007"\n'
    assert cli("flows", "add", str(cli.write("w.toml", flow))).exit_code == 0
    created = cli("create", "--flow", "welcome", "--filter", "", "--name", TITLE + STYLED, "--json")
    broadcast_id = json.loads(created.output)["id"]
    now = time.time()
    cli.finish(
        broadcast_id,
        [
            DispatchRow(broadcast_id, "h1", Status.DELIVERED, contact_name=LINK, integration="tg", recorded_at=now),
            DispatchRow(broadcast_id, "h2", Status.DELIVERED, contact_name=TITLE, integration="tg", recorded_at=now),
        ],
        at=now,
    )
    return broadcast_id


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_stored_values_are_printed_inert(cli, hostile, monkeypatch, terminal):
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("COLUMNS", "250")
    outputs = {
        "history": cli("history", hostile).output,
        "contacts": cli("contacts", "list").output,
        "list": cli("list").output,
        "show": cli("show", hostile).output,
        "flows": cli("flows", "list").output,
    }
    for name, output in outputs.items():
        assert "\x1b]" not in output, name  # no OSC: no window title, no hyperlink
        assert "\x07" not in output and "\r" not in output and "\x9b" not in output and "\u202e" not in output, name
        if not terminal:
            assert "\x1b" not in output, name
    assert "[link=http://evil.example]click[/link]" in outputs["history"]
    assert "[link=http://evil.example]click[/link]" in outputs["contacts"]
    assert "\\x1b]0;pwned\\x07" in outputs["history"]
    assert "[bold red]ALERT[/bold red]" in outputs["contacts"]
    assert "\\x1b[2J\\x0d\\x9b31m\\u202eevil" in outputs["contacts"]
    assert "[bold red]ALERT[/bold red]" in outputs["show"] and "\\x1b]0;pwned" in outputs["show"]


def test_an_error_message_never_carries_control_characters(cli):
    result = cli("show", "\x1b]0;pwned\x07")
    assert "\x1b" not in result.output and "\x07" not in result.output


@pytest.mark.parametrize("cell", ["=1+1", "\n=cmd|' /C calc'!A0", "\r=1", "\t=1", " =1", "\n\n@SUM(A1)", "-2", "+1"])
def test_the_csv_formula_guard_catches_leading_blanks(cell):
    assert neutralise(cell) == "'" + cell


def test_the_csv_guard_leaves_plain_cells(cell="Ada"):
    assert neutralise(cell) == "Ada" and neutralise(" Ada") == " Ada"


# -- item 14: bounded input files --------------------------------------------------------------------


def test_importing_dev_zero_ends_with_one_line(cli, monkeypatch):
    from broadcaster.cli import files

    monkeypatch.setattr(files, "MAX_FILE_BYTES", 4 * 1024 * 1024)
    monkeypatch.setattr(files.read_text, "__kwdefaults__", {"max_bytes": 4 * 1024 * 1024})
    for fmt in ("csv", "jsonl"):
        line = one_error(cli("contacts", "import", "/dev/zero", "--format", fmt))
        assert "/dev/zero is larger than 4 MB" in line
    assert one_error(cli("create", "--flow", "x", "--ids", "/dev/zero"))
    assert not cli.db.exists()


def test_an_overlong_line_or_cell_is_one_line(cli):
    long_line = cli.write("long.csv", "id,name\nc1," + "x" * (1024 * 1024 + 1) + "\n")
    assert "long.csv:2: the line is longer than" in one_error(cli("contacts", "import", str(long_line)))
    quoted = cli.write("quoted.csv", 'id,name\nc1,"' + "x\n" * 100_000 + '"\n')
    assert "the CSV cannot be read" in one_error(cli("contacts", "import", str(quoted)))
    nul = cli.write("nul.csv", "id\nc1\x00\n")
    assert "NUL bytes" in one_error(cli("contacts", "import", str(nul)))
    assert not cli.db.exists()
