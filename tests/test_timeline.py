"""Timeline geometry: dates map to x linearly, windows span their calendar months, imprecise dates are spans."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsequence import evaluate
from mmsequence.board.geometry import Scale, build_timeline
from mmsequence.dates import add_months
from mmsequence.policy import Policy

from .builders import document, line

AS_OF = datetime.date(2026, 3, 12)


def timeline_of(doc: dict, policy: Policy | None = None):
    return build_timeline(evaluate(doc, as_of=AS_OF, policy=policy))


def days(a: datetime.date, b: datetime.date) -> int:
    return (b - a).days


days_2000s = st.dates(datetime.date(2000, 1, 1), datetime.date(2030, 12, 31))


@given(st.lists(days_2000s, min_size=3, max_size=3, unique=True), st.floats(100, 2000))
def test_x_grows_with_the_date_at_a_constant_rate(dates, width):
    start, middle, end = sorted(dates)
    scale = Scale(start, end, 40.0, width)
    assert scale.x(start) == 40.0
    assert scale.x(end) == pytest.approx(40.0 + width)
    assert scale.x(start) < scale.x(middle) < scale.x(end)
    assert scale.x(middle) - scale.x(start) == pytest.approx(days(start, middle) * scale.per_day)


def test_a_six_month_window_is_as_wide_as_its_days_with_end_of_month_clipping():
    t = timeline_of(document(line("elranatamab", "2024-10-20", "2025-08-31")))
    (window,) = t.windows
    assert not window.stretch.uncertain
    assert window.stretch.x == pytest.approx(t.scale.x(datetime.date(2025, 8, 31)))
    assert window.stretch.width == pytest.approx(days(datetime.date(2025, 8, 31), datetime.date(2026, 2, 28)) * t.scale.per_day)
    assert window.label == "6 mo → 2026-02-28"


@settings(max_examples=40, deadline=None)
@given(st.dates(datetime.date(2021, 1, 1), AS_OF), st.integers(1, 36))
def test_every_window_spans_the_policys_months_of_calendar_days(last_dose, months):
    t = timeline_of(document(line("teclistamab", "2020-12-01", last_dose.isoformat())), Policy(interval_months=months))
    (window,) = t.windows
    assert window.months == months
    assert window.stretch.width == pytest.approx(days(last_dose, add_months(last_dose, months)) * t.scale.per_day)
    assert window.stretch.end.x1 <= t.scale.left + t.scale.width


def test_imprecise_dates_are_drawn_as_uncertain_spans():
    t = timeline_of(document(line("teclistamab", "2024-11", "2025-09")))
    bar = t.bars[-1]
    assert (bar.stretch.start.x0, bar.stretch.start.x1) == pytest.approx(
        (t.scale.x(datetime.date(2024, 11, 1)), t.scale.x(datetime.date(2024, 11, 30))))
    assert bar.stretch.core_x == pytest.approx(t.scale.x(datetime.date(2024, 11, 30)))
    (window,) = t.windows
    assert (window.stretch.end.x0, window.stretch.end.x1) == pytest.approx(
        (t.scale.x(datetime.date(2026, 3, 1)), t.scale.x(datetime.date(2026, 3, 30))))
    assert any(item.kind == "uncertain" for item in t.legend)


def test_bars_are_coloured_by_the_targets_of_their_tcrts():
    t = timeline_of(document(line(["teclistamab", "talquetamab"], "2024-10-01", "2025-11-30"),
                             line(["belantamab mafodotin", "dexamethasone"], "2025-12-10", "2026-02-01")))
    conventional, dual, adc = t.bars
    assert (conventional.targets, conventional.kind) == ((), "other")
    assert (dual.targets, dual.kind) == (("BCMA", "GPRC5D"), "tcrt")
    assert (adc.targets, adc.kind) == ((), "other")  # an ADC is not a T-cell redirecting therapy
    assert [item.key for item in t.legend if item.kind == "target"] == ["BCMA", "GPRC5D", "other"]


def test_car_t_infusions_and_apheresis_are_markers():
    t = timeline_of(document(line("cilta-cel", "2025-05-12", "2025-05-12"), car_t_eligible=True,
                             apheresis=[{"status": "failed", "date": "2025-02-01"}, {"status": "done", "date": "2025-03-17"},
                                        {"status": "planned"}]))
    infusion, failed, done = t.markers
    assert (infusion.kind, infusion.targets, infusion.span.mid) == ("infusion", ("BCMA",), t.scale.x(datetime.date(2025, 5, 12)))
    assert [(m.status, m.span.x0) for m in (failed, done)] == [
        ("failed", t.scale.x(datetime.date(2025, 2, 1))), ("done", t.scale.x(datetime.date(2025, 3, 17)))]
    assert len(t.bars) == 1 and t.rows[-1].label == "Apheresis (1 undated)"
    assert t.windows == ()  # the default scope: only a bsAb starts the interval clock


def test_any_tcrt_scope_gives_a_car_t_its_window():
    policy = Policy(interval_scope="any-tcrt")
    (window,) = timeline_of(document(line("cilta-cel", "2025-05-12"), car_t_eligible=True), policy).windows
    assert window.label == "6 mo → 2025-11-12"


def test_an_ongoing_line_runs_to_the_evaluation_date_and_its_window_from_there():
    t = timeline_of(document(line("talquetamab", "2025-01-08")))
    bar = t.bars[-1]
    assert bar.ongoing and bar.stretch.end.x1 == pytest.approx(t.as_of.x)
    (window,) = t.windows
    assert window.stretch.x == pytest.approx(t.as_of.x)
    assert window.label == "6 mo → ≥2026-09-12"


def test_the_evaluation_date_and_rows_are_placed_within_the_drawing():
    t = timeline_of(document(line("teclistamab", "2025-01-01", "2026-03-01")))
    assert t.as_of.x == pytest.approx(t.scale.x(AS_OF))
    assert t.scale.start <= datetime.date(2020, 1, 1) and t.scale.end > add_months(datetime.date(2026, 3, 1), 6)
    assert [tick.label for tick in t.ticks if tick.major] == [str(y) for y in range(2020, 2027)]
    assert t.plot_bottom == t.rows[-1].y + t.rows[-1].height <= t.legend_y <= t.height
    assert all(item.x + 22 < t.width for item in t.legend)


def drawn_boxes(t):
    """Every text and marker of a drawing, and the evaluation-date line, as (what, box)."""
    return [(f"text {label.text!r}", label.box) for label in t.labels] + [
        (f"marker {m.title!r}", m.box) for m in t.markers] + [("the evaluation-date line", t.as_of_line)]


def overlapping(t):
    """Pairs that overlap; a marker may sit on the evaluation-date line (it happened that day), and
    the line's own label starts at it."""
    boxes = drawn_boxes(t)
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if box_a.overlaps(box_b) and not (b == "the evaluation-date line" and a.startswith(("marker", "text 'as of")))]


