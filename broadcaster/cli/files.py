"""Reading the operator's files: TOML/JSON definitions and contact-ID lists."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Callable, TypeVar

import cattrs

from ..strict import describe, strict_structure
from .base import CliError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINE_CHARS",
    "check_lines",
    "read_document",
    "read_ids",
    "read_text",
    "structure_items",
]

T = TypeVar("T")


#: the largest file read (a contacts file of a million rows fits; /dev/zero does not)
MAX_FILE_BYTES = 256 * 1024 * 1024
#: the longest line of a contacts or ID file
MAX_LINE_CHARS = 1024 * 1024


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped), at most ``max_bytes``."""
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a directory", hint="give a file") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise CliError(f"{path} is larger than {max_bytes // (1024 * 1024)} MB", hint="split it into smaller files")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from None
    return text


def check_lines(path: Path, text: str) -> None:
    """Refuse a line longer than :data:`MAX_LINE_CHARS` (a binary file, a missing newline)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise CliError(
                f"{path}:{number}: the line is longer than {MAX_LINE_CHARS} characters",
                hint="is it a CSV or JSON Lines file?",
            )
    if "\x00" in text:
        raise CliError(f"{path} holds NUL bytes, so it is not a text file", hint="give a CSV or JSON Lines file")


def read_document(path: Path) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON (anything else) file holding one table/object."""
    text = read_text(path)
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path} is not valid TOML: {exc}", hint="fix the file's syntax") from None
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg})", hint="fix the file, or name it .toml if it is TOML"
        ) from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: expected one object (a table) at the top", hint="see docs/cli.md for the format")
    return data


def structure_items(path: Path, data: dict[str, Any], plural: str, build: Callable[[dict[str, Any]], T]) -> list[T]:
    """The file's items: ``[[<plural>]]`` tables, or the whole document as one item."""
    items = data[plural] if plural in data else [data]
    if not isinstance(items, list) or not items:
        raise CliError(f"{path}: {plural} must be a non-empty list of tables")
    built = []
    for index, item in enumerate(items):
        where = f"{path}: {plural}[{index}]" if plural in data else str(path)
        if not isinstance(item, dict):
            raise CliError(f"{where}: expected a table")
        try:
            built.append(build(item))
        except cattrs.ClassValidationError as exc:
            raise CliError(f"{where}: {_describe(exc)}", hint="see docs/cli.md for the format") from None
        except (TypeError, ValueError, KeyError) as exc:
            raise CliError(f"{where}: {exc}", hint="see docs/cli.md for the format") from None
    return built


def _describe(exc: cattrs.ClassValidationError) -> str:
    """cattrs' nested errors as one phrase: ``first_card.text: required``."""
    return describe(exc)


def structure(data: Any, cls: type[T]) -> T:
    """``data`` as ``cls``, strictly (:mod:`broadcaster.strict`): no silent coercion at the edge."""
    result: T = strict_structure(data, cls)
    return result


def read_ids(path: Path) -> list[str]:
    """Contact IDs, one per line (blank lines and ``#`` comments ignored)."""
    text = read_text(path)
    check_lines(path, text)
    ids = [line.strip() for line in text.splitlines()]
    ids = [line for line in ids if line and not line.startswith("#")]
    if not ids:
        raise CliError(f"{path} lists no contact IDs", hint="write one contact ID per line")
    return ids
