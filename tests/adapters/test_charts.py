"""The SVG chart renderer: well-formed SVG with an accessible name, labelled axes, one bar per
value with its own title, escaped text, and a y scale that holds the largest value."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.web.charts import Series, bar_chart, grouped_bars, line_chart, nice_ticks

NS = {"svg": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed XML


def _bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "bar"]


def test_a_bar_chart_has_one_titled_bar_per_value_and_labelled_axes() -> None:
    svg = bar_chart(title="Pages per night", labels=["Mon", "Tue", "Wed"], values=[1, 4, 0],
                    x_label="night", y_label="pages")
    root = _parse(svg)
    assert root.get("role") == "img" and root.get("aria-label") == "Pages per night"
    assert root.find("svg:title", NS).text == "Pages per night"  # type: ignore[union-attr]
    bars = _bars(root)
    assert [b.find("svg:title", NS).text for b in bars] == [  # type: ignore[union-attr]
        "Mon: 1", "Tue: 4", "Wed: 0"]
    heights = [float(b.get("height", "")) for b in bars]
    assert heights[1] > heights[0] > heights[2] == 0
    assert heights[1] == pytest.approx(4 * heights[0])  # the scale starts at zero
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "night" in texts and "pages" in texts and "Tue" in texts
    assert len([line for line in root.iter("{http://www.w3.org/2000/svg}line")
                if line.get("class") == "axis"]) == 2


def test_grouped_bars_draw_every_series_for_every_label_and_a_legend() -> None:
    svg = grouped_bars(title="Incidents", labels=["W1", "W2", "W3", "W4"], x_label="week",
                       y_label="incidents",
                       series=[Series("P1", [1, 0, 2, 1]), Series("P2", [0, 3, None, 1])])
    root = _parse(svg)
    bars = _bars(root)
    assert len(bars) == 8
    titles = [b.find("svg:title", NS).text for b in bars]  # type: ignore[union-attr]
    assert titles[:2] == ["W1, P1: 1", "W1, P2: 0"] and "W3, P2: no data" in titles
    assert len({b.get("fill") for b in bars}) == 2  # a colour per series
    legend = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.get("class") == "legend"]
    assert legend == ["P1", "P2"]
    # The highest bar (3) stays inside the plot: the scale's top is at least 3.
    top = min(float(b.get("y", "")) for b in bars)
    assert top >= 0


def test_every_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & "quotes"'
    svg = grouped_bars(title=hostile, labels=[hostile], x_label=hostile, y_label=hostile,
                       series=[Series(hostile, [1]), Series("b", [2])], unit=hostile)
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.get("aria-label") == hostile  # the parser undoes the escaping: it was escaped
    assert _bars(root)[0].find("svg:title", NS).text.startswith(hostile)  # type: ignore[union-attr]
    line = line_chart(title=hostile, labels=[hostile, "b"], x_label="x", y_label="y",
                      series=[Series(hostile, [1, 2])])
    assert "<script>" not in line
    _parse(line)


def test_a_line_chart_breaks_where_a_value_is_missing() -> None:
    svg = line_chart(title="MTTA", labels=["W1", "W2", "W3", "W4", "W5"], x_label="week",
                     y_label="minutes", series=[Series("P1", [5, 7, None, 3, 4])])
    root = _parse(svg)
    points = [c for c in root.iter("{http://www.w3.org/2000/svg}circle")
              if c.get("class") == "point"]
    assert len(points) == 4
    lines = [p for p in root.iter("{http://www.w3.org/2000/svg}polyline")]
    assert [len(p.get("points", "").split()) for p in lines] == [2, 2]


def test_empty_and_many_labels_still_draw() -> None:
    empty = _parse(bar_chart(title="Nothing", labels=[], values=[], x_label="x", y_label="y"))
    assert _bars(empty) == []
    many = [f"2026-W{n:02d}" for n in range(1, 53)]
    root = _parse(bar_chart(title="A year", labels=many, values=list(range(52)), x_label="week",
                            y_label="incidents"))
    assert len(_bars(root)) == 52
    width = float(root.get("viewBox", "").split()[2])
    assert width >= 52 * 36  # wide enough for every label; the page scales it down


@pytest.mark.parametrize(("highest", "ticks"), [
    (0, [0.0, 1.0]), (1, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), (4, [0, 1, 2, 3, 4]),
    (7, [0, 2, 4, 6, 8]), (10, [0, 2, 4, 6, 8, 10]), (23, [0, 5, 10, 15, 20, 25]),
    (600, [0, 200, 400, 600]), (1234, [0, 500, 1000, 1500]),
])
def test_ticks_are_round_and_reach_the_highest_value(highest: float, ticks: list[float]) -> None:
    assert nice_ticks(highest) == ticks
