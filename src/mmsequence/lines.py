"""Lines of therapy by the IMWG definition, from what a chart records (FHIR today, OMOP later).

IMWG (Rajkumar, Richardson, San Miguel, Blood 2015;126(7):921-922): a line is one or more
complete cycles of a single agent, a combination, or a planned sequence of regimens; induction
followed by autologous transplant, consolidation and maintenance is one line. A new line starts
when the planned course is changed because of progression, relapse or toxicity, or when a planned
pause off therapy is interrupted by the need for further treatment. Supportive care,
premedication and CRS/ICANS treatment are never a line; conditioning belongs to the transplant,
lymphodepletion and bridging to the CAR-T.

Records are read in order of their start (each date on its earliest possible day), once:

1. Drugs not directed at myeloma (supportive care, premedication, CRS management, and drugs an
   ATC code marks as supportive) are set aside and listed; they never start, extend or end a line.
2. A drug that may be transplant conditioning, given in the ``CONDITIONING_DAYS`` before a
   stem-cell infusion, is conditioning; one that may be lymphodepletion, in the
   ``LYMPHODEPLETION_DAYS`` before a CAR-T infusion, is lymphodepletion. Both belong to that line.
3. A CAR-T infusion starts a line, which also holds its T-cell collection, the bridging therapy
   started between collection and infusion, and the lymphodepletion.
4. A stem-cell infusion joins the line it follows (induction and transplant are planned
   together); drugs started within ``MAINTENANCE_DAYS`` after it are consolidation or maintenance
   of that line, unless a progression was recorded first.
5. Otherwise a drug joins the current line when it starts within ``REGIMEN_DAYS`` of the line's
   start (the regimen), or when it is already in the line and continues (the line is ongoing or
   the drug restarts within ``PAUSE_DAYS``); a corticosteroid joins the current line.
6. Anything else starts a new line, saying why: a progression or toxicity recorded before it (a
   progression, or a drug of the line stopped for progression or toxicity, when the start may come
   after that stop's earliest day: even the same regimen given again is then a new line), a new
   drug after the regimen was set (a changed plan), or
   treatment resumed after a pause.
   Dexamethasone or methylprednisolone within a day of a TCRT dose is premedication, in the
   ``CRS_DAYS`` after one CRS or ICANS management; any other corticosteroid alone outside a line
   is listed and not counted.

A drug whose end is not recorded is ongoing until the next line starts without it; its last dose
is then taken to be no later than that start, with a warning. Each step is constant work per
record, so a chart of any size is read in one pass after sorting.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .catalog import NOT_DIRECTED_AT_MYELOMA, Agent
from .course import refractory_by_date
from .dates import PartialDate
from .history import Line, LineOrigin, SourceRecord
from .notices import Notice

REGIMEN_DAYS = 28
PAUSE_DAYS = 90
MAINTENANCE_DAYS = 180
CONDITIONING_DAYS = 10
LYMPHODEPLETION_DAYS = 14
PREMEDICATION_DAYS = 1
CRS_DAYS = 30

#: What a chart record is: a drug given, an infusion of cells, a collection, or a progression.
KINDS = ("drug", "car-t-infusion", "stem-cell-infusion", "t-cell-collection", "stem-cell-harvest", "progression")
#: What a record is within its line.
PARTS = ("therapy", "bridging", "conditioning", "lymphodepletion", "transplant", "infusion", "collection")

_CORTICOSTEROID = "corticosteroid"


@attrs.frozen
class Event:
    """One record of a chart, as the line derivation needs it (``end`` None: no end recorded)."""

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    start: PartialDate
    source: str
    name: str = ""
    end: PartialDate | None = None
    agent: Agent | None = None
    fallback_role: str | None = None
    stop_reason: str | None = None
    refractory: bool | None = None
    matched_by: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def role(self) -> str | None:
        """The drug's own role (the catalog's, else its ATC fallback); None for an unknown drug."""
        return self.agent.role if self.agent is not None else self.fallback_role

    def last_dose(self) -> PartialDate | None:
        return self.end if self.kind == "drug" else self.start


@attrs.frozen
class Member:
    """A record in a line, what it is there (one of PARTS) and its last dose (None: ongoing)."""

    event: Event
    part: str
    end: PartialDate | None

    @property
    def counts(self) -> bool:
        """Whether it is anti-myeloma therapy of the line (not conditioning, lymphodepletion or a procedure)."""
        return self.part in ("therapy", "bridging", "infusion")


@attrs.frozen
class DerivedLine:
    """A line of therapy: its number, why it started, and its records in order."""

    number: int
    reason: str
    members: tuple[Member, ...]
    progression: Event | None = None  # the first progression recorded after it started, before the next line

    @property
    def start(self) -> PartialDate:
        return min((m.event.start for m in self.members), key=_day)

    @property
    def car_t(self) -> bool:
        return any(m.part == "infusion" for m in self.members)

    @property
    def transplant(self) -> bool:
        return any(m.part == "transplant" for m in self.members)

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.event.name for m in self.members if m.counts))

    @property
    def counts(self) -> bool:
        """A line counts when it holds anti-myeloma therapy (known or not)."""
        return any(m.counts for m in self.members)


@attrs.frozen
class SetAside:
    """A drug that is not anti-myeloma therapy here, and why: its role, or ``note`` when no role says it."""

    event: Event
    role: str
    note: str | None = None  # the code of a role no catalog role says (notices.TEMPLATES)

    @property
    def words(self) -> Notice:
        return Notice(self.note) if self.note else Notice(f"role.{self.role}")

    def message(self) -> Notice:
        if self.note:
            return Notice("lines.set-aside-note", self.event.source, drug=self.event.name, role=self.words)
        atc = self.event.matched_by.get("atc", {}).get("code") if self.event.agent is None else None
        if atc:
            return Notice("lines.set-aside-atc", self.event.source, drug=self.event.name, role=self.words, atc=atc)
        return Notice("lines.set-aside", self.event.source, drug=self.event.name, role=self.words)


@attrs.frozen
class LineReading:
    """Lines derived from a chart, the drugs set aside, stem-cell harvests, and warnings."""

    lines: tuple[DerivedLine, ...]
    set_aside: tuple[SetAside, ...]
    harvests: tuple[Event, ...]
    warnings: tuple[Notice, ...]


def _day(date: PartialDate) -> tuple[datetime.date, datetime.date]:
    return date.earliest, date.latest


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


#: Same-day order: procedures and progressions before drugs, corticosteroids last (so that
#: dexamethasone given with a new regimen joins the new regimen, not the old one).
_ORDER = {"progression": 0, "t-cell-collection": 1, "stem-cell-harvest": 1, "car-t-infusion": 2,
          "stem-cell-infusion": 2, "drug": 3}


def _sort_key(e: Event) -> tuple[datetime.date, int, bool, datetime.date, str, str]:
    steroid = e.agent is not None and e.agent.drug_class == _CORTICOSTEROID
    return (e.start.earliest, _ORDER[e.kind], steroid, e.start.latest, e.name, e.source)


def _within_before(e: Event, anchors: list[Event], days: int) -> Event | None:
    """The first anchor on or after ``e`` starts and at most ``days`` later (anchors sorted by day)."""
    for anchor in anchors:
        gap = (anchor.start.earliest - e.start.earliest).days
        if 0 <= gap <= days:
            return anchor
    return None


class _TcrtDays:
    """The days a TCRT may have been given (bsAb courses as spans, CAR-T infusions as days), merged,
    for looking a day up in logarithmic time."""

    def __init__(self, events: list[Event]) -> None:
        spans = []
        for e in events:
            if e.agent is None or not e.agent.is_tcrt:
                continue
            last = e.start if e.kind == "car-t-infusion" else e.end
            spans.append((e.start.earliest, (last.latest if last is not None else datetime.date.max),
                          e.kind == "car-t-infusion"))
        spans.sort()
        self.starts = [first for first, _, _ in spans]
        self.spans = spans
        self.infusions = sorted(first for first, _, infusion in spans if infusion)
        self.reach = list(itertools.accumulate((last for _, last, _ in spans), max))

    def role(self, e: Event) -> str | None:
        """'premedication' on (or a day from) a TCRT dose, 'crs-management' in the weeks after an infusion."""
        day = e.start.earliest
        i = bisect.bisect_right(self.starts, day + _days(PREMEDICATION_DAYS)) - 1
        if i >= 0 and self.reach[i] >= day - _days(PREMEDICATION_DAYS):
            return "premedication"
        j = bisect.bisect_left(self.infusions, day) - 1
        if j >= 0 and 0 < (day - self.infusions[j]).days <= CRS_DAYS:
            return "crs-management"
        return None


@attrs.define
class _LineInProgress:
    """The line being built."""

    number: int
    reason: str
    members: list[Member]
    names: set[str]
    start: datetime.date
    last_dose: datetime.date | None  # latest possible last dose of its therapy; None while ongoing
    ongoing: bool
    transplant_day: datetime.date | None = None
    car_t: bool = False
    progression: Event | None = None
    stopped: datetime.date | None = None  # the earliest possible last dose of a drug stopped for progression or toxicity

    def add(self, member: Member) -> None:
        self.members.append(member)
        if member.counts or member.part == "transplant":
            self.names.add(member.event.name)
            if member.event.kind == "drug" and member.end is None:
                self.ongoing = True
            last = member.end if member.end is not None else member.event.start
            self.last_dose = max(filter(None, (self.last_dose, last.latest)))
            if member.event.stop_reason in ("progression", "toxicity") and member.end is not None:
                self.stopped = max(filter(None, (self.stopped, member.end.earliest)))


def derive_lines(events: Iterable[Event]) -> LineReading:
    """The lines of therapy a chart's records make, by the IMWG definition (see the module doc)."""
    ordered = sorted(events, key=_sort_key)
    car_t = [e for e in ordered if e.kind == "car-t-infusion"]
    stem_cell = [e for e in ordered if e.kind == "stem-cell-infusion"]
    tcrt_days = _TcrtDays([e for e in ordered if e.kind in ("drug", "car-t-infusion")])
    collections = [e for e in ordered if e.kind == "t-cell-collection"]
    bridging_windows = _bridging_windows(collections, car_t)

    lines: list[_LineInProgress] = []
    set_aside: list[SetAside] = []
    harvests: list[Event] = []
    warnings: list[Notice] = []
    progression: Event | None = None  # the latest progression seen, while no line started after it
    pending: dict[str, list[Member]] = {"conditioning": [], "lymphodepletion": []}
    bridging: list[Member] = []

    def start_line(reason: Notice, member: Member) -> _LineInProgress:
        nonlocal progression
        if lines:
            _close_open_ends(lines[-1], member.event, warnings)
        line = _LineInProgress(len(lines) + 1, reason, [], set(), member.event.start.earliest, None, False)
        lines.append(line)
        line.add(member)
        progression = None
        return line

    for e in ordered:
        current = lines[-1] if lines else None
        if e.kind == "progression":
            progression = e
            if current is not None:  # its date decides refractoriness (mmsequence.course.line_refractory)
                current.progression = current.progression or e
            continue
        if e.kind == "stem-cell-harvest":
            harvests.append(e)
            continue
        if e.kind == "t-cell-collection":
            continue  # joins its CAR-T line when the infusion comes
        if e.kind == "car-t-infusion":
            reason = Notice("line.car-t-infusion", drug=e.name, date=e.start, record=e.source)
            line = start_line(reason, Member(e, "infusion", e.start))
            line.car_t = True
            for collection in _collection_of(e, collections):
                line.members.insert(0, Member(collection, "collection", collection.start))
            line.members.extend(bridging + pending["lymphodepletion"])
            bridging, pending["lymphodepletion"] = [], []
            continue
        if e.kind == "stem-cell-infusion":
            member = Member(e, "transplant", e.start)
            if current is not None and not current.car_t and progression is None:
                current.add(member)
                current.reason = Notice("line.transplant-planned", reason=current.reason, date=e.start, record=e.source)
                line = current
            else:
                line = start_line(Notice("line.transplant", date=e.start, record=e.source), member)
            line.transplant_day = e.start.earliest
            line.members.extend(pending["conditioning"])
            pending["conditioning"] = []
            continue

        role = e.role
        if (e.agent is not None and role in NOT_DIRECTED_AT_MYELOMA) or (e.agent is None and role is not None):
            set_aside.append(SetAside(e, role))
            continue
        if e.agent is not None and e.agent.may_be("conditioning") and _within_before(e, stem_cell, CONDITIONING_DAYS):
            pending["conditioning"].append(Member(e, "conditioning", e.end))
            continue
        if e.agent is not None and e.agent.may_be("lymphodepletion") and _within_before(e, car_t, LYMPHODEPLETION_DAYS):
            pending["lymphodepletion"].append(Member(e, "lymphodepletion", e.end))
            continue
        if role in ("conditioning", "lymphodepletion"):
            what = Notice("infusion.stem-cell" if role == "conditioning" else "infusion.car-t")
            warnings.append(Notice("lines.no-infusion", e.source, drug=e.name, role=Notice(f"role.{role}"), what=what,
                                   days=CONDITIONING_DAYS if role == "conditioning" else LYMPHODEPLETION_DAYS))
            set_aside.append(SetAside(e, role))
            continue
        if _in_window(e, bridging_windows) and not (current is not None and _continues(current, e)):
            bridging.append(Member(e, "bridging", e.end))
            continue
        steroid = e.agent is not None and e.agent.drug_class == _CORTICOSTEROID
        near = tcrt_days.role(e) if e.agent is not None and steroid and e.agent.contexts else None
        if near is not None:
            set_aside.append(SetAside(e, near))
            continue
        if current is not None and progression is None and _joins(current, e, steroid):
            current.add(Member(e, "therapy", e.end))
            continue
        if steroid:
            set_aside.append(SetAside(e, "anti-myeloma", "role.corticosteroid-alone"))
            continue
        start_line(_new_line_reason(current, e, progression), Member(e, "therapy", e.end))

    if bridging or pending["lymphodepletion"] or pending["conditioning"]:
        for waiting in bridging:  # a collection with no infusion yet: the bridging is its own line, so far
            start_line(Notice("line.bridging-only", drug=waiting.event.name, date=waiting.event.start), waiting)
    return LineReading(
        lines=tuple(DerivedLine(o.number, o.reason, tuple(o.members), o.progression) for o in lines),
        set_aside=tuple(set_aside), harvests=tuple(harvests), warnings=tuple(warnings),
    )


