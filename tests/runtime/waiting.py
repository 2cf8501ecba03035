"""Waiting on real processes in end-to-end tests: poll a condition, fail saying what never came."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(what: str, check: Callable[[], bool], *, within: float = 240.0, every: float = 0.05) -> None:
    """Return once ``check()`` holds; fail after ``within`` seconds naming ``what``."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        time.sleep(every)