def test_apheresis_weeks_apart_and_a_window_ending_at_the_evaluation_date_do_not_collide():
    t = timeline_of(document(line("teclistamab", "2025-01-01", "2025-09-12"), car_t_eligible=True,
                             apheresis=[{"status": "failed", "date": "2026-01-05"}, {"status": "done", "date": "2026-01-19"},
                                        {"status": "planned", "date": "2026-02-02"}]))
    assert overlapping(t) == []
    failed, done, _planned = sorted((m for m in t.markers if m.kind == "apheresis"), key=lambda m: m.span.mid)
    assert failed.cy != done.cy  # two weeks apart: one moved to a sub-lane
    assert all(m.row.y < m.box.y0 and m.box.y1 < m.row.y + m.row.height for m in t.markers)
    (window,) = [label for label in t.labels if label.css == "tl-window-label"]
    assert window.text == "6 mo → 2026-03-12" and not window.box.overlaps(t.as_of_line)


def test_lane_labels_show_the_regimen_and_are_kept_whole():
    t = timeline_of(document(line(["daratumumab", "bortezomib", "lenalidomide", "dexamethasone"], "2024-01-01", "2025-01-01"),
                             line(["carfilzomib", "teclistamab"], "2025-02-01", "2025-06-01")))
    # a named regimen by its abbreviation from the catalog, any other line in short names
    assert [row.label for row in t.rows][1:] == ["2 · D-VRd", "3 · cfz + tec"]
    assert "daratumumab + bortezomib + lenalidomide + dexamethasone" in t.rows[1].title


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dates(datetime.date(2024, 1, 1), AS_OF), min_size=1, max_size=4),
       st.dates(datetime.date(2024, 6, 1), AS_OF), st.integers(1, 12))
def test_no_text_or_marker_overlaps_another(apheresis_days, last_dose, months):
    apheresis = [{"status": status, "date": day.isoformat()}
                 for status, day in zip(("failed", "failed", "failed", "done"), sorted(apheresis_days)[-4:])]
    doc = document(line("teclistamab", "2023-06-01", last_dose.isoformat()), line("cilta-cel", last_dose.isoformat()),
                   car_t_eligible=True, apheresis=apheresis)
    try:
        t = timeline_of(doc, Policy(interval_months=months, interval_scope="any-tcrt"))
    except Exception as error:  # an inconsistent history (apheresis after the infusion) is not a drawing
        assert "apheresis" in str(error)
        return
    assert overlapping(t) == []
