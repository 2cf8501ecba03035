"""Broadcasts: ``create``, ``list``, ``show``, ``cancel``, ``edit``, ``retry``, ``lineage``, ``purge``."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..core.lifecycle import State
from ..core.models import Audience, Broadcast, FallbackTemplate, Mode, TemplateRoute
from ..core.schedule import overdue_by
from .base import App, emit_json, json_option, pass_app
from .escaping import SafeTable, clean
from .files import read_ids
from .lifecycle import retry_dry_run
from .render import broadcast_json, console, format_time, percent, summary_json, summary_lines
from .times import WHEN_HELP, WhenType, parse_when

__all__ = ["cancel", "create", "edit", "lineage", "list_broadcasts", "purge", "retry", "show"]

F = TypeVar("F", bound=Callable[..., Any])

_ROUTE_HELP = (
    "Template mode route, tried in order: 'INTEGRATION:TEMPLATE [language=en] [params=field,field] [when=FILTER]'."
)
_FALLBACK_HELP = "Flow mode fallback for a closed window: 'INTEGRATION:TEMPLATE [language=en] [params=field,field]'."


def _parse_spec(text: str, option: str, allowed: set[str]) -> dict[str, Any]:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: {exc}", param_hint=option) from None
    head = tokens[0] if tokens else ""
    integration, sep, template = head.partition(":")
    if not sep or not integration or not template:
        raise click.BadParameter(f"{text!r} must start with INTEGRATION:TEMPLATE", param_hint=option)
    spec: dict[str, Any] = {"integration": integration, "template": template}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or key not in allowed:
            raise click.BadParameter(
                f"{token!r} in {text!r}: expected one of {', '.join(f'{k}=...' for k in sorted(allowed))}",
                param_hint=option,
            )
        spec[key] = tuple(p.strip() for p in value.split(",") if p.strip()) if key == "params" else value
    return spec


def _routes(values: tuple[str, ...]) -> list[TemplateRoute]:
    return [TemplateRoute(**_parse_spec(v, "--route", {"language", "params", "when"})) for v in values]


def _fallbacks(values: tuple[str, ...]) -> list[FallbackTemplate]:
    return [FallbackTemplate(**_parse_spec(v, "--fallback", {"language", "params"})) for v in values]


def _config_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--name", default=None, help="A name operators recognise."),
            click.option("--flow", "flow_id", default=None, help="Flow mode: the flow to send."),
            click.option("--route", "routes", multiple=True, metavar="SPEC", help=_ROUTE_HELP),
            click.option("--fallback", "fallbacks", multiple=True, metavar="SPEC", help=_FALLBACK_HELP),
            click.option(
                "--channel",
                "channels",
                multiple=True,
                help="Flow mode: an integration to send through, in preference order.",
            ),
            click.option(
                "--filter",
                "audience_filter",
                default=None,
                metavar="EXPR",
                help="Audience filter (docs/filter-language.md); '' is everyone.",
            ),
            click.option(
                "--ids",
                "ids_file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Audience: a file of contact IDs, one per line.",
            ),
            click.option("--run-at", "run_at", type=WhenType(), default=None, help=f"When to fire: {WHEN_HELP}."),
        ]
    ):
        func = option(func)
    return func


def _audience_args(audience_filter: str | None, ids_file: Path | None) -> tuple[str | None, list[str] | None]:
    if audience_filter is not None and ids_file is not None:
        raise click.UsageError("give the audience as --filter or as --ids, not both")
    return audience_filter, None if ids_file is None else read_ids(ids_file)


@click.command()
@_config_options
@click.option(
    "--mode", type=click.Choice(["flow", "template"]), default=None, help="Default: template when --route is given."
)
@click.option("--draft", is_flag=True, help="Save as a DRAFT instead of scheduling it.")
@json_option
@pass_app
def create(
    app: App,
    name: str | None,
    flow_id: str | None,
    routes: tuple[str, ...],
    fallbacks: tuple[str, ...],
    channels: tuple[str, ...],
    audience_filter: str | None,
    ids_file: Path | None,
    run_at: str | None,
    mode: str | None,
    draft: bool,
    as_json: bool,
) -> None:
    """Create a broadcast (SCHEDULED, or a DRAFT) and show its audience estimate.

    \b
    Examples:
      broadcaster create --name spring --flow welcome --filter 'city = "Oslo"' --run-at "in 10m"
      broadcaster create --name promo --route 'wa:promo params=first_name' \\
          --route 'tg:promo_tg' --ids vip.txt --run-at 2026-03-01T09:00
      broadcaster create --flow welcome --fallback 'wa:reengage params=first_name' --filter ''
    """
    if audience_filter is None and ids_file is None:
        raise click.UsageError("give the audience: --filter EXPR ('' for everyone) or --ids FILE")
    filter_text, contact_ids = _audience_args(audience_filter, ids_file)
    chosen = Mode(mode) if mode else (Mode.TEMPLATE if routes and not flow_id else Mode.FLOW)
    now = time.time()
    broadcast = app.service.create(
        name=name or "",
        mode=chosen,
        flow_id=flow_id,
        routes=_routes(routes),
        fallbacks=_fallbacks(fallbacks),
        channels=channels,
        audience_filter=filter_text,
        contact_ids=contact_ids,
        run_at=None if run_at is None else parse_when(run_at, now=now, zone=app.zone),
        draft=draft,
    )
    if as_json:
        emit_json(broadcast_json(broadcast))
        return
    when = "" if broadcast.run_at is None else f", runs at {format_time(broadcast.run_at, app.zone)}"
    click.echo(f"created {broadcast.id} ({broadcast.state.value}{when})")
    click.echo(f"audience estimate: {broadcast.counters.audience_size_estimate} contacts")


@click.command("list")
@click.option("--state", type=click.Choice([s.value for s in State], case_sensitive=False), default=None)
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50, show_default=True)
@json_option
@pass_app
def list_broadcasts(app: App, state: str | None, limit: int, as_json: bool) -> None:
    """List broadcasts, newest first.

    \b
    Example:
      broadcaster list --state SCHEDULED
    """
    found = app.store.list_broadcasts(state=None if state is None else State(state.upper()), limit=limit)
    now = time.time()
    if as_json:
        emit_json([{**broadcast_json(b), "attention": _marker(app, b, now).strip(" ()") or None} for b in found])
        return
    if not found:
        click.echo("no broadcasts")
        return
    table = SafeTable(
        "id", "name", "state", "run at", "audience", "delivered", "failed", "skipped", "delivery", "retry of"
    )
    for b in found:
        c = b.counters
        size = c.audience_size_actual if c.audience_size_actual is not None else c.audience_size_estimate
        table.add_row(
            b.id,
            b.name,
            b.state.value + _marker(app, b, now),
            format_time(b.run_at, app.zone),
            "-" if size is None else str(size),
            str(c.delivered),
            str(c.failed),
            str(c.skipped),
            percent(c.delivery_rate),
            b.retry_of or "",
        )
    console().print(table)


def _marker(app: App, b: Broadcast, now: float) -> str:
    """What the state alone does not say: a SCHEDULED one that will not fire, a SENDING one not moving."""
    if overdue_by(b, now, max_lateness=app.config.max_lateness) is not None:
        return " (overdue)"
    if app.service.stalled_for(b) is not None:
        return " (stalled)"
    return ""


@click.command()
@click.argument("broadcast_id")
@json_option
@pass_app
def show(app: App, broadcast_id: str, as_json: bool) -> None:
    """Show a broadcast: state, counters, delivery and drop rates, duration, fallback share, lineage.

    \b
    Example:
      broadcaster show b1a2b3c4
    """
    summary = app.service.summary(broadcast_id)
    if as_json:
        emit_json(summary_json(summary))
        return
    lines = summary_lines(summary, app.zone)
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        click.echo(f"{label:<{width}}  {clean(value)}")


@click.command()
@click.argument("broadcast_id")
@pass_app
def cancel(app: App, broadcast_id: str) -> None:
    """Cancel a DRAFT or SCHEDULED broadcast, or ask a SENDING one to stop.

    \b
    Example:
      broadcaster cancel b1a2b3c4
    """
    before = app.store.get_broadcast(broadcast_id)
    after = app.service.cancel(broadcast_id)
    if before.state is State.SENDING:
        click.echo(f"cancel requested for {after.id}: in-flight sends finish, the rest are SKIPPED")
    else:
        click.echo(f"{after.id} is {after.state.value}")


@click.command()
@click.argument("broadcast_id")
@_config_options
@pass_app
def edit(
    app: App,
    broadcast_id: str,
    name: str | None,
    flow_id: str | None,
    routes: tuple[str, ...],
    fallbacks: tuple[str, ...],
    channels: tuple[str, ...],
    audience_filter: str | None,
    ids_file: Path | None,
    run_at: str | None,
) -> None:
    """Change a broadcast where the rules allow (see docs/retry.md).

    A DRAFT or SCHEDULED broadcast may change anything; a finished one only its
    configuration (flow, routes, fallbacks, channels, name) — for its retry — and only
    while that retry has not started. Lists given replace the old ones.

    \b
    Example: add a WhatsApp fallback to a finished broadcast, then retry it
      broadcaster edit b1a2b3c4 --fallback 'wa:reengage params=first_name'
      broadcaster retry b1a2b3c4
    """
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if flow_id is not None:
        changes["flow_id"] = flow_id
    if routes:
        changes["routes"] = tuple(_routes(routes))
    if fallbacks:
        changes["fallbacks"] = tuple(_fallbacks(fallbacks))
    if channels:
        changes["channels"] = tuple(channels)
    if audience_filter is not None or ids_file is not None:
        filter_text, contact_ids = _audience_args(audience_filter, ids_file)
        changes["audience"] = Audience(
            filter=filter_text, contact_ids=None if contact_ids is None else tuple(dict.fromkeys(contact_ids))
        )
    if run_at is not None:
        changes["run_at"] = parse_when(run_at, now=time.time(), zone=app.zone)
    if not changes:
        raise click.UsageError("nothing to change; give at least one option")
    updated = app.service.edit(broadcast_id, **changes)
    click.echo(f"{updated.id} updated: {', '.join(sorted(changes))}")


@click.command()
@click.argument("broadcast_id")
@click.option("--run-at", "run_at", type=WhenType(), default=None, help=f"When to fire (default in 2m): {WHEN_HELP}.")
@click.option(
    "--ids",
    "ids_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Advanced: retry exactly these contact IDs (one per line) instead of the FAILED ones.",
)
@click.option("--dry-run", is_flag=True, help="Only say whether it may run and how many contacts; create nothing.")
@json_option
@pass_app
def retry(app: App, broadcast_id: str, run_at: str | None, ids_file: Path | None, dry_run: bool, as_json: bool) -> None:
    """Redrive the FAILED contacts of a finished broadcast as a new, linked broadcast.

    SKIPPED contacts are never retried (the same configuration skips them again).
    The retry counts towards the quota like any broadcast.

    \b
    Examples:
      broadcaster retry b1a2b3c4
      broadcaster retry b1a2b3c4 --run-at "in 1h"
      broadcaster retry b1a2b3c4 --ids these.txt
      broadcaster retry b1a2b3c4 --dry-run
    """
    if dry_run:
        retry_dry_run(app, broadcast_id, as_json=as_json)
        return
    contact_ids = None if ids_file is None else read_ids(ids_file)
    at = None if run_at is None else parse_when(run_at, now=time.time(), zone=app.zone)
    service = app.service
    count = len(dict.fromkeys(contact_ids)) if contact_ids is not None else service.retryable_count(broadcast_id)
    spawned = service.retry(broadcast_id, run_at=at, contact_ids=contact_ids)
    if as_json:
        emit_json({**broadcast_json(spawned), "contacts_to_retry": count})
        return
    click.echo(f"contacts to retry: {count}")
    click.echo(
        f"created {spawned.id} (retry of {broadcast_id}, SCHEDULED, runs at {format_time(spawned.run_at, app.zone)})"
    )


@click.command()
@click.argument("broadcast_id")
@json_option
@pass_app
def lineage(app: App, broadcast_id: str, as_json: bool) -> None:
    """Trace a retry chain: the original, each retry down to BROADCAST_ID, and the retries after it.

    \b
    Example:
      broadcaster lineage b1a2b3c4
    """
    service = app.service
    chain: list[Broadcast] = service.lineage(broadcast_id) + service.descendants(broadcast_id)
    if as_json:
        emit_json([broadcast_json(b) for b in chain])
        return
    table = SafeTable("attempt", "id", "retry of", "state", "audience", "delivered", "failed", "skipped")
    for attempt, b in enumerate(chain, start=1):
        c = b.counters
        size = c.audience_size_actual if c.audience_size_actual is not None else c.audience_size_estimate
        marker = " ←" if b.id == broadcast_id else ""
        table.add_row(
            str(attempt), b.id + marker, b.retry_of or "-", b.state.value, "-" if size is None else str(size),
            str(c.delivered), str(c.failed), str(c.skipped),
        )  # fmt: skip
    console().print(table)


@click.command()
@json_option
@pass_app
def purge(app: App, as_json: bool) -> None:
    """Apply the 30-day retention now: delete older dispatch rows (counters stay forever).

    The worker (`broadcaster run`) also does this every hour.

    \b
    Example:
      broadcaster purge
    """
    deleted = app.service.purge()
    if as_json:
        emit_json({"rows_deleted": deleted})
    else:
        click.echo(f"purged {deleted} dispatch rows older than 30 days")
