"""Stored text made safe to print: no terminal control sequences, no rich markup.

Contact names, field values, flow texts and provider reasons come from outside. Printed
raw, ``\\x1b]0;title\\x07`` retitles the operator's window, ``\\x1b[2J`` clears it, a
``\\r`` or a bidi override hides what follows, and through rich ``[link=http://evil]`` becomes
a clickable link. :func:`clean` shows every such character as a visible escape
(``\\x1b``, ``\\u202e``); :class:`SafeTable` puts each cell in as plain :class:`~rich.text.Text`,
which rich never reads as markup.
"""

from __future__ import annotations

import re
from typing import Any

from rich.table import Table
from rich.text import Text

__all__ = ["SafeTable", "clean"]

# C0 and C1 controls (newline and tab included: a cell is one line), DEL, and the
# format characters that reorder or hide text (bidi embeddings/overrides/isolates,
# line/paragraph separators)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(text: object) -> str:
    """``text`` as one printable line: control and bidi characters shown as escapes."""
    return _UNSAFE.sub(_visible, str(text))


class SafeTable(Table):
    """A rich table whose text cells are cleaned and never parsed as markup."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        cells = [Text(clean(cell)) if isinstance(cell, str) else cell for cell in renderables]
        super().add_row(*cells, **kwargs)
