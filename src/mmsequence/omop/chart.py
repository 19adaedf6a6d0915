"""One person's OMOP records, read into what the audit uses; every record is used or counted as unmapped.

Records come from drug_exposure, procedure_occurrence, observation, measurement and
condition_occurrence in one row format (:class:`Row`). Drugs are named through the vocabulary
and the catalog; every other record through the site's :class:`~mmsequence.omop.mapping.OmopMapping`.
"""

from __future__ import annotations

import datetime
from collections import Counter
from operator import itemgetter
from typing import Any, NamedTuple

import attrs

from ..catalog import Agent, Catalog
from ..notices import Notice
from .mapping import OmopMapping
from .vocabulary import DrugMeaning, Vocabulary, drug_meanings

DOMAINS = ("drug", "procedure", "observation", "measurement", "condition")
#: The CDM table of each domain, as records are labelled (``drug_exposure/123``).
TABLES = {"drug": "drug_exposure", "procedure": "procedure_occurrence", "observation": "observation",
          "measurement": "measurement", "condition": "condition_occurrence"}


class Row(NamedTuple):
    """One CDM record: its domain (one of DOMAINS), id, concept, dates and value."""

    domain: str
    record_id: int
    concept_id: int
    start: datetime.date
    end: datetime.date | None = None
    value_number: float | None = None
    value_concept_id: int | None = None
    value_text: str | None = None
    unit_concept_id: int | None = None

    @property
    def label(self) -> str:
        return f"{TABLES[self.domain]}/{self.record_id}"


#: The outcome of a non-drug record whose concept the site maps to nothing.
NOT_MAPPED = "not mapped"


@attrs.frozen
class PersonRecords:
    """A person's records as read, and the records counted without being read: (domain, concept,
    how many) of those whose concept the site maps to nothing (:func:`.sql.unmapped_sql`)."""

    person_id: int
    rows: tuple[Row, ...]
    unmapped: tuple[tuple[str, int, int], ...] = ()


@attrs.frozen
class Drug:
    """One ingredient given (``end`` None: no end recorded); ``car_t`` for a CAR-T infusion."""

    meaning: DrugMeaning
    start: datetime.date
    end: datetime.date | None
    label: str
    car_t: bool = False
    records: int = 1
    others: tuple[str, ...] = ()  # the labels of the other records joined into this period

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.others)

    @property
    def source(self) -> str:
        """The records it was read from: the first, and how many more."""
        return self.label if self.records == 1 else f"{self.label} and {self.records - 1} more"


@attrs.frozen
class Dated:
    """A dated fact read from one record: an apheresis status, an eligibility, a level, an override text."""

    day: datetime.date
    value: object
    label: str


@attrs.define
class Chart:
    """Everything one person's records say, and what could not be used (``unmapped``: records by
    (domain, concept id, outcome))."""

    person_id: int
    diagnosis: datetime.date | None = None  # the first myeloma condition
    drugs: list[Drug] = attrs.Factory(list)
    apheresis: list[Dated] = attrs.Factory(list)
    eligibility: list[Dated] = attrs.Factory(list)
    soluble_bcma: list[Dated] = attrs.Factory(list)
    progression: list[Dated] = attrs.Factory(list)
    overrides: list[Dated] = attrs.Factory(list)
    warnings: list[Dated] = attrs.Factory(list)
    unmapped: Counter[tuple[str, int, str]] = attrs.Factory(Counter)


#: A drug record as read, before rows of one drug are joined into periods:
#: (start, name, record label, end, meaning, CAR-T infusion).
_Given = tuple[datetime.date, str, str, datetime.date | None, DrugMeaning, bool]
_RECORD_ORDER = itemgetter(3, 0, 1)  # a Row's (start, domain, record_id)
_GIVEN_ORDER = itemgetter(0, 1, 2)  # a _Given's (start, name, label)


