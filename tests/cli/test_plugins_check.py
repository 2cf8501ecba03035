"""``broadcaster plugins`` lists entry point, distribution, methods; ``plugins check`` runs the kit."""

from __future__ import annotations

import json

from click.testing import CliRunner

from broadcaster.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_plugins_json_lists_entry_point_distribution_version_and_methods():
    result = run("plugins", "--json")
    assert 0 == result.exit_code, result.output
    by_provider = {item["provider"]: item for item in json.loads(result.stdout)}
    viber = by_provider["viber"]
    assert ("ok", "viber", "broadcaster-viber", "0.1.0") == (
        viber["status"],
        viber["entry_point"],
        viber["distribution"],
        viber["version"],
    )
    assert [
        "build_call",
        "interpret_reply",
        "build_batch_call",
        "interpret_batch_reply",
        "verify_callback",
        "parse_callback",
    ] == viber["methods"]
    assert ["build_call", "interpret_reply"] == by_provider["ntfy"]["methods"]


def test_plugins_check_runs_the_kit_against_an_installed_provider():
    result = run("plugins", "check", "ntfy", "--examples", "20")
    assert 0 == result.exit_code, result.output
    assert "ntfy: the conformance kit passed (20 examples per property)\n" == result.stdout


def test_plugins_check_of_an_unknown_provider_is_one_line():
    result = run("plugins", "check", "nope", "--examples", "5")
    assert 1 == result.exit_code
    assert "no plugin provides 'nope'" in result.stderr and "Traceback" not in result.output


def test_a_broken_plugin_is_listed_and_does_not_stop_the_others(monkeypatch):
    import importlib.metadata

    installed = list(importlib.metadata.distributions())

    class BrokenEntryPoint:
        name, group, value = "dc", "broadcaster", "broadcaster_dc"

        def load(self):
            raise ImportError("No module named 'broadcaster_dc'")

    class BrokenDistribution:
        metadata = {"name": "broadcaster-dc"}
        version = "0.0.1"
        entry_points = [BrokenEntryPoint()]

    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [*installed, BrokenDistribution()])
    listing = run("plugins", "--json")
    assert 0 == listing.exit_code, listing.output
    [broken] = [item for item in json.loads(listing.stdout) if item["status"] == "broken"]
    assert ("dc", "broadcaster-dc", "0.0.1") == (broken["entry_point"], broken["distribution"], broken["version"])
    assert "cannot be imported: ImportError(\"No module named 'broadcaster_dc'\")" == broken["error"]
    assert "warning: entry point 'dc' (distribution broadcaster-dc 0.0.1) is broken" in listing.stderr
    table = run("plugins")
    assert 0 == table.exit_code and "broken entry point" in table.stdout and "telegram" in table.stdout
    assert 0 == run("plugins", "check", "ntfy", "--examples", "5").exit_code  # the kit still runs the others
