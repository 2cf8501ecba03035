"""Fixtures for the command-line tests: an isolated working directory and store, a runner."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner, Result

from broadcaster.cli import main
from broadcaster.core.lifecycle import State
from broadcaster.core.models import DispatchRow
from broadcaster.store import open_store


@attrs.define
class Cli:
    root: Path
    runner: CliRunner

    @property
    def db(self) -> Path:
        return self.root / "broadcaster.db"

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(main, list(args), input=input, catch_exceptions=False)

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def dump(self) -> list[str]:
        """Every stored row (not the schema), to show an error changed nothing."""
        if not self.db.exists():
            return []
        conn = sqlite3.connect(self.db)
        try:
            return [line for line in conn.iterdump() if line.startswith("INSERT")]
        finally:
            conn.close()

    def store(self):
        return open_store(self.db)

    def finish(self, broadcast_id: str, rows: list[DispatchRow], *, at: float) -> None:
        """Play a run's end through the store: SENDING, rows recorded, COMPLETED."""
        store = self.store()
        try:
            b = store.get_broadcast(broadcast_id)
            b = store.update_broadcast(
                attrs.evolve(b, state=State.SENDING, counters=attrs.evolve(b.counters, started_at=at - 5)),
                expected_state=b.state,
            )
            store.snapshot_audience(broadcast_id)
            store.record(rows)
            b = store.get_broadcast(broadcast_id)
            done = attrs.evolve(b, state=State.COMPLETED, counters=attrs.evolve(b.counters, finished_at=at))
            store.update_broadcast(done, expected_state=State.SENDING)
        finally:
            store.close()


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    for name in (
        "BROADCASTER_CONFIG",
        "BROADCASTER_STORE",
        "BROADCASTER_QUOTA",
        "BROADCASTER_SECRETS_FILE",
        "BROADCASTER_MAX_LATENESS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROADCASTER_TIMEZONE", "UTC")
    monkeypatch.setenv("TG_TOKEN", "123:secret-token")
    return Cli(tmp_path, CliRunner())


PEOPLE_CSV = """id,name,city,age,chat:tg
c1,Ada,Oslo,36,701
c2,Bo,Rome,41,702
c3,Cy,Oslo,29,703
c4,Di,Oslo,,704
"""

WELCOME_TOML = """id = "welcome"
name = "Welcome"
[first_card]
type = "text"
text = "Hello"
"""


@pytest.fixture
def ready(cli) -> Cli:
    """An integration, four contacts and a flow."""
    assert cli("integrations", "add", "tg", "--provider", "telegram", "--secret", "token=TG_TOKEN").exit_code == 0
    assert cli("contacts", "import", str(cli.write("people.csv", PEOPLE_CSV))).exit_code == 0
    assert cli("flows", "add", str(cli.write("welcome.toml", WELCOME_TOML))).exit_code == 0
    return cli
