"""Issue 10 item 15: the quickstart works as written for a new user."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")


def test_step_0_installs_without_running_the_test_suite():
    first_block = QUICKSTART.split("```sh", 1)[1].split("```", 1)[0]
    assert "python3 dev.py install" in first_block
    assert "dev.py test" not in first_block


def test_step_4_says_to_stop_the_worker_of_step_3():
    step_4 = QUICKSTART.split("## 4.", 1)[1]
    before_commands = step_4.split("```sh", 1)[0]
    assert "stop the worker of step 3" in before_commands.lower()


def test_the_demo_folder_is_ignored_by_git():
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "demo/broadcaster.toml"], cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0
