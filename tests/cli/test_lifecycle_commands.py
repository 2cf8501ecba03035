"""``schedule``, ``clone`` and ``retry --dry-run`` end to end."""

from __future__ import annotations

import json

from .test_bad_input import HOSTILE_TEXT, refused, world  # noqa: F401  (world: the fixture)
from .test_broadcast_commands import create, finished


def test_a_draft_is_scheduled_and_a_broadcast_cloned(ready):
    draft = create(ready, "--filter", 'city = "Oslo"', "--draft")
    assert draft["state"] == "DRAFT"
    result = ready("schedule", draft["id"], "--run-at", "2030-01-01T09:00")
    assert result.exit_code == 0, result.stderr
    assert result.output == f"{draft['id']} is SCHEDULED, runs at 2030-01-01T09:00:00+00:00\n"
    again = ready("schedule", draft["id"])
    assert (again.exit_code, again.stderr) == (
        1,
        "error: cannot schedule a broadcast that is SCHEDULED — wait until it fires, or cancel it\n",
    )
    copy = json.loads(ready("clone", draft["id"], "--json").output)
    assert (copy["state"], copy["name"]) == ("DRAFT", f"{draft['id']} (copy)")
    assert copy["audience"] == {"filter": 'city = "Oslo"', "contact_ids": None}
    named = ready("clone", draft["id"], "--name", "again")
    assert named.exit_code == 0 and named.output.startswith("created b") and "broadcaster schedule" in named.output
    assert ready("clone", "bnope").stderr.startswith("error: no broadcast with id 'bnope'")


def test_retry_dry_run_counts_and_creates_nothing(ready):
    bid = finished(ready)
    before = ready.dump()
    result = ready("retry", bid, "--dry-run")
    assert result.output == "contacts to retry: 2\nretry would be created (dry run: nothing was)\n"
    assert ready.dump() == before
    assert ready("retry", bid).exit_code == 0
    blocked = json.loads(ready("retry", bid, "--dry-run", "--json").output)
    retry_id = blocked["pending_retry"]
    assert blocked == {
        "retryable": False,
        "refusal": f"broadcast {bid} already has retry {retry_id}, which has not finished; a second retry would send"
        f" to the same FAILED contacts — retry {retry_id} instead once it finishes, or give an explicit contact-ID list",
        "contacts_to_retry": 2,
        "outcome_unknown": 0,
        "pending_retry": retry_id,
    }
    second = ready("retry", bid)
    assert second.exit_code == 1 and f"already has retry {retry_id}" in second.stderr


def test_the_new_commands_refuse_hostile_input_in_one_line(world):  # noqa: F811  (the fixture imported above)
    cli, broadcast_id = world
    for text in HOSTILE_TEXT:
        for command in ("schedule", "clone"):
            refused(cli, command, text or "-")
        refused(cli, "retry", text or "-", "--dry-run")
        refused(cli, "tokens", "create", text or "-", "--scope", "read")
        refused(cli, "tokens", "revoke", text or "-")
    refused(cli, "schedule", broadcast_id)  # COMPLETED: cannot be scheduled
    refused(cli, "schedule", broadcast_id, "--run-at", "yesterday-ish")
    refused(cli, "tokens", "create", "ok", "--scope", "admin")
    refused(cli, "serve", "--port", "99999")
    refused(cli, "--store", "missing.db", "serve")
