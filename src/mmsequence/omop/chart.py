"""One person's OMOP records, read into what the audit uses; every record is used or counted as unmapped.

Records come from drug_exposure, procedure_occurrence, observation, measurement and
condition_occurrence in one row format (:class:`Row`). Drugs are named through the vocabulary
and the catalog; every other record through the site's :class:`~mmsequence.omop.mapping.OmopMapping`.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

import attrs

from ..catalog import Agent, Catalog
from ..notices import Notice
from .mapping import OmopMapping
from .vocabulary import DrugMeaning, Vocabulary, drug_meanings

DOMAINS = ("drug", "procedure", "observation", "measurement", "condition")
#: The CDM table of each domain, as records are labelled (``drug_exposure/123``).
TABLES = {"drug": "drug_exposure", "procedure": "procedure_occurrence", "observation": "observation",
          "measurement": "measurement", "condition": "condition_occurrence"}


@attrs.frozen
class Row:
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


@attrs.frozen
class PersonRecords:
    person_id: int
    rows: tuple[Row, ...]


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


class ChartReader:
    """Reads persons' records with one catalog, mapping and vocabulary; drug meanings are kept per concept."""

    def __init__(self, catalog: Catalog, mapping: OmopMapping, vocabulary: Vocabulary) -> None:
        self.catalog = catalog
        self.mapping = mapping
        self.vocabulary = vocabulary
        self._meanings: dict[int, tuple[DrugMeaning, ...]] = {}

    def meanings(self, concept_id: int) -> tuple[DrugMeaning, ...]:
        found = self._meanings.get(concept_id)
        if found is None:
            found = self._meanings[concept_id] = drug_meanings(concept_id, self.vocabulary, self.catalog)
        return found

    def read(self, person: PersonRecords) -> Chart:
        chart = Chart(person.person_id)
        infusions: list[Row] = []
        for row in sorted(person.rows, key=lambda r: (r.start, r.domain, r.record_id)):
            if row.domain == "drug":
                self._drug(chart, row)
            elif row.domain == "condition" and row.concept_id in self.vocabulary.myeloma:
                if chart.diagnosis is None:  # the diagnosis that put the person in the cohort
                    chart.diagnosis = row.start
            else:
                meaning = self.mapping.meaning(row.concept_id)
                if meaning == "car-t-infusion":
                    infusions.append(row)
                elif meaning is None:
                    chart.unmapped[(row.domain, row.concept_id, "not mapped")] += 1
                else:
                    self._fact(chart, row, meaning)
        for row in infusions:
            self._infusion(chart, row)
        chart.drugs = periods(chart.drugs)
        return chart

    def _drug(self, chart: Chart, row: Row) -> None:
        for meaning in self.meanings(row.concept_id):
            if meaning.outcome == "not-anti-myeloma":
                chart.unmapped[(row.domain, row.concept_id, f"set aside by its ATC class ({meaning.name})")] += 1
            elif meaning.outcome == "unknown-agent":
                chart.unmapped[(row.domain, row.concept_id, f"kept as an unknown agent ({meaning.name})")] += 1
            car_t = meaning.agent is not None and meaning.agent.modality == "car-t"
            end = row.start if car_t else row.end
            if end is not None and end < row.start:
                chart.warnings.append(Dated(row.start, Notice("omop.end-before-start", row.label, end=end, start=row.start),
                                            row.label))
                end = row.start
            chart.drugs.append(Drug(meaning, row.start, end, row.label, car_t))

    def _infusion(self, chart: Chart, row: Row) -> None:
        """A mapped CAR-T infusion procedure: the product it names, else the same day's CAR-T drug;
        a procedure on the day of a CAR-T drug exposure records that infusion, not another."""
        same_day = [d for d in chart.drugs if d.car_t and d.start == row.start]
        if same_day:
            return
        product = self.mapping.car_t_infusion.get(row.concept_id)
        agent: Agent | None = self.catalog.lookup(product) if product else None
        if agent is not None and agent.modality == "car-t":
            meaning = DrugMeaning(agent, agent.name, {"procedure": str(row.concept_id)}, "agent")
        else:
            name = product or f"CAR-T product not recorded (procedure concept {row.concept_id})"
            meaning = DrugMeaning(None, name, {"unmatched": name}, "unknown-agent")
            chart.unmapped[(row.domain, row.concept_id, f"kept as an unknown agent ({name})")] += 1
        chart.drugs.append(Drug(meaning, row.start, row.start, row.label, True))

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


def periods(drugs: list[Drug]) -> list[Drug]:
    """Rows of one drug that overlap or follow each other without a day between (a row per cycle or
    per dispensing) joined into one period, as a FHIR statement records a period; CAR-T infusions
    and rows without an end stay as they are."""
    merged: list[list[Any]] = []  # [first row, last day, rows, labels of the rows after the first]
    latest: dict[str, list[Any]] = {}  # drug name -> its latest period
    day = datetime.timedelta(days=1)
    for drug in sorted(drugs, key=lambda d: (d.start, d.meaning.name, d.label)):
        last = latest.get(drug.meaning.name)
        if (last is not None and not drug.car_t and last[1] is not None and drug.end is not None
                and drug.start <= last[1] + day):
            last[1] = max(last[1], drug.end)
            last[2] += 1
            last[3].append(drug.label)
        else:
            period: list[Any] = [drug, drug.end, 1, []]
            latest[drug.meaning.name] = period
            merged.append(period)
    return [d if n == 1 else attrs.evolve(d, end=end, records=n, others=tuple(others)) for d, end, n, others in merged]
