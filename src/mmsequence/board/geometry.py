"""A patient's treatment course as drawing geometry: a date scale, bars, markers and windows.

Everything here is in SVG user units and computed from the history and its assessment; the
template ``templates/timeline.svg`` only draws it. An imprecise date is an uncertain span: the
x range of every day it could be. Interval windows use the assessment's policy (months, scope)
and calendar-month arithmetic from :mod:`mmsequence.dates`.
"""

from __future__ import annotations

import datetime

import attrs

from ..assessment import Assessment
from ..course import TCRT_TARGETS, LineCourse
from ..dates import PartialDate, add_months

WIDTH = 1000.0
LABEL_WIDTH = 250.0  # the column of row labels left of the plot
TOP = 22.0  # room for the evaluation-date label
ROW_HEIGHT = 28.0
BAR_HEIGHT = 14.0
AXIS_HEIGHT = 22.0
LEGEND_HEIGHT = 26.0
FONT_SIZE = 11.0
_CHAR_WIDTH = 0.6  # average glyph width of the sans-serif font, in font sizes
_MIN_SPAN_MONTHS = 12


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous estimate of the drawn width of ``text``."""
    return len(text) * size * _CHAR_WIDTH


@attrs.frozen
class Scale:
    """Maps days to x: ``x(day) = left + (day - start).days * per_day``."""

    start: datetime.date
    end: datetime.date
    left: float
    width: float

    @property
    def per_day(self) -> float:
        return self.width / (self.end - self.start).days

    def x(self, day: datetime.date) -> float:
        return self.left + (day - self.start).days * self.per_day

    def span(self, date: PartialDate) -> Span:
        return Span(self.x(date.earliest), self.x(date.latest))


@attrs.frozen
class Span:
    """An uncertain date drawn as the x range of its possible days (``x0 == x1``: the day is known)."""

    x0: float
    x1: float

    @property
    def uncertain(self) -> bool:
        return self.x1 > self.x0

    @property
    def mid(self) -> float:
        return (self.x0 + self.x1) / 2


@attrs.frozen
class Stretch:
    """Time between two uncertain dates: faint over every possible day, solid where certain."""

    start: Span
    end: Span

    @property
    def x(self) -> float:
        return self.start.x0

    @property
    def width(self) -> float:
        return self.end.x1 - self.start.x0

    @property
    def core_x(self) -> float:
        return self.start.x1

    @property
    def core_width(self) -> float:
        return max(0.0, self.end.x0 - self.start.x1)

    @property
    def uncertain(self) -> bool:
        return self.start.uncertain or self.end.uncertain


@attrs.frozen
class Row:
    """One horizontal lane, from ``y`` down by ``ROW_HEIGHT``: a line of therapy, or the apheresis records."""

    y: float
    label: str
    title: str

    height: float = ROW_HEIGHT

    @property
    def text_y(self) -> float:
        return self.y + ROW_HEIGHT / 2 + FONT_SIZE * 0.35

    @property
    def mid(self) -> float:
        return self.y + ROW_HEIGHT / 2


@attrs.frozen
class Bar:
    """A line of therapy given over time; ``targets`` colour it when it holds a TCRT."""

    row: Row
    stretch: Stretch
    targets: tuple[str, ...]
    kind: str  # tcrt | other | unknown (holds an agent not in the catalog and no known TCRT)
    ongoing: bool
    title: str

    height: float = BAR_HEIGHT

    @property
    def y(self) -> float:
        return self.row.mid - BAR_HEIGHT / 2


@attrs.frozen
class Marker:
    """A CAR-T infusion or an apheresis record at a (possibly uncertain) date, centred on ``(span.mid, cy)``."""

    row: Row
    span: Span
    kind: str  # infusion | apheresis
    status: str  # infusion: given; apheresis: planned | done | failed | cancelled
    targets: tuple[str, ...]
    title: str

    @property
    def cy(self) -> float:
        return self.row.mid


@attrs.frozen
class Window:
    """An interval window after a TCRT: from its last dose to that date plus the policy's months."""

    row: Row
    stretch: Stretch
    months: int
    label: str
    title: str

    height: float = BAR_HEIGHT + 6

    @property
    def y(self) -> float:
        return self.row.mid - self.height / 2

    @property
    def label_x(self) -> float:
        return self.stretch.end.x1 + 6


