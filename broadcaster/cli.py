"""The ``broadcaster`` command line (click)."""

from __future__ import annotations

import click

__all__ = ["main"]


@click.group()
def main() -> None:
    """Send one message to a large audience, paced and accounted for."""
