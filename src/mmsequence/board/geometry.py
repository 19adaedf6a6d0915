"""A patient's treatment course as drawing geometry: a date scale, bars, markers and windows.

Everything here is in SVG user units and computed from the history and its assessment; the
template ``templates/timeline.svg`` only draws it. An imprecise date is an uncertain span: the
x range of every day it could be. Interval windows use the assessment's policy (months, scope)
and calendar-month arithmetic from :mod:`mmsequence.dates`.

Nothing drawn overlaps: every text is a :class:`Label` with its box, every marker has its box,
and labels are placed (:class:`Placer`) at the first of their candidate positions that is clear
of what is already there; markers of one lane that would touch move to a second sub-lane.
"""

from __future__ import annotations

import datetime
import gettext
import unicodedata
from collections.abc import Iterable

import attrs

from ..assessment import Assessment
from ..catalog import Agent, Catalog
from ..course import TCRT_TARGETS, ResolvedLine
from ..dates import PartialDate, add_months
from ..i18n import ENGLISH, drug_name, format_date, format_when, translations

WIDTH = 1000.0
LABEL_WIDTH = 250.0  # the column of row labels left of the plot
TOP = 22.0  # room for the evaluation-date label
ROW_HEIGHT = 28.0
BAR_HEIGHT = 14.0
AXIS_HEIGHT = 22.0
LEGEND_HEIGHT = 26.0
# Text sizes in user units: the report prints the 1000-unit drawing at least 996 px wide (US Letter
# landscape), so 11 units stay above 8 pt on paper.
FONT_SIZE = 11.0
SMALL_SIZE = 11.0
_CHAR_WIDTH = 0.6  # average glyph width of the sans-serif font, in font sizes
_WIDE_CHAR_WIDTH = 1.05  # a CJK character is a full em (and a little)
_MIN_SPAN_MONTHS = 12
MARKER_RADIUS = 6.0  # half the width of an apheresis circle (5.5), or of an infusion diamond moved to a sub-lane
INFUSION_RADIUS = 8.0  # half the width of an infusion diamond on its lane
_GAP = 2.0  # clear space kept around every text and marker


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous estimate of the drawn width of ``text`` (wide CJK characters count a full em)."""
    return sum(_WIDE_CHAR_WIDTH if unicodedata.east_asian_width(c) in "WF" else _CHAR_WIDTH for c in text) * size


@attrs.frozen
class Box:
    """An axis-aligned rectangle in user units."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1

    def grown(self, by: float) -> Box:
        return Box(self.x0 - by, self.y0 - by, self.x1 + by, self.y1 + by)


@attrs.frozen
class Label:
    """A text drawn at baseline ``(x, y)``; ``css`` is its SVG class, ``anchor`` its SVG text-anchor."""

    x: float
    y: float
    text: str
    css: str = "tl-label"
    anchor: str = "start"  # start | middle | end
    size: float = FONT_SIZE
    title: str = ""  # a tooltip (the lane's full description)

    @property
    def box(self) -> Box:
        width = _text_width(self.text, self.size)
        x0 = self.x - {"start": 0.0, "middle": width / 2, "end": width}[self.anchor]
        return Box(x0, self.y - self.size * 0.85, x0 + width, self.y + self.size * 0.25)


