"""``broadcaster simulate`` / ``sandbox`` through click: every example prints its report and
writes its picture, byte-identical on a rerun; errors are one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from broadcaster.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# million.toml runs in the benchmark (bench/simulate.py), not in the test suite
QUICK = sorted(p for p in EXAMPLES.glob("*.toml") if p.stem != "million")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("example", QUICK, ids=lambda p: p.stem)
def test_every_example_prints_the_report_and_writes_the_same_picture_twice(tmp_path, example):
    first, second = tmp_path / "one.svg", tmp_path / "two.svg"
    a = run("simulate", str(example), "--plot", str(first))
    b = run("simulate", str(example), "--plot", str(second))
    assert a.exit_code == 0 and b.exit_code == 0
    assert a.stdout == b.stdout
    assert "Retry chain:" in a.stdout and "Timeline (simulated minutes since start):" in a.stdout
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().startswith(b"<?xml") and b"<svg" in first.read_bytes()


def test_json_and_seed_override(tmp_path):
    example = str(EXAMPLES / "healthy.toml")
    one = run("simulate", example, "--json", "--seed", "9", "--no-plot")
    again = run("simulate", example, "--json", "--seed", "9", "--no-plot")
    assert one.stdout == again.stdout
    report = json.loads(one.stdout)
    assert report["scenario"]["seed"] == 9 and report["scenario"]["file"] == "healthy.toml"
    assert list(report) == ["scenario", "attempts", "retry_chain", "chain", "timeline"]


def test_default_picture_goes_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("simulate", str(EXAMPLES / "healthy.toml"))
    assert result.exit_code == 0
    assert (tmp_path / "healthy.svg").exists()
    assert f"picture: {tmp_path / 'healthy.svg'}" in result.stderr


def test_bad_scenario_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[audience]\nsize = 'many'\n")
    result = run("simulate", str(bad), "--no-plot")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "bad.toml: providers: is missing; expected a table" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("simulate", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "nope.toml: no such file" in missing.stderr


def test_plot_must_be_svg_or_png(tmp_path):
    result = run("simulate", str(EXAMPLES / "healthy.toml"), "--plot", str(tmp_path / "x.gif"))
    assert result.exit_code == 2 and "--plot must name a .svg or .png file" in result.stderr


def test_sandbox_refuses_a_scenario_without_that_provider():
    result = run("sandbox", "viber", "--scenario", str(EXAMPLES / "retry-chain.toml"))
    assert result.exit_code == 2
    assert "retry-chain.toml: providers: has no integration on provider 'viber'" in result.stderr


def test_size_overrides_the_audience_of_simulate_and_rehearse(tmp_path):
    example = str(EXAMPLES / "outage-mid-run.toml")
    report = json.loads(run("simulate", example, "--json", "--no-plot", "--size", "2500").stdout)
    first = report["attempts"][0]
    assert report["scenario"]["audience_size"] == 2500 and first["targeted"] == 2500
    assert first["delivered"] + first["failed"] + first["skipped"] == 2500
    small = run("rehearse", example, "--json", "--size", "300", "--store", str(tmp_path / "r.db"))
    assert small.exit_code == 0, small.stderr
    assert json.loads(small.stdout)["attempts"][0]["targeted"] == 300
    bad = run("simulate", example, "--size", "-1", "--no-plot")
    assert bad.exit_code == 2 and "Invalid value for '--size'" in bad.stderr
