"""The audit summary's plots: every legend outside its axes, so that it never covers a bar."""

from __future__ import annotations

from matplotlib.figure import Figure

from mmsequence.omop.summary import _rules_plot, _stacked


def _legend_clear_of_data(draw, height: float) -> None:
    figure = Figure(figsize=(8, height))
    axes = figure.add_subplot()
    draw(axes)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    legend, frame = axes.get_legend().get_window_extent(renderer), axes.get_window_extent(renderer)
    assert legend.x0 >= frame.x1, (legend, frame)  # wholly to the right of the plotting area


def test_no_legend_covers_data():
    rows = [{"therapy": t, "concordant": 40, "discordant": 30, "indeterminate": 20, "error": 1}
            for t in ("teclistamab", "elranatamab", "talquetamab")]
    _legend_clear_of_data(_stacked([r["therapy"] for r in rows], rows, "Decisions by therapy given", True), 2.2)
    years = [{"year": y, "concordant": 5, "discordant": 9, "indeterminate": 3, "error": 0} for y in range(2018, 2026)]
    _legend_clear_of_data(_stacked([str(y["year"]) for y in years], years, "Decisions by year", False), 3.5)
    rules = [{"rule": f"review.rule-{i}", "against_given": 10 - i, "overridden_given": i} for i in range(5)]
    _legend_clear_of_data(_rules_plot(rules), 3)
