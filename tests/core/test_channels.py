"""Channel specs: capabilities and the messaging window."""

from __future__ import annotations

import pytest

from broadcaster.core.channels import ChannelSpec, DeliveryConfirmation, MessageKind

WHATSAPP = ChannelSpec("whatsapp", kinds=[MessageKind.TEXT, MessageKind.TEMPLATE], window_seconds=86_400)


def test_defaults() -> None:
    spec = ChannelSpec("telegram")
    assert frozenset({MessageKind.TEXT}) == spec.kinds
    assert (None, DeliveryConfirmation.SYNC, 1) == (spec.window_seconds, spec.confirmation, spec.max_batch)
    assert not spec.has_templates
    assert WHATSAPP.has_templates
    assert isinstance(WHATSAPP.kinds, frozenset)


@pytest.mark.parametrize(
    ("last_inbound_at", "now", "open_"),
    [
        (None, 0.0, False),  # never wrote to us: closed
        (1000.0, 1000.0, True),
        (1000.0, 1000.0 + 86_399.9, True),
        (1000.0, 1000.0 + 86_400, False),  # the 24 h boundary is closed
        (1000.0, 1000.0 + 90_000, False),
    ],
)
def test_window(last_inbound_at: float | None, now: float, open_: bool) -> None:
    assert open_ is WHATSAPP.window_open(last_inbound_at, now)


def test_no_window_is_always_open() -> None:
    assert ChannelSpec("telegram").window_open(None, 0.0)
