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
import shlex
import subprocess
import sys
from pathlib import Path

import attrs
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

#: docs/writing-a-plugin.md's commands, exactly (a test below reads them from the page)
COMMANDS = [
    "broadcaster plugin new acme",
    "cd broadcaster-acme",
    "pip install -e '.[test]'",
    "pytest",
    "mypy",
    "broadcaster plugins",
    "broadcaster plugins check acme",
    "broadcaster rehearse acme-outage.toml",
]


def doc_commands() -> list[str]:
    text = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    marker = "<!-- tests/plugins/test_plugin_template.py runs these commands, in this order -->\n```sh\n"
    block = text[text.index(marker) + len(marker) :]
    return block[: block.index("```")].splitlines()


def test_the_docs_commands_are_the_ones_run_here():
    assert COMMANDS == doc_commands()


def environment(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROADCASTER_", "HYPOTHESIS_", "PYTEST_"))}
    env["PYTHONPATH"] = str(site)
    return env


def argv(command: str, site: Path) -> list[str]:
    """A command of the page as run here: each tool in this interpreter (``python -m``).

    ``pip install -e '.[test]'`` is the one that differs: the plugin goes into a folder
    of its own on ``PYTHONPATH`` (``--target``), not into this shared environment, and
    with ``--no-deps --no-build-isolation`` (its dependencies are installed here already;
    no index is needed).
    """
    words = shlex.split(command)
    if words[0] == "broadcaster":
        return [sys.executable, "-m", "broadcaster.cli", *words[1:]]
    if words == ["pip", "install", "-e", ".[test]"]:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index"]
        return [*pip, "--no-deps", "--no-build-isolation", "--target", str(site), "."]
    assert words[0] in ("pytest", "mypy"), command
    return [sys.executable, "-m", *words]


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@attrs.frozen
class Author:
    """The author's folder after the page's first commands, and how to run the rest."""

    dist: Path
    site: Path
    env: dict[str, str]

    def run(self, command: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        assert command in COMMANDS
        result = run(argv(command, self.site), cwd=self.dist, env={**self.env, **extra_env})
        assert 0 == result.returncode, f"{command}: {result.stdout}{result.stderr}"
        return result


@pytest.fixture(scope="module")
def author(tmp_path_factory):
    """broadcaster-acme as `plugin new` wrote it, pip-installed into its own site folder."""
    base = tmp_path_factory.mktemp("author")
    site = base / "site"
    env = environment(site)
    made = run(argv(COMMANDS[0], site), cwd=base, env=env)
    assert 0 == made.returncode, made.stderr
    assert "cd broadcaster-acme" == COMMANDS[1]
    author = Author(base / "broadcaster-acme", site, env)
    author.run(COMMANDS[2])
    return author


def test_the_generated_plugin_passes_its_own_tests(author):
    assert "19 passed" in author.run("pytest").stdout


def test_the_generated_plugin_passes_mypy_strict_from_its_own_folder(author):
    assert "strict = true" in (author.dist / "pyproject.toml").read_text()
    # This environment's broadcaster is an editable install, whose import hook mypy cannot
    # follow; an author's pip-installed broadcaster sits in site-packages. MYPYPATH stands
    # in for that: mypy reads broadcaster's own sources and their inline types (py.typed).
    result = author.run("mypy", MYPYPATH=str(ROOT))
    assert "Success: no issues found in 4 source files" in result.stdout


def test_the_generated_plugin_is_listed(author):
    table = author.run("broadcaster plugins").stdout
    assert "│ acme      │ acme        │ broadcaster-acme 0.1.0      │ text" in table
    listing = run(argv("broadcaster plugins --json", author.site), cwd=author.dist, env=author.env)
    [acme] = [item for item in json.loads(listing.stdout) if item["provider"] == "acme"]
    assert ("ok", "acme", "broadcaster-acme", "0.1.0", ["build_call", "interpret_reply"]) == (
        acme["status"],
        acme["entry_point"],
        acme["distribution"],
        acme["version"],
        acme["methods"],
    )


def test_the_generated_plugin_passes_the_kit_from_the_command_line(author):
    result = author.run("broadcaster plugins check acme")
    assert "acme: the conformance kit passed (100 examples per property)\n" == result.stdout


def test_the_generated_plugin_rehearses_an_outage(author):
    out = author.run("broadcaster rehearse acme-outage.toml").stdout
    assert "Original broadcast r1: 200 targeted, COMPLETED" in out
    assert "delivered 100  failed 100  skipped 0" in out
    assert "acme:5xx:server_error   100" in out
    assert "Retry #1 r2 (retry of r1): 100 targeted, COMPLETED" in out
    assert "reached over the chain: 200 of 200 (100.00%); still failed: 0 (0 systemic)" in out
    assert "FAIL" not in out.split("Checks:")[1]
