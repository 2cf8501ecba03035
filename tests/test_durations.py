"""One reading of durations for the configuration, the command line and scenario files."""

from __future__ import annotations

import pytest

from broadcaster.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("150ms", 0.15),
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2.5h", 9000.0),
        ("3d", 259_200.0),
        ("24H", 86_400.0),
        (45, 45.0),
        (0.5, 0.5),
    ],
)
def test_readable_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "soon", "5", "m5", "5x", "1h-30m", True, None, -1, float("inf"), float("nan")])
def test_anything_else_is_refused_naming_the_accepted_forms(value):
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    message = str(caught.value)
    assert repr(value) in message or "finite number of seconds" in message
