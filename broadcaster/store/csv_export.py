"""History rows as CSV cells: ISO 8601 UTC times, spreadsheet formulas neutralised."""

from __future__ import annotations

import datetime as _dt
from typing import Final

from broadcaster.core.models import DispatchRow

__all__ = ["FORMULA_PREFIXES", "csv_cells", "iso_utc", "neutralise"]

#: a cell starting with one of these is run as a formula by spreadsheet software
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
#: spreadsheets skip these before looking for a formula
_LEADING_BLANKS: Final = " \t\r\n\x0b\x0c"


def neutralise(cell: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would evaluate (CSV injection), also when
    blanks or line breaks come before the formula sign."""
    risky = cell.startswith(FORMULA_PREFIXES) or cell.lstrip(_LEADING_BLANKS).startswith(FORMULA_PREFIXES)
    return "'" + cell if risky else cell


def iso_utc(seconds: float | None) -> str:
    if seconds is None:
        return ""
    try:
        moment = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    except (OverflowError, OSError, ValueError):
        return repr(seconds)  # a stored value no calendar shows still exports
    timespec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def csv_cells(row: DispatchRow) -> list[str]:
    """The cells of one row, in :data:`broadcaster.store.base.CSV_COLUMNS` order."""
    cells = [
        row.contact_name,
        row.contact_id,
        row.integration or "",
        row.outcome.value,
        row.status.value,
        str(row.error_reason) if row.error_reason is not None else "",
        "yes" if row.used_fallback else "no",
        iso_utc(row.sent_at),
        iso_utc(row.delivered_at),
    ]
    return [neutralise(cell) for cell in cells]
