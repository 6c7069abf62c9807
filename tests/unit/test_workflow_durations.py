"""Durations as written in workflow files, turned into seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automate.runtime.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        (" 2 m ", 120.0),
        ("0", 0.0),
        ("45", 45.0),
        (30, 30.0),
        (0.25, 0.25),
    ],
)
def test_parses_units_and_plain_seconds(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "1 h 2 m", "s", "1e3s", "nan", "ten seconds"])
def test_unknown_forms_name_the_value_and_the_units(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)
    assert "ms, s, m, h, d" in str(caught.value)


@pytest.mark.parametrize("value", [-1, -0.5])
def test_negative_durations_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, None, [1], {"s": 1}])
def test_non_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)  # type: ignore[arg-type]


def test_infinity_is_refused() -> None:
    with pytest.raises(ValueError, match="not a finite duration"):
        parse_duration(float("inf"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (30, "30s"), (90, "90s"), (600, "10m"), (7200, "2h"), (86400, "1d")],
)
def test_format_picks_the_largest_exact_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_format_round_trips(count: int, unit: str) -> None:
    seconds = parse_duration(f"{count}{unit}")
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)
