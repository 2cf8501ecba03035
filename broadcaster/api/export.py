"""``GET /broadcasts/<id>/history.csv``: the history table as the CLI's formula-safe CSV.

The same export as ``broadcaster history ID --csv`` (:meth:`Store.export_csv`), behind the
same bearer token as ``/graphql``, so the console can offer a download without a second
way into the store. ``?status=FAILED`` and ``?search=text`` narrow it as the table does.
"""

from __future__ import annotations

import asyncio
import io
import re
from urllib.parse import parse_qs

from ..core.outcomes import Outcome
from ..service import BroadcastService
from .errors import ApiError

__all__ = ["EXPORT_PATH", "export_history_csv", "export_target"]

#: the export's path; the broadcast id is the one group
EXPORT_PATH = re.compile(r"^/broadcasts/([^/]{1,200})/history\.csv$")


def export_target(path: str) -> str | None:
    """The broadcast id of an export path, or None when ``path`` is not one."""
    found = EXPORT_PATH.match(path)
    return None if found is None else found.group(1)


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(f"give ?{name}= once, not {len(values)} times", code="BAD_USER_INPUT")
    return values[0]


def _outcome(text: str | None) -> Outcome | None:
    if text is None or text == "":
        return None
    try:
        return Outcome(text.upper())
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise ApiError(f"?status={text!r} is not an outcome; use one of {known}", code="BAD_USER_INPUT") from None


async def export_history_csv(service: BroadcastService, broadcast_id: str, query_string: bytes) -> bytes:
    """The CSV bytes (UTF-8) of the broadcast's history, newest first, filtered by the query string."""
    params = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    unknown = sorted(set(params) - {"status", "search"})
    if unknown:
        raise ApiError(f"unknown parameter ?{unknown[0]}=; the export takes status and search", code="BAD_USER_INPUT")
    outcome = _outcome(_one(params, "status"))
    search = _one(params, "search") or None

    def write() -> bytes:
        service.store.get_broadcast(broadcast_id)  # NOT_FOUND for an unknown id, not an empty file
        buffer = io.StringIO(newline="")
        service.store.export_csv(broadcast_id, buffer, outcome=outcome, search=search)
        return buffer.getvalue().encode("utf-8")

    return await asyncio.to_thread(write)
