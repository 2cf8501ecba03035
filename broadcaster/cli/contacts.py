"""``contacts import`` (CSV or JSON Lines, all or nothing) and ``contacts list``.

CSV columns: ``id`` (required), ``name``, ``opted_out`` (true/false/yes/no/1/0, empty =
false), ``chat:<integration>`` (the contact's chat id there), ``last_inbound:<integration>``
(when the contact last wrote there, ISO 8601; opens messaging windows), and any other
column is a contact field: a whole number or a decimal becomes a number when it reads back
the same, anything else stays text, an empty cell means the field is absent.

JSON Lines: one contact per line in the model's own shape (``docs/domain-model.md``)::

    {"id": "c1", "name": "Ada", "fields": {"city": "Oslo"}, "chats": [{"integration": "tg", "chat_id": "42"}]}
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Iterator

import attrs
import cattrs
import click

from ..core.filters import parse_timestamp
from ..core.models import Chat, Contact, FieldValue
from ..strict import describe
from .base import App, BroadcasterGroup, CliError, emit_json, json_option, pass_app, unstructure
from .escaping import SafeTable, clean
from .files import check_lines, read_text, structure
from .render import console

__all__ = ["contacts", "parse_contacts"]

_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
_MAX_ERRORS_SHOWN = 50


@attrs.frozen
class BadRow:
    line: int
    why: str


def _cell_value(text: str) -> FieldValue:
    if _INT.fullmatch(text) and -(2**63) <= int(text) < 2**63:
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _csv_contact(row: dict[str, str | None]) -> Contact:
    contact_id = (row.get("id") or "").strip()
    if not contact_id:
        raise ValueError("the id is empty")
    fields: dict[str, FieldValue] = {}
    chats: dict[str, str] = {}
    inbound: dict[str, float] = {}
    opted_out = False
    for column, raw in row.items():
        if column is None:
            raise ValueError("more cells than the header has columns")
        value = (raw or "").strip()
        if column in ("id", "name"):
            continue
        if column == "opted_out":
            if value.lower() not in _TRUE | _FALSE:
                raise ValueError(f"opted_out must be true or false, not {value!r}")
            opted_out = value.lower() in _TRUE
        elif column.startswith("chat:"):
            if value:
                chats[column[5:]] = value
        elif column.startswith("last_inbound:"):
            if value:
                at = parse_timestamp(value)
                if at is None:
                    raise ValueError(f"{column} must be an ISO 8601 time like 2026-01-05T09:00:00Z, not {value!r}")
                inbound[column[13:]] = at
        elif value:
            fields[column] = _cell_value(value)
    for integration in inbound:
        if integration not in chats:
            raise ValueError(f"last_inbound:{integration} is set but chat:{integration} is empty")
    return Contact(
        contact_id,
        (row.get("name") or "").strip(),
        fields=fields,
        opted_out=opted_out,
        chats=tuple(Chat(i, chat_id, inbound.get(i)) for i, chat_id in chats.items()),
    )


def _csv_rows(text: str) -> Iterator[tuple[int, Contact | BadRow]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if "id" not in header:
        raise CliError("the CSV header has no 'id' column", hint="the first line must name the columns, one being id")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CliError(f"the CSV header names the column {duplicates[0]!r} twice")
    line = reader.line_num
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            # a cell past the csv module's size limit, an unterminated quote: the rest is unreadable
            raise CliError(f"line {reader.line_num}: the CSV cannot be read ({exc})", hint="fix the file") from None
        # the row's first line (a quoted cell may span lines)
        start, line = line + 1, reader.line_num
        try:
            yield start, _csv_contact(row)
        except ValueError as exc:
            yield start, BadRow(start, str(exc))


def _jsonl_rows(text: str) -> Iterator[tuple[int, Contact | BadRow]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadRow(number, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(data, dict):
            yield number, BadRow(number, "expected a JSON object")
            continue
        try:
            yield number, structure(data, Contact)
        except cattrs.ClassValidationError as exc:
            yield number, BadRow(number, describe(exc))
        except (TypeError, ValueError) as exc:
            yield number, BadRow(number, str(exc))


def parse_contacts(text: str, fmt: str) -> tuple[list[Contact], list[BadRow]]:
    """Every good contact and every bad row (with its line) of a CSV or JSON Lines text."""
    good: list[Contact] = []
    bad: list[BadRow] = []
    first_line: dict[str, int] = {}
    for line, parsed in _csv_rows(text) if fmt == "csv" else _jsonl_rows(text):
        if isinstance(parsed, BadRow):
            bad.append(parsed)
        elif parsed.id in first_line:
            bad.append(BadRow(line, f"duplicate id {parsed.id!r} (first on line {first_line[parsed.id]})"))
        else:
            first_line[parsed.id] = line
            good.append(parsed)
    return good, bad


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise click.UsageError(f"cannot tell the format of {path.name} from its extension; give --format csv or jsonl")


@click.group(cls=BroadcasterGroup)
def contacts() -> None:
    """Import and list contacts.

    \b
    Example:
      broadcaster contacts import people.csv
      broadcaster contacts list --filter 'city = "Oslo"'
    """


@contacts.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="Default: from the extension.")
@click.option(
    "--skip-bad", is_flag=True, help="Import the good rows even when some are bad (each bad one is reported)."
)
@json_option
@pass_app
def import_contacts(app: App, file: Path, fmt: str | None, skip_bad: bool, as_json: bool) -> None:
    """Import (insert or replace) contacts from a CSV or JSON Lines FILE.

    All or nothing: one bad row and nothing is imported, unless --skip-bad. Every bad
    row is reported with its line number and why.

    \b
    Example people.csv:
      id,name,city,chat:tg,chat:wa,last_inbound:wa
      c1,Ada,Oslo,42,4790000001,2026-01-05T09:00:00Z
      c2,Bo,Rome,43,,
    \b
      broadcaster contacts import people.csv
      broadcaster contacts import people.jsonl --skip-bad
    """
    kind = _format_of(file, fmt)
    text = read_text(file)
    check_lines(file, text)
    good, bad = parse_contacts(text, kind)
    if len(bad) == 1 and not skip_bad:
        raise CliError(
            f"{file}:{bad[0].line}: {bad[0].why}; nothing imported",
            hint=f"fix it, or pass --skip-bad to import the {len(good)} good row(s)",
        )
    for row in bad[:_MAX_ERRORS_SHOWN]:
        click.echo(f"{file}:{row.line}: {row.why}", err=True)
    if len(bad) > _MAX_ERRORS_SHOWN:
        click.echo(f"{file}: ... and {len(bad) - _MAX_ERRORS_SHOWN} more bad rows", err=True)
    if bad and not skip_bad:
        raise CliError(
            f"{len(bad)} bad row(s) in {file}; nothing imported",
            hint=f"fix them, or pass --skip-bad to import the {len(good)} good row(s)",
        )
    imported = app.store.upsert_contacts(good) if good else 0
    if as_json:
        emit_json({"imported": imported, "skipped": len(bad), "bad_rows": [attrs.asdict(r) for r in bad]})
    else:
        click.echo(f"imported {imported} contacts" + (f", skipped {len(bad)} bad row(s)" if bad else ""))


@contacts.command("list")
@click.option("--filter", "audience_filter", default="", metavar="EXPR", help="Only contacts matching this filter.")
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50, show_default=True)
@click.option("--after", "after_id", default=None, help="Continue after this contact ID (pages in id order).")
@json_option
@pass_app
def list_contacts(app: App, audience_filter: str, limit: int, after_id: str | None, as_json: bool) -> None:
    """List contacts (in id order), optionally through an audience filter.

    \b
    Example:
      broadcaster contacts list --filter 'city = "Oslo" AND NOT opted_out = true' --limit 20
    """
    store = app.store
    total = store.count_contacts(audience_filter)
    page = store.contacts_page(audience_filter, after_id=after_id, limit=limit)
    if as_json:
        emit_json({"total": total, "contacts": [unstructure(c) for c in page]})
        return
    table = SafeTable("id", "name", "opted out", "chats", "fields")
    for contact in page:
        table.add_row(
            contact.id,
            contact.name,
            "yes" if contact.opted_out else "",
            " ".join(f"{chat.integration}:{chat.chat_id}" for chat in contact.chats),
            " ".join(f"{k}={v}" for k, v in contact.fields.items()),
        )
    console().print(table)
    more = f"; next page: --after {clean(page[-1].id)}" if page and len(page) == limit else ""
    click.echo(f"{total} matching contact(s){more}")
