"""``schedule`` (a draft onto the schedule), ``clone`` (a new draft like a broadcast) and
``retry --dry-run`` (the Retry dialog, read-only)."""

from __future__ import annotations

import time

import click

from .base import App, emit_json, json_option, pass_app
from .render import broadcast_json
from .times import WHEN_HELP, WhenType, format_time, parse_when

__all__ = ["clone", "retry_dry_run", "schedule"]


@click.command()
@click.argument("broadcast_id")
@click.option("--run-at", "run_at", type=WhenType(), default=None, help=f"When to fire (default now): {WHEN_HELP}.")
@json_option
@pass_app
def schedule(app: App, broadcast_id: str, run_at: str | None, as_json: bool) -> None:
    """Put a DRAFT on the schedule: it becomes SCHEDULED and fires at its run-at.

    \b
    Examples:
      broadcaster schedule b1a2b3c4
      broadcaster schedule b1a2b3c4 --run-at "tomorrow 09:00"
    """
    at = None if run_at is None else parse_when(run_at, now=time.time(), zone=app.zone)
    scheduled = app.service.schedule(broadcast_id, run_at=at)
    if as_json:
        emit_json(broadcast_json(scheduled))
        return
    click.echo(f"{scheduled.id} is SCHEDULED, runs at {format_time(scheduled.run_at, app.zone)}")


@click.command()
@click.argument("broadcast_id")
@click.option("--name", default=None, help="Name of the copy (default: '<name> (copy)').")
@json_option
@pass_app
def clone(app: App, broadcast_id: str, name: str | None, as_json: bool) -> None:
    """Copy a broadcast's configuration and audience (its filter, or its ID list) into a new DRAFT.

    The way to redrive a broadcast whose rows aged out: it re-targets the whole audience.

    \b
    Example:
      broadcaster clone b1a2b3c4 && broadcaster schedule <NEW-ID>
    """
    copy = app.service.clone(broadcast_id, name=name)
    if as_json:
        emit_json(broadcast_json(copy))
        return
    click.echo(f"created {copy.id} (DRAFT, a copy of {broadcast_id}); schedule it with: broadcaster schedule {copy.id}")


def retry_dry_run(app: App, broadcast_id: str, *, as_json: bool) -> None:
    preview = app.service.retry_preview(broadcast_id)
    refusal = None if preview.refusal is None else " ".join(str(preview.refusal).split())
    if as_json:
        emit_json(
            {
                "retryable": preview.retryable,
                "refusal": refusal,
                "contacts_to_retry": preview.contacts_to_retry,
                "outcome_unknown": preview.outcome_unknown,
                "pending_retry": preview.pending_retry,
            }
        )
        return
    click.echo(f"contacts to retry: {preview.contacts_to_retry}")
    if preview.outcome_unknown:
        click.echo(
            f"of them outcome_unknown: {preview.outcome_unknown} (their request may have left; they may already have it)"
        )
    click.echo("retry would be created (dry run: nothing was)" if refusal is None else f"retry refused: {refusal}")