@attrs.frozen
class Tick:
    """A grid line on the date axis: 1 January (major, the year) or a quarter (minor, the month)."""

    x: float
    label: str
    major: bool


@attrs.frozen
class Cursor:
    """The evaluation date: a vertical line with its label kept inside the drawing."""

    x: float
    label: str
    anchor: str  # start | end (SVG text-anchor)


@attrs.frozen
class LegendItem:
    """One key of the legend under the plot, at ``x``."""

    x: float
    kind: str  # target | unknown | infusion | apheresis | window | uncertain | as-of
    key: str
    label: str


@attrs.frozen
class Timeline:
    """Everything the SVG template draws for one patient, in user units of a ``width`` × ``height`` box."""

    width: float
    height: float
    scale: Scale
    plot_top: float
    plot_bottom: float
    rows: tuple[Row, ...]
    bars: tuple[Bar, ...]
    markers: tuple[Marker, ...]
    windows: tuple[Window, ...]
    ticks: tuple[Tick, ...]
    as_of: Cursor
    legend: tuple[LegendItem, ...]
    legend_y: float
    title: str


def _names(info: LineCourse) -> str:
    return " + ".join(a.name if a else f"{raw} (unknown)" for a, raw in zip(info.agents, info.line.agents))


def _kind(info: LineCourse) -> str:
    """tcrt (coloured by target), unknown (an agent not in the catalog and no known TCRT), or other."""
    return "tcrt" if info.targets else "unknown" if None in info.agents else "other"


def _describe(info: LineCourse) -> str:
    if info.one_infusion:
        when = f"infused {info.line.start}"
    else:
        when = f"{info.line.start}, ongoing" if info.ongoing else f"{info.line.start} to {info.line.end}"
    return f"Line {info.number}: {_names(info)} ({when})"


def _truncate(text: str, width: float) -> str:
    limit = int(width / (FONT_SIZE * _CHAR_WIDTH))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _domain(days: list[datetime.date]) -> tuple[datetime.date, datetime.date]:
    """From the first of the month of the earliest day to a month after the latest: a year at least."""
    start = min(days).replace(day=1)
    end = add_months(max(days).replace(day=1), 2)
    return min(start, add_months(end, -_MIN_SPAN_MONTHS)), end


def _ticks(scale: Scale) -> tuple[Tick, ...]:
    """Each 1 January, labelled; over four years or less also each quarter, labelled by month."""
    quarters = (scale.end - scale.start).days <= 4 * 366
    ticks = []
    day = scale.start
    while day <= scale.end:
        if day.month == 1:
            ticks.append(Tick(scale.x(day), str(day.year), True))
        elif quarters and day.month in (4, 7, 10):
            ticks.append(Tick(scale.x(day), day.strftime("%b"), False))
        day = add_months(day, 1)
    return tuple(ticks)


def _legend(bars: list[Bar], markers: list[Marker], windows: list[Window], months: int) -> tuple[LegendItem, ...]:
    """One entry for each kind of mark the drawing holds, laid out left to right."""
    targets = {t for bar in bars for t in bar.targets} | {t for marker in markers for t in marker.targets}
    kinds = {b.kind for b in bars} | {m.kind for m in markers}
    uncertain = any(s.uncertain for s in (*(b.stretch for b in bars), *(w.stretch for w in windows))) or any(
        m.span.uncertain for m in markers)
    entries = [("target", t, f"{t} TCRT") for t in (*(t for t in TCRT_TARGETS if t in targets),
                                                    *sorted(targets - set(TCRT_TARGETS)))]
    entries += [("target", "other", "other therapy")] if "other" in kinds else []
    entries += [("unknown", "unknown", "agent not in catalog")] if "unknown" in kinds else []
    entries += [("infusion", "infusion", "CAR-T infusion")] if "infusion" in kinds else []
    entries += [("apheresis", "apheresis", "apheresis done / planned")] if "apheresis" in kinds else []
    entries += [("window", "window", f"{months}-month interval")] if windows else []
    entries += [("uncertain", "uncertain", "imprecise date")] if uncertain else []
    entries.append(("as-of", "as-of", "evaluation date"))
    items, x = [], 8.0
    for kind, key, label in entries:
        items.append(LegendItem(x, kind, key, label))
        x += 22 + _text_width(label, 10) + 14
    return tuple(items)


