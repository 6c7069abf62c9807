"""`automate top`'s formatting of what Prometheus answers."""

from __future__ import annotations

from automate.top import Row, format_value, table


def test_values_read_in_their_panels_unit() -> None:
    assert format_value(0.0123, "s") == "12.3 ms"
    assert format_value(2.5, "s") == "2.50 s"
    assert format_value(1234.56, "ops") == "1,234.6/s"
    assert format_value(7.0, "short") == "7"
    assert format_value(0.25, "short") == "0.25"


def test_rows_are_grouped_by_panel_and_an_empty_view_says_why() -> None:
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(table([Row("d", "Lag", "g1 t1", 3, "short"), Row("d", "Lag", "g1 t2", 1, "short"),
                         Row("d", "Backlog", "rows", 0, "short")], source="http://p"))
    text = console.export_text()
    assert text.count("Lag") == 1 and "g1 t2" in text and "Backlog" in text
    console.print(table([], source="http://p"))
    assert "no figures yet" in console.export_text()
