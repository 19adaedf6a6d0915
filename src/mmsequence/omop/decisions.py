"""Decision points: every start of a T-cell redirecting therapy, with the history known the day before.

Lines of therapy are derived by the IMWG derivation of :mod:`mmsequence.lines`, as for a FHIR
Bundle (drugs, CAR-T infusions, T-cell collections and progressions as its events). Each TCRT
first given in a line (a bsAb, also as bridging, or a CAR-T infusion, named or not) is a decision
on that day. Its history is derived from the records before that day alone (less the
lymphodepletion before a CAR-T infusion, which follows from the decision): a drug given until
that day or later counts as ongoing, the latest eligibility and soluble BCMA before it count, and
overrides recorded in the window before the decision (the day itself included) apply to the
therapy given. The candidates are the therapy given and every approved TCRT.

With the site's own line episodes (``site``, ``audit --lines site``) the lines are the site's:
each record keeps what the IMWG derivation says it is (therapy, bridging, lymphodepletion,
collection; supportive care set aside) and goes into the site line it starts in (from that
line's start to the next one's); records before the site's first line form a line of their own
and are named in the warnings, as are finished site lines no record falls in. A line's
progression is the first of those the IMWG derivation gave the lines whose records it holds and
those recorded from its start to the next site line's start that it gave no other line.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Sequence
from typing import Any

import attrs

from ..catalog import Catalog
from ..dates import PartialDate
from ..errors import InputError
from ..history import Apheresis, Biomarkers, Override, PatientHistory, parse_overrides
from ..lines import DerivedLine, Event, LineReading, derive_lines, history_lines, not_therapy
from ..notices import Notice
from .chart import Chart, Dated, Drug
from .episodes import Span
from .mapping import OmopMapping


@attrs.frozen
class Decision:
    """A TCRT given on ``day`` (``therapy``: the catalog name, or the record's when unknown), the
    history as of the day before, and the number of the line of therapy it was given in."""

    person_id: int
    day: datetime.date
    therapy: str
    line: int
    history: PatientHistory


@attrs.frozen
class ChartLines:
    """A chart's records as the line derivations read them, each made once, and its IMWG lines:
    what the decisions, the episodes and the comparisons of one person share."""

    chart: Chart
    drugs: tuple[Event, ...]  # one per drug of the chart, in its order
    dated: tuple[tuple[datetime.date, Event], ...]  # T-cell collections done, then progressions, with their days
    reading: LineReading  # the IMWG lines of every record

    @classmethod
    def of(cls, chart: Chart) -> ChartLines:
        drugs = tuple(
            Event("car-t-infusion" if d.car_t else "drug", PartialDate.of(d.start), d.source, d.meaning.name,
                  None if d.end is None else PartialDate.of(d.end), d.meaning.agent, d.meaning.fallback_role,
                  matched_by=dict(d.meaning.matched_by))
            for d in chart.drugs)
        collection, progression = Notice("event.t-cell-collection"), Notice("event.progression")
        dated = (*((a.day, Event("t-cell-collection", PartialDate.of(a.day), a.label, collection))
                   for a in chart.apheresis if a.value == "done"),
                 *((p.day, Event("progression", PartialDate.of(p.day), p.label, progression)) for p in chart.progression))
        return cls(chart, drugs, dated, derive_lines([*drugs, *(e for _, e in dated)]))

    @property
    def events(self) -> list[Event]:
        """Every record as an event."""
        return [*self.drugs, *(e for _, e in self.dated)]

    def events_before(self, as_of: datetime.date, leave_out: frozenset[str]) -> list[Event]:
        """The records known on ``as_of``, without the drug records ``leave_out`` names: a drug
        given until after that day is ongoing (no end)."""
        events = []
        for d, e in zip(self.chart.drugs, self.drugs):
            if d.start > as_of or d.source in leave_out:
                continue
            if d.end is not None and d.end > as_of:
                e = Event(e.kind, e.start, e.source, e.name, None, e.agent, e.fallback_role, matched_by=e.matched_by)
            events.append(e)
        events += [e for day, e in self.dated if day <= as_of]
        return events


def _is_tcrt(drug: Drug) -> bool:
    agent = drug.meaning.agent
    return drug.car_t or (agent is not None and agent.is_tcrt)


def site_lines(reading: LineReading, events: list[Event], site: Sequence[Span],
               as_of: datetime.date | None = None) -> LineReading:
    """The site's lines holding the events of an IMWG ``reading`` (as of ``as_of``: a site line
    still under way then may hold no record yet)."""
    if not site:
        return attrs.evolve(reading, warnings=(*reading.warnings, Notice("omop.no-site-lines")))
    starts = [s.start for s in site]
    groups: dict[int, list[Any]] = {}
    recorded: dict[int, list[Event]] = {}  # the progressions the IMWG derivation gave the lines whose records each holds
    for line in reading.lines:
        for m in line.members:
            key = bisect.bisect_right(starts, m.event.start.earliest) - 1
            groups.setdefault(key, []).append(m)
            if line.progression is not None:
                recorded.setdefault(key, []).append(line.progression)
    warnings = list(reading.warnings)
    if -1 in groups:
        warnings.append(Notice("omop.before-site-lines", subject=Notice("places", places=tuple(m.event.source for m in groups[-1])),
                               date=site[0].start))
    warnings += [Notice("omop.empty-site-line", subject=Notice("omop.site-line", number=i + 1, date=s.start, text=s.text))
                 for i, s in enumerate(site) if i not in groups and (as_of is None or (s.end is not None and s.end <= as_of))]
    progressions = sorted((e for e in events if e.kind == "progression"), key=lambda e: e.start.earliest)
    claimed = {p.source: key for key, found in recorded.items() for p in found}
    lines = []
    keys = sorted(groups)
    for n, key in enumerate(keys, 1):
        members = tuple(sorted(groups[key], key=lambda m: (m.event.start.earliest, m.event.source)))
        start = members[0].event.start.earliest
        until = site[key + 1].start if key + 1 < len(site) else None
        within = [p for p in progressions if p.start.earliest >= start and (until is None or p.start.earliest < until)
                  and claimed.get(p.source, key) == key]
        progression = min([*within, *recorded.get(key, [])], key=lambda p: (p.start.earliest, p.source), default=None)
        reason = (Notice("omop.line-before-site") if key < 0 else
                  Notice("omop.site-line-reason", number=key + 1, text=site[key].text or Notice("omop.no-source-value")))
        lines.append(DerivedLine(n, reason, members, progression))
    return attrs.evolve(reading, lines=tuple(lines), warnings=tuple(warnings))


def decisions(lines: ChartLines, catalog: Catalog, mapping: OmopMapping,
              site: Sequence[Span] | None = None) -> list[Decision]:
    """Every decision point of one person, in order of day and therapy (``site``: the site's lines)."""
    chart = lines.chart
    tcrt = {d.source for d in chart.drugs if _is_tcrt(d)}
    first: dict[tuple[int, str], datetime.date] = {}
    reading = lines.reading if site is None else site_lines(lines.reading, lines.events, site)
    # lymphodepletion follows from the decision to infuse: the history before it leaves it out
    consequences = frozenset(m.event.source for line in reading.lines for m in line.members if m.part == "lymphodepletion")
    for line in reading.lines:
        for m in line.members:
            if m.event.source in tcrt and m.counts:
                key = (line.number, m.event.name)
                first[key] = min(first.get(key, m.event.start.earliest), m.event.start.earliest)
    approved = [agent.name for agent in catalog.approved_tcrts()]
    out = []
    for (number, therapy), day in sorted(first.items(), key=lambda item: (item[1], item[0][1])):
        candidates = tuple(dict.fromkeys([therapy, *approved]))
        out.append(Decision(chart.person_id, day, therapy, number,
                            history_before(lines, day, candidates, mapping, consequences, site)))
    return out


def history_before(lines: ChartLines, day: datetime.date, candidates: tuple[str, ...], mapping: OmopMapping,
                   leave_out: frozenset[str] = frozenset(), site: Sequence[Span] | None = None) -> PatientHistory:
    """The patient history as the records stood the day before ``day``, without the drug records
    ``leave_out`` names (the lymphodepletion of a CAR-T infusion)."""
    chart = lines.chart
    as_of = day - datetime.timedelta(days=1)
    warnings = [w.value for w in chart.warnings if w.day <= as_of and isinstance(w.value, Notice)]
    events = lines.events_before(as_of, leave_out)
    reading = derive_lines(events)
    if site is not None:
        reading = site_lines(reading, events, [s for s in site if s.start <= as_of], as_of)
    warnings += reading.warnings
    eligible = _latest(chart.eligibility, as_of)
    sbcma = _latest(chart.soluble_bcma, as_of)
    return PatientHistory(
        patient_id=str(chart.person_id),
        lines=tuple(line for _, line in history_lines(reading)),
        apheresis=tuple(Apheresis(str(a.value), PartialDate.of(a.day), comment=a.label) for a in chart.apheresis if a.day <= as_of),
        biomarkers=Biomarkers(soluble_bcma_ng_ml=None if sbcma is None else float(str(sbcma.value))),
        candidates=candidates,
        car_t_eligible=None if eligible is None else bool(eligible.value),
        as_of=as_of,
        overrides=_overrides(chart.overrides, day, candidates[0], mapping.override_window_days, warnings),
        comment="Read from an OMOP CDM; each line's comment says how it was formed.",
        warnings=tuple(warnings),
        not_therapy=not_therapy(reading),
        format="omop",
    )


def _latest(facts: list[Dated], as_of: datetime.date) -> Dated | None:
    """The last fact on or before ``as_of``; None when there is none, or the last day's records disagree."""
    known = [f for f in facts if f.day <= as_of]
    if not known:
        return None
    last = [f for f in known if f.day == known[-1].day]
    return last[0] if len({str(f.value) for f in last}) == 1 else None


def _overrides(records: list[Dated], day: datetime.date, therapy: str, window: int,
               warnings: list[Notice]) -> tuple[Override, ...]:
    """Overrides recorded for the decision (``RULE:REASON[:NOTE]``); one that cannot be read is a warning."""
    earliest = day - datetime.timedelta(days=window)
    found: list[Override] = []
    for record in records:
        if not earliest <= record.day <= day:
            continue
        parts = str(record.value).split(":", 2)
        try:
            if len(parts) < 2:
                raise InputError([Notice("omop.override-text", record.label, value=record.value)])
            raw = {"rule": parts[0], "candidate": therapy, "reason": parts[1], "note": parts[2] if len(parts) > 2 else None}
            found += parse_overrides([raw], record.label)
        except InputError as error:
            warnings += [Notice("omop.override-not-used", problem=p) for p in error.problems]
    return tuple(found)
