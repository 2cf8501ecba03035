"""The exceptions behind a transport error, for telling its kind (refused, DNS, TLS...)."""

from __future__ import annotations

__all__ = ["causes"]


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything behind it, nearest first: each one's ``__cause__`` and
    ``__context__``, with exception groups opened up (trio's happy-eyeballs connect reports
    "all attempts failed" with each address's error in a group). Each appears once."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for follow in (current.__cause__, current.__context__):
            if follow is not None:
                pending.append(follow)
    return seen