def _bridging_windows(collections: list[Event], infusions: list[Event]) -> list[tuple[datetime.date, datetime.date]]:
    """(collection day, infusion day) for each CAR-T infusion that follows a T-cell collection."""
    windows = []
    for infusion in infusions:
        before = [c for c in collections if c.start.earliest <= infusion.start.earliest]
        if before:
            windows.append((before[-1].start.earliest, infusion.start.earliest))
    return windows


def _collection_of(infusion: Event, collections: list[Event]) -> list[Event]:
    before = [c for c in collections if c.start.earliest <= infusion.start.earliest]
    return before[-1:]


def _in_window(e: Event, windows: list[tuple[datetime.date, datetime.date]]) -> bool:
    return any(first <= e.start.earliest < last for first, last in windows)


def _continues(line: _LineInProgress, e: Event) -> bool:
    """Whether ``e`` is a drug of ``line`` that goes on (the line ongoing, or restarted within the pause)."""
    if e.name not in line.names:
        return False
    return line.ongoing or line.last_dose is None or e.start.earliest <= line.last_dose + _days(PAUSE_DAYS)


def _joins(line: _LineInProgress, e: Event, steroid: bool) -> bool:
    # a start that may come after the stop is a new line: a restart after progression, whichever day
    if line.car_t or (line.stopped is not None and e.start.latest > line.stopped):
        return False
    if e.start.earliest <= line.start + _days(REGIMEN_DAYS):
        return True
    if line.transplant_day is not None and e.start.earliest <= line.transplant_day + _days(MAINTENANCE_DAYS):
        return True
    if steroid and (line.ongoing or (line.last_dose is not None and e.start.earliest <= line.last_dose)):
        return True
    return _continues(line, e)


