"""``history ID``: the seed's history table — paginated, filtered, exported, followed live."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import trio

from ..core.outcomes import Outcome
from ..runtime.live import follow
from .base import App, CliError, FiniteRange, emit_json, json_option, pass_app
from .escaping import clean
from .render import console, history_table, percent, row_cells, row_json

__all__ = ["history"]


@click.command()
@click.argument("broadcast_id")
@click.option("--status", type=click.Choice([o.value for o in Outcome], case_sensitive=False), default=None)
@click.option("--search", default=None, help="Only contacts whose name contains this text.")
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50, show_default=True, help="Rows per page.")
@click.option(
    "--cursor", type=click.IntRange(min=1, max=2**63 - 1), default=None, help="Continue from a previous page's cursor."
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the whole (filtered) history as CSV to this file ('-' for stdout).")  # fmt: skip
@click.option("--follow", "follow_live", is_flag=True, help="Keep printing new rows while the broadcast is SENDING.")
@click.option(
    "--poll", type=FiniteRange(min=0.05, max=3600), default=0.5, show_default=True, help="--follow's poll interval (s)."
)
@json_option
@pass_app
def history(
    app: App,
    broadcast_id: str,
    status: str | None,
    search: str | None,
    limit: int,
    cursor: int | None,
    csv_path: Path | None,
    follow_live: bool,
    poll: float,
    as_json: bool,
) -> None:
    """Show one row per contact of a broadcast, newest first.

    \b
    Examples:
      broadcaster history b1a2b3c4 --status FAILED
      broadcaster history b1a2b3c4 --search ada --limit 20 --cursor 1234
      broadcaster history b1a2b3c4 --csv failures.csv --status FAILED
      broadcaster history b1a2b3c4 --follow
    """
    store = app.store
    outcome = None if status is None else Outcome(status.upper())
    store.get_broadcast(broadcast_id)  # NotFound before anything is written
    if csv_path is not None:
        if follow_live:
            raise click.UsageError("--csv and --follow exclude each other")
        _export(app, broadcast_id, csv_path, outcome, search)
        return
    page = store.history(broadcast_id, outcome=outcome, search=search, cursor=cursor, limit=limit)
    if as_json and not follow_live:
        emit_json({"rows": [row_json(row) for row in page.rows], "next_cursor": page.next_cursor})
        return
    if not as_json:
        console().print(history_table(page.rows, app.zone))
        if page.next_cursor is not None:
            click.echo(f"more rows: --cursor {page.next_cursor}")
    if follow_live:
        trio.run(_follow, app, broadcast_id, outcome, search, poll, as_json)


def _export(app: App, broadcast_id: str, path: Path, outcome: Outcome | None, search: str | None) -> None:
    if str(path) == "-":
        app.store.export_csv(broadcast_id, sys.stdout, outcome=outcome, search=search)
        return
    try:
        with path.open("w", encoding="utf-8", newline="") as file:
            written = app.store.export_csv(broadcast_id, file, outcome=outcome, search=search)
    except OSError as exc:
        raise CliError(
            f"cannot write {path}: {exc.strerror or exc}", hint="check the directory exists and is writable"
        ) from None
    click.echo(f"wrote {written} rows to {path}")


async def _follow(
    app: App, broadcast_id: str, outcome: Outcome | None, search: str | None, poll: float, as_json: bool
) -> None:
    needle = (search or "").lower()
    last = None
    async for update in follow(app.store, broadcast_id, poll=poll):
        for row in update.rows:
            if outcome is not None and row.outcome is not outcome:
                continue
            if needle and needle not in row.contact_name.lower():
                continue
            if as_json:
                click.echo(_json_line(row_json(row)))
            else:
                click.echo(clean("  ".join(cell for cell in row_cells(row, app.zone) if cell)))
        last = update.broadcast
    if last is not None and not as_json:
        c = last.counters
        click.echo(
            f"{last.id} {last.state.value}: {c.delivered} delivered, {c.failed} failed, {c.skipped} skipped"
            f" (delivery {percent(c.delivery_rate)}, drop {percent(c.drop_rate)})"
        )


def _json_line(data: object) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)