class ChartReader:
    """Reads persons' records with one catalog, mapping and vocabulary; drug meanings are kept per concept."""

    def __init__(self, catalog: Catalog, mapping: OmopMapping, vocabulary: Vocabulary) -> None:
        self.catalog = catalog
        self.mapping = mapping
        self.vocabulary = vocabulary
        self._drugs: dict[int, tuple[tuple[DrugMeaning, bool, tuple[str, int, str] | None], ...]] = {}

    def _drug_concept(self, concept_id: int) -> tuple[tuple[DrugMeaning, bool, tuple[str, int, str] | None], ...]:
        """Each meaning of a drug concept, whether it is a CAR-T infusion, and the unmapped count it adds."""
        found = self._drugs.get(concept_id)
        if found is None:
            given = []
            for meaning in drug_meanings(concept_id, self.vocabulary, self.catalog):
                unmapped = None
                if meaning.outcome == "not-anti-myeloma":
                    unmapped = ("drug", concept_id, f"set aside by its ATC class ({meaning.name})")
                elif meaning.outcome == "unknown-agent":
                    unmapped = ("drug", concept_id, f"kept as an unknown agent ({meaning.name})")
                given.append((meaning, meaning.agent is not None and meaning.agent.modality == "car-t", unmapped))
            found = self._drugs[concept_id] = tuple(given)
        return found

    def read(self, person: PersonRecords) -> Chart:
        chart = Chart(person.person_id)
        given: list[_Given] = []
        infusions: list[Row] = []
        for row in sorted(person.rows, key=_RECORD_ORDER):
            if row.domain == "drug":
                self._drug(chart, given, row)
            elif row.domain == "condition" and row.concept_id in self.vocabulary.myeloma:
                if chart.diagnosis is None:  # the diagnosis that put the person in the cohort
                    chart.diagnosis = row.start
            else:
                meaning = self.mapping.meaning(row.concept_id)
                if meaning == "car-t-infusion":
                    infusions.append(row)
                elif meaning is None:
                    chart.unmapped[(row.domain, row.concept_id, NOT_MAPPED)] += 1
                else:
                    self._fact(chart, row, meaning)
        for row in infusions:
            self._infusion(chart, given, row)
        for domain, concept, count in person.unmapped:
            chart.unmapped[(domain, concept, NOT_MAPPED)] += count
        chart.drugs = periods(given)
        return chart

    def _drug(self, chart: Chart, given: list[_Given], row: Row) -> None:
        label = f"drug_exposure/{row.record_id}"
        start = row.start
        for meaning, car_t, unmapped in self._drug_concept(row.concept_id):
            if unmapped is not None:
                chart.unmapped[unmapped] += 1
            end = start if car_t else row.end
            if end is not None and end < start:
                chart.warnings.append(Dated(start, Notice("omop.end-before-start", label, end=end, start=start), label))
                end = start
            given.append((start, meaning.name, label, end, meaning, car_t))

    def _infusion(self, chart: Chart, given: list[_Given], row: Row) -> None:
        """A mapped CAR-T infusion procedure: the product it names, else the same day's CAR-T drug;
        a procedure on the day of a CAR-T drug exposure records that infusion, not another."""
        if any(car_t and start == row.start for start, _, _, _, _, car_t in given):
            return
        product = self.mapping.car_t_infusion.get(row.concept_id)
        agent: Agent | None = self.catalog.lookup(product) if product else None
        if agent is not None and agent.modality == "car-t":
            meaning = DrugMeaning(agent, agent.name, {"procedure": str(row.concept_id)}, "agent")
        else:
            name = product or f"CAR-T product not recorded (procedure concept {row.concept_id})"
            meaning = DrugMeaning(None, name, {"unmatched": name}, "unknown-agent")
            chart.unmapped[(row.domain, row.concept_id, f"kept as an unknown agent ({name})")] += 1
        given.append((row.start, meaning.name, row.label, row.start, meaning, True))

    def _fact(self, chart: Chart, row: Row, meaning: str) -> None:
        mapping = self.mapping
        if meaning == "apheresis":
            chart.apheresis.append(Dated(row.start, mapping.apheresis[row.concept_id], row.label))
        elif meaning == "progression":
            chart.progression.append(Dated(row.start, True, row.label))
        elif meaning == "eligibility":
            value = row.value_concept_id
            if value in mapping.eligible_yes or value in mapping.eligible_no:
                chart.eligibility.append(Dated(row.start, value in mapping.eligible_yes, row.label))
            else:
                chart.unmapped[(row.domain, row.concept_id, f"eligibility value concept {value} not mapped")] += 1
        elif meaning == "soluble-bcma":
            factor = mapping.soluble_bcma_units.get(row.unit_concept_id or 0)
            if row.value_number is None or factor is None or row.value_number < 0:
                chart.unmapped[(row.domain, row.concept_id, f"soluble BCMA without a number in a mapped unit"
                                f" (unit concept {row.unit_concept_id})")] += 1
            else:
                chart.soluble_bcma.append(Dated(row.start, row.value_number * factor, row.label))
        else:  # override
            chart.overrides.append(Dated(row.start, row.value_text or "", row.label))


def periods(given: list[_Given]) -> list[Drug]:
    """Rows of one drug that overlap or follow each other without a day between (a row per cycle or
    per dispensing) joined into one period, as a FHIR statement records a period; CAR-T infusions
    and rows without an end stay as they are."""
    merged: list[list[Any]] = []  # [first row, last day, rows, labels of the rows after the first]
    latest: dict[str, list[Any]] = {}  # drug name -> its latest period
    day = datetime.timedelta(days=1)
    for drug in sorted(given, key=_GIVEN_ORDER):
        start, name, label, end, _, car_t = drug
        last = latest.get(name)
        if last is not None and not car_t and last[1] is not None and end is not None and start <= last[1] + day:
            last[1] = max(last[1], end)
            last[2] += 1
            last[3].append(label)
        else:
            period: list[Any] = [drug, end, 1, []]
            latest[name] = period
            merged.append(period)
    return [Drug(first[4], first[0], end, first[2], first[5], n, tuple(others)) for first, end, n, others in merged]
