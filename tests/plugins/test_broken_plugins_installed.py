"""Broken plugins really installed (distributions on ``PYTHONPATH`` of a subprocess):
a bad entry point, a module that fails to import and a provider with an invalid spec.
``broadcaster plugins`` still works, lists each as broken naming entry point and
distribution, and the commands that do not use them carry on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = {
    # distribution: (entry point name, entry point value, module source or None)
    "broadcaster-gone": ("gone", "broadcaster_gone", None),
    "broadcaster-crash": (
        "crash",
        "broadcaster_crash",
        "raise ImportError('libcrash.so: cannot open shared object')\n",
    ),
    "broadcaster-negative": (
        "negative",
        "broadcaster_negative",
        "from broadcaster.plugin import ChannelSpec, Provider, hookimpl\n"
        "class Negative(Provider):\n"
        "    spec = ChannelSpec(provider='negative', rate_per_second=-1.0)\n"
        "    def build_call(self, integration, chat_id, message): raise NotImplementedError\n"
        "    def interpret_reply(self, integration, call, reply): raise NotImplementedError\n"
        "@hookimpl\n"
        "def register_providers(register):\n"
        "    register(Negative())\n",
    ),
}


def install_broken(site: Path) -> None:
    for dist, (name, value, source) in BROKEN.items():
        info = site / f"{dist.replace('-', '_')}-0.3.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3.0\n")
        (info / "entry_points.txt").write_text(f"[broadcaster]\n{name} = {value}\n")
        if source is not None:
            (site / f"{value}.py").write_text(source)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    install_broken(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROADCASTER_", "HYPOTHESIS_"))}
    env["PYTHONPATH"] = str(site)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "broadcaster.cli", *args]
        return subprocess.run(command, cwd=site, env=env, capture_output=True, text=True, timeout=120)

    return run


def test_plugins_lists_each_broken_plugin_with_its_entry_point_and_distribution(cli):
    result = cli("plugins", "--json")
    assert 0 == result.returncode, result.stderr
    items = json.loads(result.stdout)
    broken = {item["entry_point"]: item for item in items if item["status"] == "broken"}
    assert {
        "gone": (
            "broadcaster-gone",
            "0.3.0",
            "cannot be imported: ModuleNotFoundError(\"No module named 'broadcaster_gone'\")",
        ),
        "crash": (
            "broadcaster-crash",
            "0.3.0",
            "cannot be imported: ImportError('libcrash.so: cannot open shared object')",
        ),
        "negative": (
            "broadcaster-negative",
            "0.3.0",
            "entry point 'negative' (distribution broadcaster-negative 0.3.0): provider 'negative':"
            " spec.rate_per_second is -1.0 (must be positive and finite)",
        ),
    } == {name: (item["distribution"], item["version"], item["error"]) for name, item in broken.items()}
    working = sorted(item["provider"] for item in items if item["status"] == "ok")
    assert ["instagram", "ntfy", "telegram", "viber", "whatsapp"] == working
    for name, dist in (
        ("gone", "broadcaster-gone"),
        ("crash", "broadcaster-crash"),
        ("negative", "broadcaster-negative"),
    ):
        assert f"warning: entry point '{name}' (distribution {dist} 0.3.0) is broken" in result.stderr


def test_the_table_shows_them_too(cli):
    result = cli("plugins")
    assert 0 == result.returncode, result.stderr
    assert "broken entry point" in result.stdout
    for name in ("gone", "crash", "negative", "telegram"):
        assert name in result.stdout


def test_commands_that_do_not_use_them_carry_on(cli, tmp_path):
    assert 0 == cli("plugins", "check", "ntfy", "--examples", "5").returncode
    made = cli("plugin", "new", "fine", "--dir", str(tmp_path / "fine"))
    assert 0 == made.returncode, made.stderr
    assert (tmp_path / "fine" / "pyproject.toml").is_file()


def test_using_a_broken_provider_says_why_in_one_line(cli):
    result = cli("plugins", "check", "negative", "--examples", "5")
    assert 1 == result.returncode
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: no plugin provides 'negative' (known providers: instagram, ntfy, telegram,")
    assert "spec.rate_per_second is -1.0 (must be positive and finite)" in line and "Traceback" not in result.stderr