def build_timeline(assessment: Assessment) -> Timeline:
    """The drawing of one patient's course as of ``assessment.as_of`` under its policy's interval."""
    course = assessment.course
    history = course.history
    as_of = assessment.as_of
    months = assessment.policy.interval_months
    infos = course.lines
    rows = [Row(TOP + i * ROW_HEIGHT, _truncate(f"{info.number} · {_names(info)}", LABEL_WIDTH - 16), _describe(info))
            for i, info in enumerate(infos)]
    timed = [(row, info, info.last_dose) for row, info in zip(rows, infos)]
    windowed = [(row, info, info.last_dose, closes) for row, info in zip(rows, infos)
                if (closes := info.interval_end) is not None]
    labels = [f"{months} mo → {'≥' if info.ongoing else ''}{end}" for _, info, _, end in windowed]
    dated = [(a, date) for a in history.apheresis if (date := a.date) is not None]
    days = [as_of, *(d for _, info, last in timed for d in (info.line.start.earliest, last.latest))]
    days += [end.latest for *_, end in windowed] + [d for _, date in dated for d in date.sort_key]
    start, end = _domain(days)
    right = max([24.0, *(_text_width(label, 10) + 12 for label in labels)])
    scale = Scale(start, end, LABEL_WIDTH, WIDTH - LABEL_WIDTH - right)

    bars, markers = [], []
    for row, info, last in timed:
        if info.one_infusion:
            markers.append(Marker(row, scale.span(info.line.start), "infusion", "given", info.targets,
                                  f"CAR-T infusion {info.line.start}: {_names(info)}"))
        else:
            bars.append(Bar(row, Stretch(scale.span(info.line.start), scale.span(last)), info.targets, _kind(info),
                            info.ongoing, _describe(info)))
    windows = [
        Window(row, Stretch(scale.span(last), scale.span(end)), months, label,
               f"{months}-month interval after line {info.number}: from the last dose "
               f"{'(ongoing: at the earliest ' + str(as_of) + ')' if info.ongoing else str(last)} to {end}")
        for (row, info, last, end), label in zip(windowed, labels)
    ]
    if history.apheresis:
        undated = len(history.apheresis) - len(dated)
        row = Row(TOP + len(rows) * ROW_HEIGHT, "Apheresis" + (f" ({undated} undated)" if undated else ""),
                  "Apheresis records")
        rows.append(row)
        markers += [Marker(row, scale.span(date), "apheresis", a.status, (),
                           f"Apheresis {a.status}{' for ' + a.product if a.product else ''}: {date}") for a, date in dated]

    plot_bottom = TOP + len(rows) * ROW_HEIGHT
    as_of_label = f"as of {as_of.isoformat()}"
    as_of_x = scale.x(as_of)
    legend_y = plot_bottom + AXIS_HEIGHT + LEGEND_HEIGHT / 2
    return Timeline(
        width=WIDTH,
        height=plot_bottom + AXIS_HEIGHT + LEGEND_HEIGHT,
        scale=scale,
        plot_top=TOP,
        plot_bottom=plot_bottom,
        rows=tuple(rows),
        bars=tuple(bars),
        markers=tuple(markers),
        windows=tuple(windows),
        ticks=_ticks(scale),
        as_of=Cursor(as_of_x, as_of_label, "end" if as_of_x + 4 + _text_width(as_of_label, 10) > WIDTH else "start"),
        legend=_legend(bars, markers, windows, months),
        legend_y=legend_y,
        title=f"Treatment timeline of {history.patient_id} as of {as_of.isoformat()}",
    )
