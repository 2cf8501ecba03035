"""docs/api.md's product flow, run as written: its curl and Python blocks, against ``serve``.

Where the page says a worker runs the broadcast, a stand-in worker process records rows
(two FAILED) while the page's Python subscriber watches.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from broadcaster.core.lifecycle import State

from .conftest import finish

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"


def blocks() -> list[tuple[str, str]]:
    flow = DOC.read_text().split("## The product flow, by API", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(sh|python)\n(.*?)```", flow, re.S)]


def test_the_product_flow_by_api_runs_as_written(server, tmp_path):
    env = {**os.environ, "API": server.url, "TOKEN": server.tokens["write"], "PYTHONPATH": str(ROOT)}
    found = blocks()
    assert [kind for kind, _ in found] == ["sh", "sh", "python", "sh", "sh", "sh", "sh"]

    prelude: list[str] = []  # the variables earlier blocks set, as one shell session would have them

    def sh(code: str) -> str:
        script = "\n".join([*prelude, code])
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        prelude.extend(line for line in code.splitlines() if re.match(r"^(export )?[A-Z_]+=", line))
        return done.stdout

    sh(found[0][1])
    created = json.loads(sh(found[1][1]))["data"]["createBroadcast"]
    assert (created["state"], created["audienceSizeEstimate"]) == ("SCHEDULED", 5)
    # the worker fires it: SENDING, then rows from another process while the page's subscriber watches
    finish(server.db, created["id"], {}, state=State.SENDING)
    watcher = subprocess.Popen([sys.executable, "-c", found[2][1]], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    worker = subprocess.run(
        [sys.executable, "-m", "tests.api.recorder", str(server.db), created["id"],
         "c1,c3=provider_error", "c5,c7=outcome_unknown,c9=opted_out"],  # fmt: skip
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    lines = out.splitlines()
    assert "N3 FAILED telegram:5xx:server_error" in lines and "N1 DELIVERED " in lines
    assert lines[-1] == ("{'state': 'COMPLETED', 'delivered': 2, 'failed': 2, 'skipped': 1, 'deliveryRate': 0.4}")
    streamed = sh(found[3][1])
    assert streamed.startswith("event: next\ndata: ") and streamed.endswith("event: complete\ndata:\n\n")
    numbers = json.loads(sh(found[4][1]))["data"]
    assert numbers["broadcast"]["retryEligibility"] == {
        "retryable": True,
        "refusal": None,
        "contactsToRetry": 2,
        "outcomeUnknown": 1,
    }
    assert {r["contact"]["id"] for r in numbers["history"]["rows"]} == {"c3", "c7"}
    retry = json.loads(sh(found[5][1]))["data"]["retryFailedContacts"]
    assert (retry["state"], retry["retryOfBroadcastId"], retry["audienceSizeEstimate"]) == (
        "SCHEDULED",
        created["id"],
        2,
    )
    chain = json.loads(sh(found[6][1]))["data"]
    assert [b["id"] for b in chain["broadcast"]["lineage"]] == [created["id"], retry["id"]]
    assert chain["source"] == {"retries": [{"id": retry["id"]}], "descendants": [{"id": retry["id"]}]}
    again = json.loads(sh(found[5][1]))
    assert again["errors"][0]["extensions"] == {"code": "CONFLICT", "retryId": retry["id"]}
