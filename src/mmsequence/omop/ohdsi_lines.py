"""Regimens and lines of therapy by OHDSI's published myeloma episode logic, for comparison.

Source: OHDSI ``ETL-LambdaBuilder``, ``docs/MM_treatment_Episodes.md`` ("Multiple myeloma
treatment episodes in EPISODE. Creation logic", file commit
98ce329114f289d691c783e689823a07aaa15af5), rules 1-14. This module is mmsequence's own reading of
those rules, over the same chart events the IMWG derivation (:mod:`mmsequence.lines`) reads; it
never replaces that derivation, it says where a site's OHDSI episodes would differ.

Regimens (rules 1-8):

- only the document's myeloma codeset counts (appendix 1 and the CAR-T products of appendix 2;
  dexamethasone is not in it), from the first myeloma diagnosis on when it is known;
- a drug's exposures less than ``GAP_DAYS`` apart are one era of that drug;
- a regimen holds every drug in use in its first ``JOIN_DAYS``; it ends the day before a new drug
  starts after those days, or when one of its drugs is discontinued (its era ends), taking the
  last era end within ``JOIN_DAYS`` of that one; the next regimen starts the day after, or at the
  next era's start after a gap;
- T-cell collections (those within ``JOIN_DAYS`` of an earlier one are the same), CAR-T infusions
  and stem-cell transplants (the first of any within ``TRANSPLANT_DAYS``) are one-day regimens;
- a regimen is named by its drugs or procedures in alphabetical order.

Lines (rules 9-10, 13): a regimen joins the line before it when it is maintenance (bortezomib,
lenalidomide, thalidomide or ixazomib monotherapy lasting more than 60 days after a polytherapy of
more than 30 days, within ``TRANSPLANT_DAYS`` of its end; daratumumab monotherapy likewise after a
regimen with daratumumab; any monotherapy within a year of a transplant), when it is a transplant
following that line's last regimen within ``TRANSPLANT_DAYS``, when it is lymphodepletion
(cyclophosphamide and/or fludarabine) or a CAR-T after a collection or lymphodepletion, when it
adds only IMiDs or PIs of groups the previous regimen lacks within 90 days of that regimen's start,
or when it adds lenalidomide within 60 days of the start of a first line holding cyclophosphamide.
Finally a line with bortezomib or carfilzomib and lenalidomide, or bortezomib and thalidomide,
without a transplant, merges with a next line that holds a transplant.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

import attrs

from ..catalog import Catalog
from ..lines import Event
from . import standard

GAP_DAYS = 90
JOIN_DAYS = 30
TRANSPLANT_DAYS = 180
ADDITION_DAYS = 90
_DAY = datetime.timedelta(days=1)

IMIDS = frozenset({"lenalidomide", "pomalidomide", "thalidomide"})
PIS = frozenset({"bortezomib", "carfilzomib", "ixazomib"})
MAINTENANCE = frozenset({"bortezomib", "lenalidomide", "thalidomide", "ixazomib"})
LYMPHODEPLETION = frozenset({"cyclophosphamide", "fludarabine"})
APHERESIS, TRANSPLANT = "apheresis", "stem cell transplant"
_INDUCTIONS = (frozenset({"bortezomib", "lenalidomide"}), frozenset({"carfilzomib", "lenalidomide"}),
               frozenset({"bortezomib", "thalidomide"}))


def codeset(catalog: Catalog) -> frozenset[str]:
    """The catalog names of the document's myeloma drugs (those the catalog knows)."""
    found = (catalog.lookup(name) for name in standard.MYELOMA_DRUGS.values())
    return frozenset(agent.name for agent in found if agent is not None)


@attrs.frozen
class Regimen:
    """A regimen: its drugs (or the procedure's name), days, and the records it was read from."""

    drugs: frozenset[str]
    start: datetime.date
    end: datetime.date
    sources: tuple[str, ...]
    kind: str = "drug"  # drug, apheresis, car-t, transplant

    @property
    def name(self) -> str:
        return ", ".join(sorted(self.drugs))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@attrs.frozen
class OhdsiLine:
    number: int
    regimens: tuple[Regimen, ...]

    @property
    def start(self) -> datetime.date:
        return self.regimens[0].start

    @property
    def end(self) -> datetime.date:
        return max(r.end for r in self.regimens)

    @property
    def drugs(self) -> frozenset[str]:
        return frozenset(d for r in self.regimens if r.kind in ("drug", "car-t") for d in r.drugs)

    @property
    def source_value(self) -> str:
        """The regimens in order, joined by `` then `` (rule 12)."""
        return " then ".join(r.name for r in self.regimens)


@attrs.frozen
class _Era:
    drug: str
    start: datetime.date
    end: datetime.date
    sources: tuple[str, ...]


def _eras(exposures: list[tuple[str, datetime.date, datetime.date, str]]) -> list[_Era]:
    eras: list[_Era] = []
    open_: dict[str, _Era] = {}
    for drug, start, end, source in sorted(exposures):
        last = open_.get(drug)
        if last is not None and (start - last.end).days <= GAP_DAYS:
            merged = attrs.evolve(last, end=max(last.end, end), sources=(*last.sources, source))
            eras[eras.index(last)] = merged
            open_[drug] = merged
        else:
            open_[drug] = era = _Era(drug, start, end, (source,))
            eras.append(era)
    return sorted(eras, key=lambda e: (e.start, e.drug))


