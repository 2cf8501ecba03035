"""Scenario files: every example loads; errors name the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from broadcaster_simulator.model import ErrorMode, PeriodKind, RetryUntil
from broadcaster_simulator.scenario import ScenarioError, load_scenario, parse_duration, parse_scenario

from broadcaster.core.errors import ConfigError
from broadcaster.core.models import Mode

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))

MINIMAL = """
[audience]
size = 100
channels = { tg = 1.0 }

[providers.tg]
provider = "telegram"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, text))
    return str(caught.value)


def test_all_eight_examples_exist_and_load():
    names = {p.stem for p in EXAMPLE_FILES}
    assert {
        "healthy",
        "whatsapp-closed-windows",
        "whatsapp-closed-windows-fallback",
        "telegram-429-storm",
        "outage-mid-run",
        "token-revoked",
        "retry-chain",
        "million",
    } <= names
    for path in EXAMPLE_FILES:
        assert load_scenario(path).audience.size > 0


def test_outage_example_reads_back_exactly():
    s = load_scenario(EXAMPLES / "outage-mid-run.toml")
    assert (s.name, s.seed, s.audience.size) == ("WhatsApp outage mid-run", 2026, 10_000)
    assert s.start == 1_772_442_000.0  # 2026-03-02T09:00:00Z
    assert s.broadcast.mode is Mode.FLOW and s.broadcast.required_fields == ("first_name",)
    wa = s.providers["whatsapp"]
    assert [(p.kind, p.start, p.end, p.error) for p in wa.timeline] == [
        (PeriodKind.OUTAGE, 60.0, 120.0, ErrorMode.SERVER_ERROR),
        (PeriodKind.OUTAGE, 120.0, 180.0, ErrorMode.REFUSED),
    ]
    assert (wa.send_rate, wa.latency.median, wa.latency.p99) == (25.0, 0.18, 1.2)
    assert s.retry is not None and (s.retry.until, s.retry.max_retries, s.retry.delay) == (
        RetryUntil.ONLY_SYSTEMIC,
        3,
        600.0,
    )


def test_minimal_scenario_takes_defaults(tmp_path):
    s = load_scenario(write(tmp_path, MINIMAL))
    assert s.providers["tg"].provider == "telegram" and s.providers["tg"].limit == 30.0
    assert s.retry is None and s.seed == 0 and s.name == "s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_durations(text, expected):
    assert expected == parse_duration(text)


@pytest.mark.parametrize("bad", ["5 minutes", "m5", "", -1, True, "1h-3m"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            "[audience]\nsize = -1\nchannels = { tg = 1.0 }",
            "s.toml: audience.size: expected a whole number between 0 and 100000000, got -1",
        ),
        ("[audience]\nsize = 10\nchannels = { wa = 1.0 }", "s.toml: audience.channels.wa: names no integration"),
        (
            "[audience]\nsize = 10\nchannels = { tg = 1.0 }\nclosed_window = 2",
            "s.toml: audience.closed_window: expected a number between 0 and 1, got 2",
        ),
        ("[audience]\nsize = 10\nchannels = { tg = 1.0 }\nsizee = 3", "s.toml: audience.sizee: is not a known setting"),
    ],
)
def test_audience_errors_name_file_key_and_expectation(tmp_path, patch, expected):
    text = MINIMAL.replace("[audience]\nsize = 100\nchannels = { tg = 1.0 }", patch)
    assert expected in error_of(tmp_path, text)


def test_timeline_errors(tmp_path):
    text = MINIMAL + '[[providers.tg.timeline]]\nkind = "outage"\nat = "soon"\n'
    assert "s.toml: providers.tg.timeline[0].at: expected a duration" in error_of(tmp_path, text)
    text = MINIMAL + '[[providers.tg.timeline]]\nkind = "meltdown"\nat = 1\n'
    message = error_of(tmp_path, text)
    assert "providers.tg.timeline[0].kind: expected one of 'outage', 'degraded'" in message
    text = MINIMAL + '[[providers.tg.timeline]]\nkind = "rate_limit"\nat = 1\n'
    assert "providers.tg.timeline[0].limit: is missing; expected a number" in error_of(tmp_path, text)


def test_pacing_and_backoff_errors_come_from_the_core_with_the_path(tmp_path):
    text = MINIMAL + "[broadcast]\npacing = { page_size = 10, batch_size = 50 }\n"
    assert "s.toml: broadcast.pacing: pacing.batch_size (50) cannot exceed pacing.page_size (10)" in error_of(
        tmp_path, text
    )
    text = MINIMAL + "[broadcast]\nbackoff = { budgett = 3 }\n"
    assert "s.toml: broadcast.backoff: unknown backoff setting 'budgett'" in error_of(tmp_path, text)


def test_unknown_provider_and_template_mode_without_routes(tmp_path):
    text = MINIMAL.replace('provider = "telegram"', 'provider = "smoke-signals"')
    assert "providers.tg.provider: expected one of 'instagram', 'ntfy', 'telegram', 'viber', 'whatsapp'" in error_of(
        tmp_path, text
    )
    text = MINIMAL + '[broadcast]\nmode = "template"\n'
    assert "broadcast.routes: template mode needs at least one" in error_of(tmp_path, text)


def test_file_problems(tmp_path):
    with pytest.raises(ScenarioError, match=r"nope\.toml: no such file"):
        load_scenario(tmp_path / "nope.toml")
    assert "is not valid TOML" in error_of(tmp_path, "[audience\n")


def test_scenario_error_is_a_config_error():
    with pytest.raises(ConfigError):
        parse_scenario({}, source="x.toml")