def _new_line_reason(previous: _LineInProgress | None, e: Event, progression: Event | None) -> Notice:
    if previous is None:
        return Notice("line.first", drug=e.name, date=e.start)
    if progression is not None:
        return Notice("line.after-progression", progression=progression.start, record=progression.source, drug=e.name,
                      date=e.start)
    stopped = [m.event for m in previous.members if m.event.stop_reason in ("progression", "toxicity")]
    if stopped:
        last = next((s for s in stopped if s.agent is None or s.agent.drug_class != _CORTICOSTEROID), stopped[-1])
        return Notice("line.after-stop", stopped=last.name, stop=Notice(f"stop.{last.stop_reason}"), record=last.source,
                      drug=e.name, date=e.start)
    if previous.car_t:
        return Notice("line.after-car-t", drug=e.name, date=e.start)
    if e.name in previous.names:
        gap = (e.start.earliest - previous.last_dose).days if previous.last_dose else 0
        return Notice("line.resumed", drug=e.name, date=e.start, days=gap)
    return Notice("line.plan-changed", drug=e.name, date=e.start, number=previous.number)


def _close_open_ends(line: _LineInProgress, next_event: Event, warnings: list[Notice]) -> None:
    """Drugs of ``line`` without an end that the next line does not continue end before it starts, and
    not before a progression recorded while they were still given (so that it was on therapy)."""
    limit = next_event.start
    for i, m in enumerate(line.members):
        if m.event.kind == "drug" and m.end is None and m.counts and m.event.name != next_event.name:
            first, after = m.event.start.earliest, None
            progression = line.progression
            if progression is not None and first <= progression.start.earliest <= limit.latest:
                first, after = progression.start.earliest, progression.start
            end = PartialDate.between(first, max(first, limit.latest))
            line.members[i] = attrs.evolve(m, end=end)
            warnings.append(Notice("lines.open-end", m.event.source, drug=m.event.name, number=line.number + 1, date=limit)
                            if after is None else
                            Notice("lines.open-end-progression", m.event.source, drug=m.event.name, number=line.number + 1,
                                   date=limit, progression=after))
    line.ongoing = False
    ends = [m.end.latest for m in line.members if m.counts and m.end is not None]
    line.last_dose = max(ends, default=line.last_dose)


