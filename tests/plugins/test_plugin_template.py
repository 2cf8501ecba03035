"""``broadcaster plugin new``: the plugin it writes installs, passes its own tests and the
kit, passes ``mypy --strict`` from outside this repository, is listed by ``broadcaster
plugins`` and rehearses an outage — exactly as an author would run it, in a temp folder.

The plugin is installed with pip (``--no-deps --no-build-isolation --target``) into a
folder put on ``PYTHONPATH`` of subprocesses, so this test environment's own plugins
stay as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from broadcaster.cli import main

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    ".gitignore",
    "README.md",
    "acme-outage.toml",
    "broadcaster_acme/__init__.py",
    "broadcaster_acme/examples.py",
    "broadcaster_acme/fake.py",
    "broadcaster_acme/py.typed",
    "pyproject.toml",
    "tests/test_acme.py",
]


def written(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_plugin_new_writes_a_distribution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plugin", "new", "acme"])
    assert 0 == result.exit_code, result.output
    target = tmp_path / "broadcaster-acme"
    assert (
        f"wrote broadcaster-acme (9 files) in {target}\n"
        f"next: cd {target} && pip install -e '.[test]' && pytest && mypy\n"
    ) == result.stdout
    assert FILES == written(target)
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points.broadcaster]\nacme = "broadcaster_acme"\n' in pyproject
    assert "class Acme(Provider):" in (target / "broadcaster_acme" / "__init__.py").read_text()
    assert "$" not in "".join((target / name).read_text() for name in FILES)  # every placeholder filled


def test_underscored_names_make_a_dashed_distribution(tmp_path):
    result = CliRunner().invoke(main, ["plugin", "new", "acme_chat", "--dir", str(tmp_path / "here")])
    assert 0 == result.exit_code, result.output
    text = (tmp_path / "here" / "pyproject.toml").read_text()
    assert 'name = "broadcaster-acme-chat"' in text and 'acme_chat = "broadcaster_acme_chat"' in text
    assert "class AcmeChat(Provider):" in (tmp_path / "here" / "broadcaster_acme_chat" / "__init__.py").read_text()


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Acme", "plugin name 'Acme' is not a lower-case Python identifier"),
        ("acme-chat", "plugin name 'acme-chat' is not a lower-case Python identifier"),
        ("1acme", "plugin name '1acme' is not a lower-case Python identifier"),
        ("class", "plugin name 'class' is not a lower-case Python identifier"),
        ("", "plugin name '' is not a lower-case Python identifier"),
        (
            "telegram",
            "plugin name 'telegram' is taken: an installed plugin already provides 'telegram' (see broadcaster plugins)",
        ),
        ("ntfy", "plugin name 'ntfy' is taken: an installed plugin already provides 'ntfy' (see broadcaster plugins)"),
        ("simulator", "plugin name 'simulator' is taken: the distribution broadcaster-simulator 0.1.0 is installed"),
    ],
)
def test_a_bad_name_is_one_line_and_writes_nothing(tmp_path, monkeypatch, name, error):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plugin", "new", name])
    assert 1 == result.exit_code
    assert error in result.stderr and 1 == len(result.stderr.splitlines()), result.stderr
    assert [] == list(tmp_path.iterdir())


def test_an_existing_directory_is_refused_and_left_alone(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    result = CliRunner().invoke(main, ["plugin", "new", "acme", "--dir", str(tmp_path / "taken")])
    assert 1 == result.exit_code
    assert f"error: {tmp_path / 'taken'} already exists — choose another --dir, or remove it first\n" == result.stderr
    assert ["taken"] == [p.name for p in tmp_path.iterdir()] and ["mine.txt"] == written(tmp_path / "taken")


def test_a_missing_parent_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["plugin", "new", "acme", "--dir", str(tmp_path / "no" / "such")])
    assert 1 == result.exit_code
    assert f"error: {tmp_path / 'no'} is not a directory — create it first, or choose another --dir\n" == result.stderr
    assert [] == list(tmp_path.iterdir())


# -- the generated plugin, installed and used from outside the repository ---------------------


def environment(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROADCASTER_", "HYPOTHESIS_", "PYTEST_"))}
    env["PYTHONPATH"] = str(site)
    return env


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """broadcaster-acme as `plugin new` wrote it, pip-installed into its own site folder."""
    base = tmp_path_factory.mktemp("author")
    site = base / "site"
    env = environment(site)
    made = run([sys.executable, "-m", "broadcaster.cli", "plugin", "new", "acme"], cwd=base, env=env)
    assert 0 == made.returncode, made.stderr
    dist = base / "broadcaster-acme"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index"]
    pip += ["--no-deps", "--no-build-isolation", "--target", str(site), str(dist)]
    done = run(pip, cwd=base, env=env)
    assert 0 == done.returncode, done.stdout + done.stderr
    return dist, env


def test_the_generated_plugin_passes_its_own_tests(installed):
    dist, env = installed
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=dist, env=env)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "19 passed" in result.stdout


def test_the_generated_plugin_passes_mypy_strict_from_its_own_folder(installed, tmp_path):
    dist, env = installed
    # This environment's broadcaster is an editable install, whose import hook mypy cannot
    # follow; an author's pip-installed broadcaster sits in site-packages. MYPYPATH stands
    # in for that: mypy reads broadcaster's own sources and their inline types (py.typed).
    env = {**env, "MYPYPATH": str(ROOT)}
    args = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy")]
    result = run(args, cwd=dist, env=env)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "Success: no issues found in 4 source files" in result.stdout


def test_the_generated_plugin_is_listed_and_passes_the_kit_from_the_command_line(installed):
    dist, env = installed
    cli = [sys.executable, "-m", "broadcaster.cli"]
    listing = run([*cli, "plugins", "--json"], cwd=dist, env=env)
    assert 0 == listing.returncode, listing.stderr
    [acme] = [item for item in json.loads(listing.stdout) if item["provider"] == "acme"]
    assert ("ok", "acme", "broadcaster-acme", "0.1.0", ["build_call", "interpret_reply"]) == (
        acme["status"],
        acme["entry_point"],
        acme["distribution"],
        acme["version"],
        acme["methods"],
    )
    kit = run([*cli, "plugins", "check", "acme", "--examples", "30"], cwd=dist, env=env)
    assert (0, "acme: the conformance kit passed (30 examples per property)\n") == (kit.returncode, kit.stdout)


def test_the_generated_plugin_rehearses_an_outage(installed, tmp_path):
    dist, env = installed
    args = [sys.executable, "-m", "broadcaster.cli", "rehearse", "acme-outage.toml", "--store", str(tmp_path / "r.db")]
    result = run(args, cwd=dist, env=env)
    assert 0 == result.returncode, result.stdout + result.stderr
    out = result.stdout
    assert "Original broadcast r1: 200 targeted, COMPLETED" in out
    assert "delivered 100  failed 100  skipped 0" in out
    assert "acme:5xx:server_error   100" in out
    assert "Retry #1 r2 (retry of r1): 100 targeted, COMPLETED" in out
    assert "reached over the chain: 200 of 200 (100.00%); still failed: 0 (0 systemic)" in out
    assert "FAIL" not in out.split("Checks:")[1]
