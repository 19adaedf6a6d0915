"""What each FHIR resource of a Bundle says about the patient's therapy, as plain records.

Every resource ends up in exactly one place: a :class:`RecordedExposure` (a drug given), an
:class:`ApheresisRecord`, the myeloma diagnosis, or a warning naming the resource and why it
was not used. Statuses are read conservatively: a drug whose end is not recorded counts as
still ongoing (the latest possible last dose), and a status that leaves open whether a drug
was given is counted as given with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..catalog import Catalog
from ..dates import PartialDate
from ..errors import InputError
from ..lines import Event
from ..notices import Notice
from .coding import (
    DrugMatch,
    is_myeloma,
    match_drug,
    mentions_apheresis,
    mentions_car_t,
    mentions_stem_cell_infusion,
    mentions_stem_cells,
    mentions_t_cells,
    stop_reason,
    unknown_or_named,
)
from .dates import partial_date

#: Default URL of the extension that carries a site's explicit line-of-therapy number.
LINE_EXTENSION = "urn:mmsequence:fhir:line-of-therapy"

#: Per resource type: statuses that count as given, and those counted with a warning because they are unclear.
_GIVEN = {
    "MedicationAdministration": ({"completed", "in-progress", "on-hold", "stopped"}, {"unknown"}),
    "MedicationStatement": ({"active", "completed", "on-hold", "stopped"}, {"unknown"}),
    "MedicationRequest": ({"active", "completed", "stopped"}, set()),
    "Procedure": ({"completed", "in-progress", "stopped"}, {"on-hold", "unknown"}),
}
#: Apheresis status in the history for each procedure, request and care-plan activity status.
_PROCEDURE_APHERESIS = {"completed": "done", "in-progress": "done", "stopped": "failed",
                        "preparation": "planned", "on-hold": "planned", "not-done": "cancelled"}
_REQUEST_APHERESIS = {"draft": "planned", "active": "planned", "on-hold": "planned", "revoked": "cancelled"}
_ACTIVITY_APHERESIS = {"not-started": "planned", "scheduled": "planned", "in-progress": "planned",
                       "on-hold": "planned", "cancelled": "cancelled", "stopped": "cancelled"}
_FAILED_OUTCOME = ("unsuccessful", "failed", "failure", "insufficient")


@attrs.frozen
class RecordedExposure:
    """A drug given to the patient, or a CAR-T or stem-cell infusion, as one resource records it
    (``end`` None: ongoing)."""

    drug: DrugMatch
    start: PartialDate
    end: PartialDate | None
    resource: str
    line_number: int | None = None
    kind: str = "drug"
    stop_reason: str | None = None
    #: The resource type that recorded it (an order is a plan; an administration, a fact).
    recorded_by: str = ""

    @property
    def is_car_t(self) -> bool:
        return self.kind == "car-t-infusion"

    def event(self) -> Event:
        """The record as the line derivation reads it."""
        return Event(self.kind, self.start, self.resource, self.drug.name, self.end, self.drug.agent,
                     self.drug.fallback_role, self.stop_reason, matched_by=self.drug.matched_by)


@attrs.frozen
class ApheresisRecord:
    status: str
    date: PartialDate | None
    resource: str


@attrs.define
class Records:
    """Everything read from one Bundle."""

    exposures: list[RecordedExposure] = attrs.Factory(list)
    events: list[Event] = attrs.Factory(list)  # collections, harvests, progressions
    apheresis: list[ApheresisRecord] = attrs.Factory(list)
    myeloma: list[str] = attrs.Factory(list)
    warnings: list[Notice] = attrs.Factory(list)
    #: Resources not used because they say nothing about myeloma therapy: (resource type, record, why).
    unused: list[tuple[str, str, Notice]] = attrs.Factory(list)
    #: Observations the rules read, by kind: (date, value, record), in the order read.
    observed: dict[str, list[tuple[PartialDate, Any, str]]] = attrs.Factory(dict)


class ResourceReader:
    """Reads the therapy resources of one Bundle; ``medication(ref)`` resolves Medication references."""

    def __init__(self, catalog: Catalog, medications: dict[str, Any], line_extension: str,
                 observations: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.catalog = catalog
        self.observation_kinds = {code: kind for kind, codes in (observations or {}).items() for code in codes}
        self.medications = medications
        self.line_extension = line_extension
        self.records = Records()
        self.used_medications: set[str] = set()
        self.car_t_orders: set[str] = set()  # 'Type/id' of orders for a CAR-T product

    def warn(self, code: str, label: str, **values: Any) -> None:
        self.records.warnings.append(Notice(code, label, **values))

    def unused(self, code: str, label: str, **values: Any) -> None:
        """A resource that says nothing about myeloma therapy: counted by type, listed in full apart."""
        self.records.unused.append((label.split("/")[0].split(" (")[-1].rstrip(")"), label, Notice(code, label, **values)))

    def read(self, resource: Any, label: str, path: str) -> None:
        """Turn one resource into records or a warning."""
        kind = resource.get_resource_type()
        handler = {
            "MedicationAdministration": self._medication_use,
            "MedicationStatement": self._medication_use,
            "MedicationRequest": self._medication_use,
            "Procedure": self._procedure,
            "ServiceRequest": self._service_request,
            "CarePlan": self._care_plan,
            "Condition": self._condition,
            "Observation": self._observation,
        }.get(kind)
        if handler is None:
            self.unused("unused.type", label, kind=kind)
        else:
            handler(resource, label, path)

    # --- drugs -------------------------------------------------------------------------------

    def _counts(self, kind: str, status: str, label: str) -> bool:
        given, unclear = _GIVEN[kind]
        if status in unclear:
            self.warn("fhir.status-counted", label, status=status)
        elif status not in given:
            self.warn("fhir.status-not-given", label, status=status)
            return False
        return True

    def _line_number(self, resource: Any, path: str) -> int | None:
        for i, extension in enumerate(resource.extension or ()):
            if extension.url == self.line_extension:
                value = extension.valuePositiveInt or extension.valueInteger
                if not isinstance(value, int) or value < 1:
                    raise InputError([Notice("fhir.line-number", f"{path}.extension[{i}]")])
                return value
        return None

    def drug(self, resource: Any, path: str) -> DrugMatch:
        """The drug a medication resource (administration, statement, request) names, references
        resolved: a contained or bundled Medication by its code and its ingredients, else the
        reference's display."""
        if resource.medicationCodeableConcept is not None:
            return match_drug(resource.medicationCodeableConcept, self.catalog, f"{path}.medicationCodeableConcept")
        ref_path = f"{path}.medicationReference"
        reference = resource.medicationReference.reference
        medication = None
        if reference and reference.startswith("#"):
            medication = next((c for c in resource.contained or () if c.id == reference[1:]), None)
        elif reference:
            medication = self.medications.get(reference) or self.medications.get(relative_reference(reference))
        if medication is None or medication.get_resource_type() != "Medication":
            display = resource.medicationReference.display
            if display and display.strip():
                return unknown_or_named(display, self.catalog)
            raise InputError([Notice("fhir.no-medication", ref_path, reference=reference)])
        if reference and not reference.startswith("#"):
            self.used_medications.add(relative_reference(reference))
        ingredients = tuple(i.itemCodeableConcept for i in medication.ingredient or () if i.itemCodeableConcept)
        if medication.code is None and not ingredients:
            raise InputError([Notice("fhir.medication-uncoded", ref_path, reference=reference)])
        if medication.code is None:
            return match_drug(ingredients[0], self.catalog, f"{ref_path} ({reference}).ingredient[0]", ingredients[1:])
        return match_drug(medication.code, self.catalog, f"{ref_path} ({reference}).code", ingredients)

    def _not_given(self, resource: Any, label: str, path: str, why: Notice) -> None:
        """A record of a drug not given: a warning when the drug may be myeloma therapy, else counted apart."""
        try:
            relevant = self.drug(resource, path).may_be_therapy
        except InputError:
            relevant = True
        if relevant:
            self.warn("fhir.not-given", label, why=why)
        else:
            self.unused("unused.not-given", label, why=why)

    def _medication_use(self, resource: Any, label: str, path: str) -> None:
        kind = resource.get_resource_type()
        if kind == "MedicationRequest" and resource.intent in ("proposal", "plan"):
            self._not_given(resource, label, path, Notice("fhir.intent", intent=resource.intent))
            return
        given, unclear = _GIVEN[kind]
        if resource.status not in given | unclear:
            self._not_given(resource, label, path, Notice("fhir.status", status=resource.status))
            return
        drug = self.drug(resource, path)
        if not drug.may_be_therapy:  # a defect in its dates cannot touch myeloma therapy: skipped with a note
            try:
                start, end, _ = self._period(resource, kind, path)
            except InputError as error:
                self.unused("unused.bad-date", label, drug=drug.name, problem=error.problems[0])
                return
            if start is None:
                self.unused("unused.no-date", label, drug=drug.name)
                return
            if drug.agent is None:  # listed as not therapy; its end matters to nothing
                self.records.exposures.append(RecordedExposure(drug, start, end if end is not None else start, label))
                return
        self._counts(kind, resource.status, label)
        if kind == "MedicationRequest" and drug.agent is not None and drug.agent.modality == "car-t":
            self.warn("fhir.car-t-order", label, drug=drug.name)
            return
        start, end, field = self._period(resource, kind, path)
        if start is None:
            raise InputError([Notice("fhir.drug-date", f"{path}.{field}")])
        anti_myeloma = drug.role is None or (drug.agent is not None and drug.agent.is_anti_myeloma)
        if anti_myeloma and end is None and kind != "MedicationAdministration" and resource.status not in ("active", "on-hold"):
            self.warn("fhir.no-end", label, drug=drug.name)
        if drug.role is None:
            why = drug.matched_by.get("looks_antineoplastic")
            if why:
                self.warn("fhir.unknown-agent-why", label, drug=drug.name, why=why)
            else:
                self.warn("fhir.unknown-agent", label, drug=drug.name)
        if kind == "MedicationAdministration" and resource.partOf and drug.agent is not None \
                and drug.agent.may_be("premedication") and not drug.agent.is_tcrt:
            part_of = resource.partOf[0].reference or "another administration"
            drug = DrugMatch(None, drug.name, {**drug.matched_by, "part_of": part_of}, "premedication")
        reason = stop_reason(resource)
        self.records.exposures.append(RecordedExposure(drug, start, end, label, self._line_number(resource, path),
                                               stop_reason=reason, recorded_by=kind))

    def _period(self, resource: Any, kind: str, path: str) -> tuple[PartialDate | None, PartialDate | None, str]:
        """(start, end, the field that should hold the start); end None means ongoing."""
        if kind == "MedicationRequest":
            bounds = [d.timing.repeat.boundsPeriod for d in resource.dosageInstruction or ()
                      if d.timing and d.timing.repeat and d.timing.repeat.boundsPeriod]
            if bounds:
                start = partial_date(bounds[0].start, f"{path}.dosageInstruction[0].timing.repeat.boundsPeriod.start")
                end = partial_date(bounds[0].end, f"{path}.dosageInstruction[0].timing.repeat.boundsPeriod.end")
            else:
                start, end = partial_date(resource.authoredOn, f"{path}.authoredOn"), None
            return start, None if resource.status == "active" else end, "authoredOn"
        if resource.effectiveDateTime is not None:
            day = partial_date(resource.effectiveDateTime, f"{path}.effectiveDateTime")
            ongoing = kind == "MedicationStatement" and resource.status in ("active", "on-hold")
            return day, None if ongoing else day, "effectiveDateTime"
        period = resource.effectivePeriod
        if period is None:
            return None, None, "effective[x]"
        start = partial_date(period.start, f"{path}.effectivePeriod.start")
        end = partial_date(period.end, f"{path}.effectivePeriod.end")
        if kind == "MedicationAdministration" and end is None and resource.status != "in-progress":
            end = start
        return start, end, "effectivePeriod.start"

    # --- procedures, requests, care plans ----------------------------------------------------

    def _performed(self, resource: Any, path: str) -> PartialDate | None:
        if resource.performedDateTime is not None:
            return partial_date(resource.performedDateTime, f"{path}.performedDateTime")
        if resource.performedPeriod is not None:
            return partial_date(resource.performedPeriod.start, f"{path}.performedPeriod.start")
        return None

    def _car_t_product(self, resource: Any, path: str) -> DrugMatch | None:
        """The CAR-T product a procedure infused, from ``usedCode`` or ``code``; None if not a CAR-T infusion."""
        concepts = [(f"{path}.usedCode[{i}]", c) for i, c in enumerate(resource.usedCode or ())]
        concepts.append((f"{path}.code", resource.code))
        matches = [match_drug(c, self.catalog, p) for p, c in concepts if c is not None]
        product = next((m for m in matches if m.agent is not None and m.agent.modality == "car-t"), None)
        if product is not None:
            return product
        if any(mentions_car_t(c) for _, c in concepts):
            return next((m for m in matches if m.agent is None), matches[-1])
        return None

    def _procedure(self, resource: Any, label: str, path: str) -> None:
        if mentions_apheresis(resource.code) and not self._collects_t_cells(resource):
            if mentions_stem_cells(resource.code):
                date = self._performed(resource, path)
                self.warn("fhir.harvest", label)
                if date is not None and resource.status in ("completed", "in-progress"):
                    self.records.events.append(Event("stem-cell-harvest", date, label, Notice("event.stem-cell-harvest")))
            else:
                self.warn("fhir.leukapheresis-unnamed", label)
            return
        if mentions_stem_cell_infusion(resource.code):
            if not self._counts("Procedure", resource.status, label):
                return
            day = self._performed(resource, path)
            if day is None:
                raise InputError([Notice("fhir.transplant-date", f"{path}.performed[x]")])
            self.records.events.append(Event("stem-cell-infusion", day, label, Notice("event.stem-cell-infusion")))
            return
        if mentions_apheresis(resource.code):
            status = _PROCEDURE_APHERESIS.get(resource.status)
            if status is None:
                self.warn("fhir.leukapheresis-status", label, status=resource.status)
                return
            outcome = " ".join(filter(None, [resource.outcome.text, *(c.display for c in resource.outcome.coding or ())])) \
                if resource.outcome else ""
            if status == "done" and any(word in outcome.casefold() for word in _FAILED_OUTCOME):
                status = "failed"
            date = self._performed(resource, path)
            if status in ("done", "failed") and date is None:
                raise InputError([Notice("fhir.leukapheresis-date", f"{path}.performed[x]", status=status)])
            self.records.apheresis.append(ApheresisRecord(status, date, label))
            if status == "done" and date is not None:
                self.records.events.append(Event("t-cell-collection", date, label, Notice("event.t-cell-collection")))
            return
        product = self._car_t_product(resource, path)
        if product is None:
            self.unused("unused.procedure", label)
            return
        if not self._counts("Procedure", resource.status, label):
            return
        day = self._performed(resource, path)
        if day is None:
            raise InputError([Notice("fhir.infusion-date", f"{path}.performed[x]")])
        if product.agent is None:
            self.warn("fhir.unknown-product", label, drug=product.name)
        self.records.exposures.append(RecordedExposure(product, day, day, label, self._line_number(resource, path),
                                               kind="car-t-infusion"))

    def _collects_t_cells(self, resource: Any) -> bool:
        """A leukapheresis collects T cells when it names CAR-T, T cells or a CAR-T product, or is
        based on a CAR-T order."""
        concepts = [resource.code, *(resource.usedCode or ())]
        if any(mentions_car_t(c) or mentions_t_cells(c) for c in concepts):
            return True
        if any(c is not None and (m := match_drug(c, self.catalog, "")).agent is not None
               and m.agent.modality == "car-t" for c in concepts if c is not None and (c.text or c.coding)):
            return True
        return any(ref.reference in self.car_t_orders or relative_reference(ref.reference or "") in self.car_t_orders
                   for ref in resource.basedOn or ())

    def _service_request(self, resource: Any, label: str, path: str) -> None:
        if mentions_apheresis(resource.code) and mentions_stem_cells(resource.code):
            self.warn("fhir.harvest-request", label)
            return
        if not mentions_apheresis(resource.code):
            self.unused("unused.request", label)
            return
        status = _REQUEST_APHERESIS.get(resource.status)
        if status is None:
            self.warn("fhir.leukapheresis-request-status", label, status=resource.status)
            return
        when = resource.occurrenceDateTime or (resource.occurrencePeriod.start if resource.occurrencePeriod else None)
        self.records.apheresis.append(ApheresisRecord(status, partial_date(when, f"{path}.occurrence[x]"), label))

    def _care_plan(self, resource: Any, label: str, path: str) -> None:
        if resource.status not in ("draft", "active", "on-hold"):
            self.unused("unused.care-plan", label, status=resource.status)
            return
        found = False
        for i, activity in enumerate(resource.activity or ()):
            detail = activity.detail
            if detail is None or not mentions_apheresis(detail.code):
                continue
            found = True
            status = _ACTIVITY_APHERESIS.get(detail.status)
            if status is None:
                self.warn("fhir.activity-status", f"{label} activity[{i}]", status=detail.status)
                continue
            self.records.apheresis.append(ApheresisRecord(
                status, partial_date(_scheduled(detail), f"{path}.activity[{i}].detail.scheduled[x]"),
                f"{label} activity[{i}]",
            ))
        if not found:
            self.unused("unused.activity", label)

    def _condition(self, resource: Any, label: str, path: str) -> None:
        if not is_myeloma(resource.code):
            self.unused("unused.condition", label)
            return
        verification = resource.verificationStatus
        codes = {c.code for c in verification.coding or ()} if verification else set()
        if codes & {"refuted", "entered-in-error"}:
            self.warn("fhir.diagnosis-refuted", label, codes=tuple(sorted(codes)))
            return
        self.records.myeloma.append(label)

    def _observation(self, resource: Any, label: str, path: str) -> None:
        codes = [f"{c.system}|{c.code}" for c in (resource.code.coding or ()) if c.system and c.code]
        kind = next((self.observation_kinds[c] for c in codes if c in self.observation_kinds), None)
        if kind is None:
            self.unused("unused.observation", label)
            return
        if resource.status not in ("final", "amended", "corrected"):
            self.warn("fhir.observation-status", label, status=resource.status)
            return
        when = resource.effectiveDateTime or (resource.effectivePeriod.start if resource.effectivePeriod else None) \
            or resource.issued
        date = partial_date(when, f"{path}.effective[x]")
        if date is None:
            raise InputError([Notice("fhir.observation-date", f"{path}.effective[x]", kind=Notice(f"observation.{kind}"))])
        if kind == "disease_status":
            concept = resource.valueCodeableConcept
            coded = {c.code for c in (concept.coding or ())} if concept else set()
            words = " ".join(filter(None, [concept.text, *(c.display for c in concept.coding or ())])) if concept else ""
            if coded & set(_WORSENED) or re.search(r"worse|progress|relapse", words, re.IGNORECASE):
                self.records.events.append(Event("progression", date, label, Notice("event.progression")))
            else:
                self.warn("fhir.not-progression", label)
            return
        if kind == "soluble_bcma":
            quantity = resource.valueQuantity
            unit = (quantity.unit or quantity.code or "").casefold() if quantity else ""
            if quantity is None or quantity.value is None or unit not in _NG_PER_ML:
                raise InputError([Notice("fhir.soluble-bcma-unit", f"{path}.valueQuantity", unit=unit or "none")])
            value: Any = float(quantity.value)
        else:
            value = _flag(resource)
            if value is None:
                raise InputError([Notice("fhir.observation-flag", f"{path}.value[x]", kind=Notice(f"observation.{kind}"))])
        self.records.observed.setdefault(kind, []).append((date, value, label))