# --- lines as the patient history holds them (FHIR and OMOP readers) -------------------------

def _records(events: Iterable[Event]) -> tuple[SourceRecord, ...]:
    return tuple(SourceRecord(e.name, e.source, e.matched_by) for e in events)


def history_line(members: list[Member], method: str, reason: str, number: int, notes: list[Member],
                 progression: Event | None = None) -> Line:
    """One history line from records of one line (``notes``: its records that are not therapy)."""
    starts = [m.event.start for m in members]
    ends = [m.end for m in members]
    stopped = [m for m in members if m.event.stop_reason]
    last_stop = max(stopped, key=lambda m: _day(m.end or m.event.start)).event.stop_reason if stopped else None
    known_ends = [e for e in ends if e is not None]
    end = None if len(known_ends) < len(ends) else max(known_ends, key=lambda d: (d.latest, d.earliest))
    for m in notes:
        reason = Notice("line.part", reason=reason, part=Notice(f"part.{m.part}"), drug=m.event.name, date=m.event.start,
                        record=m.event.source)
    if progression is not None:
        reason = Notice("line.progression", reason=reason, date=progression.start, record=progression.source)
    # a progression that may count as on therapy (IMWG: within 60 days of the last dose) is why it
    # stopped; its date, on the line, decides refractoriness in the course
    on_therapy = progression is not None and refractory_by_date(progression.start, end) is not False
    return Line(
        agents=tuple(dict.fromkeys(m.event.name for m in members)),
        start=min(starts, key=_day),
        end=end,
        stop_reason=last_stop or ("progression" if on_therapy else None),
        comment=str(reason),
        origin=LineOrigin(method, reason, _records(m.event for m in members + notes), number),
        progression=None if progression is None else progression.start,
    )


