"""Every `broadcaster` command imports the CLI: what only `serve` needs stays unimported."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import broadcaster.cli
import broadcaster.api
from broadcaster.api import Scope, Tokens
print(sorted(m for m in ("graphql", "hypercorn", "broadcaster.api.serving") if m in sys.modules))
from broadcaster.api import schema_sdl
print(sorted(m for m in ("graphql", "hypercorn", "broadcaster.api.serving") if m in sys.modules))
print(Scope.__module__, Tokens.__module__, schema_sdl.__module__)
"""


def test_the_cli_and_the_api_tokens_import_neither_graphql_nor_hypercorn_until_asked(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "[]",
        "['broadcaster.api.serving', 'graphql', 'hypercorn']",
        "broadcaster.store.tokens_sql broadcaster.api.tokens broadcaster.api.serving",
    ]


def test_an_unknown_name_of_the_api_package_is_an_attribute_error():
    import pytest

    import broadcaster.api

    with pytest.raises(AttributeError, match="^module 'broadcaster.api' has no attribute 'no_such_thing'$"):
        broadcaster.api.no_such_thing  # noqa: B018