_WORSENED = ("271299001",)  # SNOMED CT: patient's condition worsened (mCODE ConditionStatusTrendVS)
_YES = re.compile(r"^(yes|true|eligible|detected|present|positive|lost|loss)\b", re.IGNORECASE)
_NO = re.compile(r"^(no|false|not|ineligible|absent|negative|retained)\b", re.IGNORECASE)
_NG_PER_ML = ("ng/ml", "ug/l", "µg/l", "mcg/l")


def _flag(resource: Any) -> bool | None:
    """A yes/no Observation value: valueBoolean, or a concept whose words say yes or no."""
    if resource.valueBoolean is not None:
        return bool(resource.valueBoolean)
    concept = resource.valueCodeableConcept
    texts = [t for t in ([concept.text] + [c.display for c in concept.coding or ()]) if t] if concept else []
    if resource.valueString:
        texts.append(resource.valueString)
    for text in texts:
        if _NO.search(text.strip()):
            return False
        if _YES.search(text.strip()):
            return True
    return None


def _within(day: PartialDate, start: PartialDate, end: PartialDate | None) -> bool:
    """Whether a day may fall within [start, end] (end None: no end)."""
    return day.latest >= start.earliest and (end is None or day.earliest <= end.latest)


def facts_over_plans(exposures: list[RecordedExposure], warnings: list[Notice]) -> list[RecordedExposure]:
    """The exposures with each finished order of a drug set aside where administrations of that drug
    fall within it: the administrations given say when the drug was given, the last one its last
    dose; the order's own dates count only where no administration says anything (an active
    order stays: the drug is still being given)."""
    given: dict[str, list[RecordedExposure]] = {}
    for e in exposures:
        if e.recorded_by == "MedicationAdministration":
            given.setdefault(e.drug.name, []).append(e)
    kept = []
    for e in exposures:
        inside = [a for a in given.get(e.drug.name, ()) if _within(a.start, e.start, e.end)] \
            if e.recorded_by == "MedicationRequest" and e.end is not None else []
        if not inside:
            kept.append(e)
            continue
        last = max(inside, key=lambda a: (a.start.latest, a.start.earliest))
        warnings.append(Notice("fhir.order-read-through", e.resource, drug=e.drug.name, start=e.start, end=e.end,
                               count=len(inside), date=last.start, record=last.resource))
    return kept


def medication_index(entries: Iterable[tuple[str | None, Any]]) -> dict[str, Any]:
    """The Medication resources among (fullUrl, resource) pairs, by fullUrl and by 'Medication/id'."""
    index = {}
    for url, resource in entries:
        if resource.get_resource_type() == "Medication":
            index.update({key: resource for key in (url, f"Medication/{resource.id}") if key})
    return index


def relative_reference(reference: str) -> str:
    """'Type/id' of a relative or absolute reference ('https://ehr/fhir/Medication/m1' -> 'Medication/m1')."""
    return "/".join(reference.rstrip("/").split("/")[-2:])


def _scheduled(detail: Any) -> Any:
    """The first day a care-plan activity is scheduled for, if any."""
    if detail.scheduledPeriod is not None:
        return detail.scheduledPeriod.start
    timing = detail.scheduledTiming
    if timing is not None and timing.event:
        return min(timing.event, key=str)
    if timing is not None and timing.repeat and timing.repeat.boundsPeriod:
        return timing.repeat.boundsPeriod.start
    return None
