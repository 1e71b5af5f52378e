"""Server-side SVG charts: well-formed, accessible, escaped, scaled to the data."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

from mailroom.charts.svg import Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def test_bars_are_well_formed_titled_and_scaled() -> None:
    chart = parse(
        bar_chart("Cost per day", ["Mon", "Tue"], [Series("DynamoDB", [Decimal("1.5"), Decimal(3)])])
    )
    assert chart.find(f"{SVG}title") is not None
    assert chart.get("role") == "img"
    bars = chart.findall(f"{SVG}rect")
    heights = [float(bar.get("height", 0)) for bar in bars]
    assert len(bars) == 2
    assert abs(heights[1] / heights[0] - 2) < 0.01  # proportional to the values


def test_stacked_series_add_up_and_get_a_legend() -> None:
    chart = parse(bar_chart("Cost", ["d1"], [Series("a", [1]), Series("b", [3])]))
    bars = [r for r in chart.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 2
    assert {"series-0", "series-1"} <= {r.get("class") for r in chart.findall(f"{SVG}rect")}
    assert [t.text for t in chart.findall(f"{SVG}text") if t.get("class") == "legend"] == ["a", "b"]


def test_labels_are_escaped_and_nothing_executes() -> None:
    markup = str(bar_chart("<script>x</script>", ['"><img onerror=1>'], [Series("<b>", [1])]))
    chart = parse(markup)  # still well-formed
    elements = list(chart.iter())
    assert {element.tag.removeprefix(SVG) for element in elements} <= {
        "svg",
        "title",
        "desc",
        "line",
        "text",
        "rect",
    }
    assert not [name for element in elements for name in element.attrib if name.lower().startswith("on")]
    assert "<img" not in markup


def test_lines_break_at_gaps_and_charts_on_one_page_have_distinct_ids() -> None:
    one = line_chart("First response", ["a", "b", "c", "d"], [Series("median", [1, 2, None, 4])])
    chart = parse(one)
    lines = chart.findall(f"{SVG}polyline")
    assert len(lines) == 1  # a, b joined; d alone is a dot, not a line
    assert len(chart.findall(f"{SVG}circle")) == 3
    other = parse(line_chart("Backlog", ["a"], [Series("open", [0])]))
    assert chart.get("aria-labelledby") != other.get("aria-labelledby")


def test_empty_data_draws_an_empty_frame() -> None:
    chart = parse(bar_chart("Nothing", [], []))
    assert chart.findall(f"{SVG}rect") == []
