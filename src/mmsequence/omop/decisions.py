"""Decision points: every start of a T-cell redirecting therapy, with the history known the day before.

Lines of therapy are derived from the drugs as for a FHIR Bundle (:func:`derive_lines` is the
one place that calls the shared derivation). Each line that holds a TCRT (a bsAb, or a CAR-T
infusion, named or not) is a decision on the day that TCRT was first given in it. Its history is
derived from the records before that day alone: a drug given until that day or later counts as
ongoing, the latest eligibility and soluble BCMA before it count, a progression marks the line
it followed, and overrides recorded in the window before the decision (the day itself included)
apply to the therapy given. The candidates are the therapy given and every approved TCRT.
"""

from __future__ import annotations

import datetime

import attrs

from ..catalog import Catalog
from ..dates import PartialDate
from ..errors import InputError
from ..fhir.coding import DrugMatch
from ..fhir.lines import TherapyLine, build_lines
from ..fhir.records import Exposure
from ..history import Apheresis, Biomarkers, Line, LineOrigin, Override, PatientHistory, SourceRecord, parse_overrides
from .chart import Chart, Dated, Drug
from .mapping import OmopMapping


@attrs.frozen
class Decision:
    """A TCRT given on ``day`` (``therapy``: the catalog name, or the record's when unknown), the
    history as of the day before, and the line number it started."""

    person_id: int
    day: datetime.date
    therapy: str
    line: int
    history: PatientHistory


def derive_lines(drugs: list[Drug], warnings: list[str]) -> list[TherapyLine]:
    """Lines of therapy from drug records, by the shared derivation of lines."""
    exposures = [
        Exposure(DrugMatch(d.meaning.agent, d.meaning.name, dict(d.meaning.matched_by)), PartialDate.of(d.start),
                 None if d.end is None else PartialDate.of(d.end), d.source)
        for d in drugs
    ]
    return build_lines(exposures, warnings)


def _is_tcrt(drug: Drug) -> bool:
    agent = drug.meaning.agent
    return drug.car_t or (agent is not None and agent.is_tcrt)


def decisions(chart: Chart, catalog: Catalog, mapping: OmopMapping) -> list[Decision]:
    """Every decision point of one person, in order of day and therapy."""
    tcrt = {d.source for d in chart.drugs if _is_tcrt(d)}
    first: dict[tuple[int, str], datetime.date] = {}
    for number, line in enumerate(derive_lines(chart.drugs, []), 1):
        for e in line.exposures:
            if e.resource in tcrt:
                key = (number, e.drug.name)
                first[key] = min(first.get(key, e.start.earliest), e.start.earliest)
    approved = [agent.name for agent in catalog.approved_tcrts()]
    out = []
    for (number, therapy), day in sorted(first.items(), key=lambda item: (item[1], item[0][1])):
        candidates = tuple(dict.fromkeys([therapy, *approved]))
        out.append(Decision(chart.person_id, day, therapy, number, history_before(chart, day, candidates, mapping)))
    return out


def history_before(chart: Chart, day: datetime.date, candidates: tuple[str, ...], mapping: OmopMapping) -> PatientHistory:
    """The patient history as the records stood the day before ``day``."""
    as_of = day - datetime.timedelta(days=1)
    warnings = [f"{w.label}: {w.value}" for w in chart.warnings if w.day <= as_of]
    drugs = [attrs.evolve(d, end=None if d.end is None or d.end > as_of else d.end) for d in chart.drugs if d.start <= as_of]
    derived = derive_lines(drugs, warnings)
    progressed = {_followed(derived, p.day) for p in chart.progression if p.day <= as_of}
    lines = [_line(line, i in progressed) for i, line in enumerate(derived)]
    eligible = _latest(chart.eligibility, as_of)
    sbcma = _latest(chart.soluble_bcma, as_of)
    return PatientHistory(
        patient_id=str(chart.person_id),
        lines=tuple(lines),
        apheresis=tuple(Apheresis(str(a.value), PartialDate.of(a.day), comment=a.label) for a in chart.apheresis if a.day <= as_of),
        biomarkers=Biomarkers(soluble_bcma_ng_ml=None if sbcma is None else float(str(sbcma.value))),
        candidates=candidates,
        car_t_eligible=None if eligible is None else bool(eligible.value),
        as_of=as_of,
        overrides=_overrides(chart.overrides, day, candidates[0], mapping.override_window_days, warnings),
        comment="Read from an OMOP CDM; each line's comment says how it was formed.",
        warnings=tuple(warnings),
        format="omop",
    )


def _followed(lines: list[TherapyLine], day: datetime.date) -> int | None:
    """The index of the last line started on or before ``day`` (the line a progression that day ends)."""
    started = [i for i, line in enumerate(lines) if line.start.earliest <= day]
    return started[-1] if started else None


def _line(line: TherapyLine, progressed: bool) -> Line:
    """A derived line as the history holds it, stopped for progression when one was recorded after it."""
    origin = LineOrigin(line.method, line.reason,
                        tuple(SourceRecord(e.drug.name, e.resource, e.drug.matched_by) for e in line.exposures))
    return Line(agents=line.agents, start=line.start, end=line.end, comment=line.reason, origin=origin,
                stop_reason="progression" if progressed else None)


def _latest(facts: list[Dated], as_of: datetime.date) -> Dated | None:
    """The last fact on or before ``as_of``; None when there is none, or the last day's records disagree."""
    known = [f for f in facts if f.day <= as_of]
    if not known:
        return None
    last = [f for f in known if f.day == known[-1].day]
    return last[0] if len({str(f.value) for f in last}) == 1 else None


def _overrides(records: list[Dated], day: datetime.date, therapy: str, window: int, warnings: list[str]) -> tuple[Override, ...]:
    """Overrides recorded for the decision (``RULE:REASON[:NOTE]``); one that cannot be read is a warning."""
    earliest = day - datetime.timedelta(days=window)
    found: list[Override] = []
    for record in records:
        if not earliest <= record.day <= day:
            continue
        parts = str(record.value).split(":", 2)
        try:
            if len(parts) < 2:
                raise InputError([f"{record.label}: {record.value!r} is not RULE:REASON[:NOTE]"])
            raw = {"rule": parts[0], "candidate": therapy, "reason": parts[1], "note": parts[2] if len(parts) > 2 else None}
            found += parse_overrides([raw], record.label)
        except InputError as error:
            warnings += [f"{p}; override not used" for p in error.problems]
    return tuple(found)
