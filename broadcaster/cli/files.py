"""Reading the operator's files: TOML/JSON definitions and contact-ID lists."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Callable, TypeVar

import cattrs

from ..serde import converter
from .base import CliError

__all__ = ["read_document", "read_ids", "read_text", "structure_items"]

T = TypeVar("T")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", hint="check the path") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a directory", hint="give a file") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


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
    notes = cattrs.transform_error(exc)
    return "; ".join(notes) if notes else str(exc)


def structure(data: Any, cls: type[T]) -> T:
    return converter().structure(data, cls)


def read_ids(path: Path) -> list[str]:
    """Contact IDs, one per line (blank lines and ``#`` comments ignored)."""
    ids = [line.strip() for line in read_text(path).splitlines()]
    ids = [line for line in ids if line and not line.startswith("#")]
    if not ids:
        raise CliError(f"{path} lists no contact IDs", hint="write one contact ID per line")
    return ids