def history_lines(reading: LineReading) -> list[tuple[int, Line]]:
    """The history's lines of a reading, with their line-of-therapy numbers: one per line, and two
    for a CAR-T line (its bridging therapy, and the infusion, kept as one infusion on its day)."""
    out = []
    for line in reading.lines:
        notes = [m for m in line.members if not m.counts and m.part != "transplant"]
        therapy = [m for m in line.members if m.part in ("therapy", "bridging")]
        infusion = [m for m in line.members if m.part == "infusion"]
        reason = Notice("line.derived", number=line.number, reason=line.reason)
        if therapy:
            out.append((line.number, history_line(therapy, "derived", Notice("line.bridging", reason=reason) if infusion else reason,
                                           line.number, [] if infusion else notes,
                                           None if infusion else line.progression)))
        if infusion:
            out.append((line.number, history_line(infusion, "derived", reason, line.number, notes, line.progression)))
    return out


def not_therapy(reading: LineReading) -> tuple[tuple[str, Notice, str], ...]:
    """The drugs a reading set aside, as the history lists them: (name, role in words, record)."""
    return tuple((a.event.name, _words(a), a.event.source) for a in reading.set_aside)


def _words(aside: SetAside) -> Notice:
    """The role in words, saying when an ATC code or the drug's name decided it."""
    atc = aside.event.matched_by.get("atc", {}).get("code") if aside.event.agent is None else None
    if atc:
        return Notice("role.by-atc", role=aside.words, atc=atc)
    if aside.event.agent is None and "not_antineoplastic" in aside.event.matched_by:
        return Notice("role.by-name", role=aside.words)
    return aside.words