class Placer:
    """Keeps the boxes already drawn; places each new label at its first position that is clear."""

    def __init__(self, obstacles: Iterable[Box] = ()) -> None:
        self.boxes: list[Box] = list(obstacles)

    def clear(self, box: Box) -> bool:
        grown = box.grown(_GAP / 2)
        return not any(grown.overlaps(other.grown(_GAP / 2)) for other in self.boxes)

    def place(self, *options: Label, within: Box | None = None) -> Label | None:
        """The first option that is clear (and inside ``within``), now taken; None if none is."""
        for option in options:
            box = option.box
            inside = within is None or (within.x0 <= box.x0 and box.x1 <= within.x1)
            if inside and self.clear(box):
                self.boxes.append(box)
                return option
        return None


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
    cy: float = attrs.field()
    x: float = attrs.field()  # the date's x, unless a crowded lane moved the marker right

    @cy.default
    def _on_the_lane(self) -> float:
        return self.row.mid

    @x.default
    def _on_the_date(self) -> float:
        return self.span.mid

    @property
    def radius(self) -> float:
        return INFUSION_RADIUS if self.kind == "infusion" and self.cy == self.row.mid else MARKER_RADIUS

    @property
    def box(self) -> Box:
        x, r = self.x, self.radius
        return Box(x - r, self.cy - r, x + r, self.cy + r)


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
    def box(self) -> Box:
        return Box(self.stretch.x, self.y, self.stretch.x + self.stretch.width, self.y + self.height)


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
    y: float = 0.0  # the middle of its legend row

    @property
    def text(self) -> Label:
        return Label(self.x + 22, self.y + 3.5, self.label, "tl-muted", size=SMALL_SIZE)


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
    labels: tuple[Label, ...] = ()  # every text of the drawing, placed so that none overlaps another

    @property
    def as_of_line(self) -> Box:
        """The dashed evaluation-date line, as a box no label may cross."""
        return Box(self.as_of.x - 1, self.plot_top - 8, self.as_of.x + 1, self.plot_bottom)


def _short(agent: Agent) -> str:
    """An agent's short name as clinicians write it on a line: its first all-lowercase synonym
    shorter than the name (dara, btz, len, tec, cilta-cel), else its name."""
    for synonym in agent.synonyms:
        if synonym.islower() and synonym.isascii() and len(synonym) < len(agent.name) and " " not in synonym:
            return synonym
    return agent.name


def regimen(info: ResolvedLine, language: str = ENGLISH) -> str:
    """The line's regimen as clinicians write it: the catalog's abbreviation (``KPd``, ``D-VRd``) when
    the line's agents make a named regimen, else the agents in short names (``dara + btz``); an
    unknown agent as written. In a language with display names (zh-CN), an agent that has one is
    shown by it."""
    if info.regimen is not None and info.regimen.abbreviation is not None:
        return info.regimen.abbreviation

    def one(agent: Agent | None, raw: str) -> str:
        if agent is None:
            return raw
        shown = agent.display_name(language)
        return shown if shown != agent.name else _short(agent)
    return " + ".join(one(a, raw) for a, raw in zip(info.agents, info.line.agents))


def short_therapy(name: str, catalog: Catalog, language: str = ENGLISH) -> str:
    """A therapy named as a line's lane names it: a regimen by its abbreviation (``Tec-Dara``), an
    agent by its display name in ``language``, else its short name (``cilta-cel``, ``tec``)."""
    agent = catalog.lookup(name)
    if agent is None:
        regimen = catalog.regimen_named(name)
        return regimen.abbreviation or regimen.name if regimen is not None else name
    shown = agent.display_name(language)
    return shown if shown != agent.name else _short(agent)


def _names(info: ResolvedLine, tr: gettext.NullTranslations, language: str) -> str:
    unknown = tr.gettext("{name} (unknown)")
    return " + ".join(a.display_name(language) if a else unknown.format(name=raw)
                      for a, raw in zip(info.agents, info.line.agents))


def _kind(info: ResolvedLine) -> str:
    """tcrt (coloured by target), unknown (an agent not in the catalog and no known TCRT), or other."""
    return "tcrt" if info.targets else "unknown" if None in info.agents else "other"


def _describe(info: ResolvedLine, tr: gettext.NullTranslations, language: str) -> str:
    _ = tr.gettext
    start = format_when(info.line.start, language)
    if info.one_infusion:
        when = _("infused {date}").format(date=start)
    elif info.ongoing:
        when = _("{start}, ongoing").format(start=start)
    else:
        when = _("{start} to {end}").format(start=start, end=format_when(info.line.end, language))
    return _("Line {number}: {agents} ({when})").format(number=info.number, agents=_names(info, tr, language), when=when)


