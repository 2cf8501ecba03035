"""What can be wrong with a store file, said in one line before (and while) it is used.

SQLite's own messages ("unable to open database file", "attempt to write a readonly
database", "file is not a database") name neither the file nor the fix, and they surface
as tracebacks from whichever statement first touches the file. :func:`check_sqlite_file`
refuses the faults visible before opening — a missing folder, a missing file a reading
command expected, a directory, an empty or foreign file — and :func:`describe_sqlite_error`
turns the faults only a statement finds (a read-only file or folder, a corrupt page, a
lock held too long) into a :class:`~broadcaster.core.errors.StoreError` naming the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from broadcaster.core.errors import StoreError

__all__ = ["SQLITE_HEADER", "check_sqlite_file", "describe_sqlite_error"]

#: the first 16 bytes of every SQLite 3 database file
SQLITE_HEADER = b"SQLite format 3\x00"

_CREATE_HINT = "check the store path; a command that adds something (contacts import, integrations add) creates it"


def check_sqlite_file(target: str, *, create: bool, must_exist: bool) -> str:
    """``target``, or ``":memory:"`` for a missing file nobody asked for by name.

    ``create``: the command may make a new store. ``must_exist``: the path was given on
    purpose (``--store``, the environment, the config), so a missing file is a mistake
    ("no such store"), not "nothing here yet".
    """
    if target == ":memory:":
        return target
    path = Path(target)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"cannot open store {target}: {folder} is not a folder", hint="fix the store path")
    if not folder.exists():
        if not create:
            if must_exist:
                raise StoreError(f"no such store: {target} (the folder {folder} does not exist)", hint=_CREATE_HINT)
            return ":memory:"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder {folder} for store {target}: {exc.strerror or exc}",
                hint="create it yourself, or fix the store path",
            ) from None
    if path.is_dir():
        raise StoreError(f"store {target} is a folder, not a file", hint="give the path of a .db file")
    if not path.exists():
        if create:
            return target
        if must_exist:
            raise StoreError(f"no such store: {target}", hint=_CREATE_HINT)
        return ":memory:"
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(
            f"cannot read store {target}: {exc.strerror or exc}", hint="check the file's permissions"
        ) from None
    if not head and not create:
        # SQLite would quietly make an empty file a database; only a creating command may.
        raise StoreError(f"store {target} is an empty file, not a broadcaster store", hint=_CREATE_HINT)
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{target} is not a broadcaster store (not an SQLite database)",
            hint="point --store at the right file; nothing was changed",
        )
    return target


def describe_sqlite_error(exc: sqlite3.Error, target: str) -> StoreError:
    """A one-line :class:`StoreError` for a fault SQLite reports while ``target`` is in use."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return StoreError(
            f"store {target} is read-only ({text}); nothing was changed",
            hint="make the file and its folder writable by this user (SQLite writes a -wal file beside it)",
        )
    if "unable to open" in lowered:
        return StoreError(
            f"cannot open store {target} ({text})",
            hint="the file and its folder must be readable and writable (SQLite writes -wal/-shm files beside it)",
        )
    if "locked" in lowered or "busy" in lowered:
        return StoreError(f"store {target} is busy ({text})", hint="another process holds it too long; try again")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StoreError(
            f"store {target} is damaged or not a broadcaster store ({text})",
            hint="restore it from a backup, or point --store at another file",
        )
    if "disk" in lowered or "full" in lowered:
        return StoreError(f"store {target}: {text}", hint="check the disk has room and works")
    return StoreError(f"store {target}: {text}", hint="check the store file")
