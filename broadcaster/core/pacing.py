"""The pacing plan: how the audience is cut into pages, batches and concurrent sends.

Defaults are the seed's: pages of 500, batches of 50, 10 batches in parallel per worker,
5 sends in flight inside a batch. They bound memory and connections whatever the
audience size: at most ``page_size`` contacts are buffered ahead of the batches.
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from .errors import PacingError

__all__ = ["PacingPlan"]

_LIMITS = {
    "page_size": (1, 100_000),
    "batch_size": (1, 10_000),
    "concurrent_batches": (1, 1_000),
    "in_flight_per_batch": (1, 1_000),
}


@attrs.frozen
class PacingPlan:
    page_size: int = 500
    batch_size: int = 50
    concurrent_batches: int = 10
    in_flight_per_batch: int = 5

    def __attrs_post_init__(self) -> None:
        for name, (low, high) in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise PacingError(f"pacing.{name} must be a whole number, got {value!r}")
            if not low <= value <= high:
                raise PacingError(f"pacing.{name} must be between {low} and {high}, got {value}")
        if self.batch_size > self.page_size:
            raise PacingError(
                f"pacing.batch_size ({self.batch_size}) cannot exceed pacing.page_size ({self.page_size})",
                hint="a batch is cut from one page",
            )

    @property
    def max_in_flight(self) -> int:
        return self.concurrent_batches * self.in_flight_per_batch

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PacingPlan:
        """Build from user config (TOML/JSON), rejecting unknown keys by name."""
        unknown = sorted(set(values) - set(_LIMITS))
        if unknown:
            raise PacingError(
                f"unknown pacing setting {unknown[0]!r}", hint=f"known settings: {', '.join(sorted(_LIMITS))}"
            )
        return cls(**dict(values))