def _truncate(text: str, width: float, size: float = FONT_SIZE) -> str:
    if _text_width(text, size) <= width:
        return text
    while text and _text_width(text + "…", size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _domain(days: list[datetime.date]) -> tuple[datetime.date, datetime.date]:
    """From the first of the month of the earliest day to a month after the latest: a year at least."""
    start = min(days).replace(day=1)
    end = add_months(max(days).replace(day=1), 2)
    return min(start, add_months(end, -_MIN_SPAN_MONTHS)), end


def _month(day: datetime.date, language: str) -> str:
    if language == ENGLISH:
        return ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[day.month - 1]
    from babel.dates import format_date as cldr_date

    return str(cldr_date(day, "MMM", locale=language.replace("-", "_")))


def _ticks(scale: Scale, language: str) -> tuple[Tick, ...]:
    """Each 1 January, labelled; over four years or less also each quarter, labelled by month."""
    quarters = (scale.end - scale.start).days <= 4 * 366
    ticks = []
    day = scale.start
    while day <= scale.end:
        if day.month == 1:
            ticks.append(Tick(scale.x(day), str(day.year), True))
        elif quarters and day.month in (4, 7, 10):
            ticks.append(Tick(scale.x(day), _month(day, language), False))
        day = add_months(day, 1)
    return tuple(ticks)


def _clear_of(marker: Marker, placed: list[Marker]) -> Marker:
    """``marker`` moved right (if need be) until it touches none of ``placed``."""
    while True:
        box = marker.box.grown(_GAP / 2)
        hits = [other.box.x1 for other in placed if box.overlaps(other.box.grown(_GAP / 2))]
        if not hits:
            return marker
        marker = attrs.evolve(marker, x=max(hits) + _GAP + marker.radius)


def _spread(markers: list[Marker]) -> list[Marker]:
    """Markers of one lane that would touch go, in date order, to an upper and a lower sub-lane; one
    that would still touch a marker placed before it moves right, just clear of it (its tooltip and
    its faint date span keep the date)."""
    placed: list[Marker] = []
    by_lane: dict[float, list[Marker]] = {}
    for marker in sorted(markers, key=lambda m: (m.row.y, m.span.mid)):
        by_lane.setdefault(marker.row.y, []).append(marker)
    for lane in by_lane.values():
        clusters: list[list[Marker]] = []
        for marker in lane:
            if clusters and marker.span.mid - clusters[-1][-1].span.mid < 2 * INFUSION_RADIUS + _GAP:
                clusters[-1].append(marker)
            else:
                clusters.append([marker])
        for cluster in clusters:
            for i, marker in enumerate(cluster):
                if len(cluster) > 1:
                    marker = attrs.evolve(marker, cy=marker.row.mid + (MARKER_RADIUS + 1) * (-1 if i % 2 == 0 else 1))
                placed.append(_clear_of(marker, placed))
    return placed


def _legend(bars: list[Bar], markers: list[Marker], windows: list[Window], months: int,
            tr: gettext.NullTranslations) -> tuple[LegendItem, ...]:
    """One entry for each kind of mark the drawing holds, laid out left to right."""
    _ = tr.gettext
    targets = {t for bar in bars for t in bar.targets} | {t for marker in markers for t in marker.targets}
    kinds = {b.kind for b in bars} | {m.kind for m in markers}
    uncertain = any(s.uncertain for s in (*(b.stretch for b in bars), *(w.stretch for w in windows))) or any(
        m.span.uncertain for m in markers)
    entries = [("target", t, _("{target} TCRT").format(target=t))
               for t in (*(t for t in TCRT_TARGETS if t in targets), *sorted(targets - set(TCRT_TARGETS)))]
    entries += [("target", "other", _("other therapy"))] if "other" in kinds else []
    entries += [("unknown", "unknown", _("agent not in catalog"))] if "unknown" in kinds else []
    entries += [("infusion", "infusion", _("CAR-T infusion"))] if "infusion" in kinds else []
    entries += [("apheresis", "apheresis", _("apheresis done / planned"))] if "apheresis" in kinds else []
    entries += [("window", "window", _("{months}-month interval").format(months=months))] if windows else []
    entries += [("uncertain", "uncertain", _("imprecise date"))] if uncertain else []
    entries.append(("as-of", "as-of", _("evaluation date")))
    items, x, row = [], 8.0, 0
    for kind, key, label in entries:
        advance = 22 + _text_width(label, SMALL_SIZE) + 14
        if x > 8.0 and x + advance - 14 > WIDTH - 8:  # wrap to a new legend row
            x, row = 8.0, row + 1
        items.append(LegendItem(x, kind, key, label, row * LEGEND_HEIGHT))
        x += advance
    return tuple(items)


def _window_label(window: Window, as_of_line: Box, placer: Placer, plot: Box) -> Label:
    """Right of the window; else right of the evaluation-date line; else inside the window; else
    above the lane, over the bar's row edge."""
    row, text = window.row, window.label
    end = window.stretch.end.x1
    after_line = as_of_line.x1 + 4
    options = [Label(end + 6, row.text_y, text, "tl-window-label", size=SMALL_SIZE),
               Label(max(end + 6, after_line), row.text_y, text, "tl-window-label", size=SMALL_SIZE),
               Label(window.stretch.x + window.stretch.width / 2, row.text_y, text, "tl-window-label", "middle",
                     SMALL_SIZE)]
    placed = placer.place(*options, within=plot)
    if placed is None:  # last resort: beyond everything on the right, inside the drawing
        right = max(box.x1 for box in placer.boxes if box.y1 > row.y and box.y0 < row.y + row.height) + 4
        placed = Label(right, row.text_y, text, "tl-window-label", size=SMALL_SIZE)
        placer.boxes.append(placed.box)
    return placed


def build_timeline(assessment: Assessment, language: str = ENGLISH) -> Timeline:
    """The drawing of one patient's course as of ``assessment.as_of`` under its policy's interval, in ``language``."""
    tr = translations(language)
    _ = tr.gettext
    course = assessment.course
    history = course.history
    as_of = assessment.as_of
    months = assessment.policy.interval_months
    infos = course.lines
    rows = [Row(TOP + i * ROW_HEIGHT, _truncate(f"{info.number} · {regimen(info, language)}", LABEL_WIDTH - 16),
                _describe(info, tr, language))
            for i, info in enumerate(infos)]
    timed = [(row, info, info.last_dose) for row, info in zip(rows, infos)]
    windowed = [(row, info, info.last_dose, closes) for row, info in zip(rows, infos)
                if (closes := info.interval_end) is not None]
    labels = [_("{months} mo → {date}").format(months=months, date=("≥" if info.ongoing else "") + format_when(end, language))
              for _row, info, _last, end in windowed]
    dated = [(a, date) for a in history.apheresis if (date := a.date) is not None]
    days = [as_of, *(d for _, info, last in timed for d in (info.start.earliest, last.latest))]
    days += [end.latest for *_, end in windowed] + [d for _, date in dated for d in date.sort_key]
    start, end = _domain(days)
    right = max([24.0, *(_text_width(label, SMALL_SIZE) + 12 for label in labels)])
    scale = Scale(start, end, LABEL_WIDTH, WIDTH - LABEL_WIDTH - right)

    bars, markers = [], []
    for row, info, last in timed:
        if info.one_infusion:
            markers.append(Marker(row, scale.span(info.start), "infusion", "given", info.targets,
                                  _("CAR-T infusion {date}: {agents}").format(date=format_when(info.line.start, language),
                                                                             agents=_names(info, tr, language))))
        else:
            bars.append(Bar(row, Stretch(scale.span(info.start), scale.span(last)), info.targets, _kind(info),
                            info.ongoing, _describe(info, tr, language)))
    windows = [
        Window(row, Stretch(scale.span(last), scale.span(end)), months, label,
               _("{months}-month interval after line {number}: from the last dose {last} to {end}").format(
                   months=months, number=info.number, end=format_when(end, language),
                   last=_("(ongoing: at the earliest {date})").format(date=format_when(as_of, language))
                   if info.ongoing else format_when(last, language)))
        for (row, info, last, end), label in zip(windowed, labels)
    ]
    if history.apheresis:
        undated = len(history.apheresis) - len(dated)
        heading = _("Apheresis") + (_(" ({count} undated)").format(count=undated) if undated else "")
        row = Row(TOP + len(rows) * ROW_HEIGHT, heading, _("Apheresis records"))
        rows.append(row)
        for a, date in dated:
            product = _(" for {product}").format(product=drug_name(a.product, assessment.catalog, language)) if a.product else ""
            markers.append(Marker(row, scale.span(date), "apheresis", a.status, (),
                                  _("Apheresis {status}{product}: {date}").format(
                                      status=tr.pgettext("apheresis", a.status), product=product, date=format_when(date, language))))
    markers = _spread(markers)

    plot_bottom = TOP + len(rows) * ROW_HEIGHT
    as_of_label = _("as of {date}").format(date=format_date(as_of, language))
    as_of_x = scale.x(as_of)
    legend = _legend(bars, markers, windows, months, tr)
    legend_rows = 1 + max(item.y for item in legend) / LEGEND_HEIGHT
    legend_y = plot_bottom + AXIS_HEIGHT + LEGEND_HEIGHT / 2
    legend = tuple(attrs.evolve(item, y=legend_y + item.y) for item in legend)
    cursor = Cursor(as_of_x, as_of_label,
                    "end" if as_of_x + 4 + _text_width(as_of_label, SMALL_SIZE) > WIDTH else "start")
    height = plot_bottom + AXIS_HEIGHT + LEGEND_HEIGHT * legend_rows
    as_of_line = Box(as_of_x - 1, TOP - 8, as_of_x + 1, plot_bottom)

    # Placement: what has a fixed place first (markers, the evaluation-date line and its label, the
    # lane labels, the legend), then the window labels, then the axis labels that still fit.
    placer = Placer([m.box for m in markers] + [as_of_line])
    texts: list[Label] = []
    for fixed in (Label(as_of_x + (4 if cursor.anchor == "start" else -4), TOP - 8, as_of_label, "tl-as-of",
                        cursor.anchor, SMALL_SIZE),
                  *(Label(8, r.text_y, r.label, title=r.title) for r in rows), *(item.text for item in legend)):
        placer.boxes.append(fixed.box)
        texts.append(fixed)
    plot = Box(LABEL_WIDTH, TOP, WIDTH, plot_bottom)
    texts += [_window_label(w, as_of_line, placer, plot) for w in windows]
    ticks = _ticks(scale, language)
    for tick in sorted(ticks, key=lambda t: not t.major):
        label = Label(tick.x, plot_bottom + 16, tick.label, "tl-label" if tick.major else "tl-muted", "middle",
                      FONT_SIZE if tick.major else SMALL_SIZE)
        if placer.place(label, within=Box(LABEL_WIDTH - 20, 0, WIDTH, height)):
            texts.append(label)
    return Timeline(
        width=WIDTH,
        height=height,
        scale=scale,
        plot_top=TOP,
        plot_bottom=plot_bottom,
        rows=tuple(rows),
        bars=tuple(bars),
        markers=tuple(markers),
        windows=tuple(windows),
        ticks=ticks,
        as_of=cursor,
        legend=legend,
        legend_y=legend_y,
        title=_("Treatment timeline of {patient} as of {date}").format(patient=history.patient_id,
                                                                       date=format_date(as_of, language)),
        labels=tuple(texts),
    )