def _drug_regimens(eras: list[_Era]) -> list[Regimen]:
    regimens: list[Regimen] = []
    if not eras:
        return regimens
    t = eras[0].start
    while True:
        window = t + JOIN_DAYS * _DAY
        members = [e for e in eras if e.start <= window and e.end >= t]
        names = {e.drug for e in members}
        stops = sorted(e.end for e in members)
        end = max(s for s in stops if s <= stops[0] + JOIN_DAYS * _DAY)
        added = [e.start for e in eras if e.start > window and e.drug not in names and e.start <= end]
        if added:
            end = min(added) - _DAY
        sources = tuple(s for e in members for s in e.sources)
        regimens.append(Regimen(frozenset(names), t, end, sources))
        ongoing = [e for e in eras if e.start <= end + _DAY <= e.end]
        later = [e.start for e in eras if e.start > end]
        if ongoing:
            t = end + _DAY
        elif later:
            t = min(later)
        else:
            return regimens


def regimens(events: Iterable[Event], drugs: frozenset[str], diagnosis: datetime.date | None = None) -> list[Regimen]:
    """The regimens of a chart's events (rules 1-8; ``drugs``: the :func:`codeset`), in order of start."""
    exposures: list[tuple[str, datetime.date, datetime.date, str]] = []
    procedures: list[Regimen] = []
    collections: list[datetime.date] = []
    transplants: list[datetime.date] = []
    for e in sorted(events, key=lambda e: (e.start.earliest, e.source)):
        day = e.start.earliest
        if diagnosis is not None and day < diagnosis:
            continue
        name = e.agent.name if e.agent is not None else e.name
        if e.kind == "car-t-infusion" or (e.kind == "drug" and e.agent is not None and e.agent.modality == "car-t"):
            if not any(r.start == day for r in procedures if r.kind == "car-t"):  # the drug and the procedure: one
                procedures.append(Regimen(frozenset({name}), day, day, (e.source,), "car-t"))
        elif e.kind == "drug" and name in drugs:
            end = e.end.latest if e.end is not None else day
            exposures.append((name, day, max(day, end), e.source))
        elif e.kind == "t-cell-collection" and not any((day - c).days <= JOIN_DAYS for c in collections):
            collections.append(day)
            procedures.append(Regimen(frozenset({APHERESIS}), day, day, (e.source,), "apheresis"))
        elif e.kind == "stem-cell-infusion" and not any((day - t).days <= TRANSPLANT_DAYS for t in transplants):
            transplants.append(day)
            procedures.append(Regimen(frozenset({TRANSPLANT}), day, day, (e.source,), "transplant"))
    kinds = {"apheresis": 0, "drug": 1, "transplant": 2, "car-t": 2}
    return sorted([*_drug_regimens(_eras(exposures)), *procedures], key=lambda r: (r.start, kinds[r.kind], r.name))


def _maintenance(r: Regimen, previous: Regimen, transplant: datetime.date | None) -> bool:
    if r.kind != "drug" or len(r.drugs) != 1:
        return False
    if transplant is not None and r.start <= transplant + 365 * _DAY:
        return True
    (drug,) = r.drugs
    after_poly = (len(previous.drugs) > 1 and previous.kind == "drug" and previous.days > 30 and r.days > 60
                  and r.start <= previous.end + TRANSPLANT_DAYS * _DAY)
    if drug == "daratumumab":
        return after_poly and "daratumumab" in previous.drugs
    return after_poly and drug in MAINTENANCE


def _adds_imid_or_pi(r: Regimen, previous: Regimen) -> bool:
    added = r.drugs - previous.drugs
    if r.kind != "drug" or previous.kind != "drug" or not added or r.start > previous.start + ADDITION_DAYS * _DAY:
        return False
    return all((d in IMIDS and not IMIDS & previous.drugs) or (d in PIS and not PIS & previous.drugs) for d in added)


def _joins(r: Regimen, line: list[Regimen], number: int, transplant: datetime.date | None) -> bool:
    previous = line[-1]
    kinds = {x.kind for x in line}
    if r.kind == "transplant":
        return previous.end + TRANSPLANT_DAYS * _DAY >= r.start
    if r.kind == "car-t":
        return previous.kind == "apheresis" or (previous.kind == "drug" and previous.drugs <= LYMPHODEPLETION)
    if r.kind == "drug" and r.drugs <= LYMPHODEPLETION and "apheresis" in kinds and "car-t" not in kinds:
        return True
    if _maintenance(r, previous, transplant):
        return True
    if _adds_imid_or_pi(r, previous):
        return True
    return (number == 1 and r.kind == "drug" and r.drugs - previous.drugs == {"lenalidomide"}
            and "cyclophosphamide" in {d for x in line for d in x.drugs} and r.start <= line[0].start + 60 * _DAY)


def ohdsi_lines(events: Iterable[Event], drugs: frozenset[str], diagnosis: datetime.date | None = None) -> list[OhdsiLine]:
    """The lines of therapy of a chart's events by the OHDSI myeloma logic (``drugs``: the
    :func:`codeset`), numbered from 1."""
    groups: list[list[Regimen]] = []
    transplant: datetime.date | None = None
    for r in regimens(events, drugs, diagnosis):
        if groups and _joins(r, groups[-1], len(groups), transplant):
            groups[-1].append(r)
        else:
            groups.append([r])
        if r.kind == "transplant":
            transplant = r.start
    merged: list[list[Regimen]] = []
    for group in groups:  # rule 10.7: induction, then the transplant line
        if merged and _induction_without_transplant(merged[-1]) and any(r.kind == "transplant" for r in group):
            merged[-1].extend(group)
        else:
            merged.append(group)
    return [OhdsiLine(i, tuple(group)) for i, group in enumerate(merged, 1)]


def _induction_without_transplant(line: Sequence[Regimen]) -> bool:
    drugs = {d for r in line for d in r.drugs}
    return not any(r.kind == "transplant" for r in line) and any(pair <= drugs for pair in _INDUCTIONS)
