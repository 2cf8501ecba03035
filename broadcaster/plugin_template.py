"""``broadcaster plugin new NAME``: a ready provider-plugin distribution, from a template.

The template lives in ``broadcaster/templates/plugin/`` (package data): files ending in
``.tmpl`` are :class:`string.Template` texts, rendered with the names of
:class:`PluginNames`; ``package/`` becomes the plugin's import package. What it writes
installs, passes its own tests (the conformance kit among them) and ``mypy --strict`` as
generated, and rehearses an outage through ``broadcaster rehearse``.

Nothing is written unless everything can be: the files are rendered in memory, checked,
written into a temporary sibling directory and moved into place in one rename.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import keyword
import os
import re
import shutil
import tempfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from string import Template
from typing import Iterable, Iterator

import attrs

from .core.errors import ConfigError

__all__ = ["PluginNames", "plugin_names", "render_plugin", "write_plugin"]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


@attrs.frozen
class PluginNames:
    """The names a generated plugin uses, all derived from the provider name."""

    #: the provider name integrations refer to, and the entry point's name
    name: str

    @property
    def package(self) -> str:
        return f"broadcaster_{self.name}"

    @property
    def distribution(self) -> str:
        return f"broadcaster-{self.name.replace('_', '-')}"

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_") if part) or "Provider"

    @property
    def title(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("_") if part)

    @property
    def base_url(self) -> str:
        return f"https://api.{self.name.replace('_', '-')}.example"

    def substitutions(self) -> dict[str, str]:
        return {
            "name": self.name,
            "package": self.package,
            "distribution": self.distribution,
            "class_name": self.class_name,
            "title": self.title,
            "base_url": self.base_url,
        }


def plugin_names(name: str, *, taken: Iterable[str] = ()) -> PluginNames:
    """The names for provider ``name``; :class:`ConfigError` if it is not a lower-case
    identifier or is ``taken`` (installed providers, distributions or packages)."""
    if not _NAME.match(name) or keyword.iskeyword(name) or name.endswith("_") or "__" in name:
        raise ConfigError(
            f"plugin name {name!r} is not a lower-case Python identifier",
            hint="use letters, digits and single underscores, starting with a letter, e.g. acme or acme_chat",
        )
    names = PluginNames(name)
    clash = _installed(names, set(taken))
    if clash is not None:
        raise ConfigError(f"plugin name {name!r} is taken: {clash}", hint="choose another NAME")
    return names


def _installed(names: PluginNames, taken: set[str]) -> str | None:
    if names.name in taken:
        return f"an installed plugin already provides {names.name!r} (see broadcaster plugins)"
    try:
        dist = importlib.metadata.distribution(names.distribution)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        return f"the distribution {names.distribution} {dist.version} is installed"
    if importlib.util.find_spec(names.package) is not None:
        return f"a module {names.package!r} is importable already"
    return None


def _template_root() -> Traversable:
    return files("broadcaster") / "templates" / "plugin"


def _walk(node: Traversable, prefix: PurePosixPath) -> Iterator[tuple[PurePosixPath, Traversable]]:
    for child in sorted(node.iterdir(), key=lambda item: item.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _walk(child, prefix / child.name)
        else:
            yield prefix / child.name, child


def _target_path(relative: PurePosixPath, names: PluginNames) -> PurePosixPath:
    parts = [names.package if part == "package" else part for part in relative.parts]
    leaf = parts[-1].removesuffix(".tmpl")
    # a few files are named after the plugin
    renamed = {"test_plugin.py": f"test_{names.name}.py", "outage.toml": f"{names.name}-outage.toml"}
    # stored without its dot: package data globs skip dotfiles
    renamed["gitignore"] = ".gitignore"
    leaf = renamed.get(leaf, leaf)
    return PurePosixPath(*parts[:-1], leaf)


def render_plugin(names: PluginNames) -> dict[PurePosixPath, str]:
    """Every file of the plugin distribution, by path relative to its directory."""
    rendered: dict[PurePosixPath, str] = {}
    values = names.substitutions()
    for relative, source in _walk(_template_root(), PurePosixPath()):
        text = source.read_text(encoding="utf-8")
        if relative.name.endswith(".tmpl"):
            text = Template(text).substitute(values)
        rendered[_target_path(relative, names)] = text
    return rendered


def write_plugin(target: Path, rendered: dict[PurePosixPath, str]) -> None:
    """Write ``rendered`` as the new directory ``target``, all or nothing.

    Raises :class:`ConfigError` if ``target`` exists or its parent is not a writable
    directory; then nothing has been written.
    """
    if target.exists() or target.is_symlink():
        raise ConfigError(f"{target} already exists", hint="choose another --dir, or remove it first")
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(f"{parent} is not a directory", hint="create it first, or choose another --dir")
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    except OSError as exc:
        raise ConfigError(f"cannot write into {parent}: {exc.strerror or exc}", hint="choose another --dir") from None
    try:
        for relative, text in rendered.items():
            path = staging.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}", hint="choose another --dir") from None


def _umask() -> int:
    # mkdtemp makes the directory 0700; the plugin's directory should get the usual mode
    current = os.umask(0)
    os.umask(current)
    return current
