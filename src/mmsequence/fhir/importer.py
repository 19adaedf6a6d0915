"""A FHIR R4B Bundle to a patient history, with where each line came from."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from ..catalog import Catalog
from ..errors import InputError
from ..history import Apheresis, Biomarkers, Line, PatientHistory, consistency_problems
from ..notices import Notice, is_other_drug
from .coding import names_car_t_order, not_therapy_by_name
from .dates import partial_date
from .lines import build_lines
from .model import ReadBundle, Unread, read_leniently, read_text
from .records import LINE_EXTENSION, Records, ResourceReader, facts_over_plans, medication_index, relative_reference

#: How many records of each list a note names before it only counts.
_NAMED = 5


#: Resources that must be about the Bundle's patient.
_SUBJECT_TYPES = ("MedicationAdministration", "MedicationStatement", "MedicationRequest", "Procedure",
                  "ServiceRequest", "CarePlan", "Condition")


def _label(resource: Any, index: int) -> str:
    kind = resource.get_resource_type()
    return f"{kind}/{resource.id}" if resource.id else f"entry[{index}] ({kind})"


def _patient_id(entries: list[tuple[int, str | None, Any]], expected: str | None) -> tuple[str, set[str]]:
    """The patient's id and every reference that means that patient; InputError if not exactly one patient."""
    patients = [(i, url, r) for i, url, r in entries if r.get_resource_type() == "Patient"]
    if len(patients) > 1:
        raise InputError([Notice("fhir.second-patient", f"entry[{i}]") for i, _, _ in patients[1:]])
    if patients:
        i, url, patient = patients[0]
        if not patient.id:
            raise InputError([Notice("fhir.patient-id", f"entry[{i}].resource.id")])
        if expected is not None and patient.id != expected:
            raise InputError([Notice("fhir.other-patient", f"entry[{i}].resource.id", id=patient.id, expected=expected)])
        return patient.id, {f"Patient/{patient.id}", *([url] if url else [])}
    subjects = {relative_reference(r.subject.reference) for _, _, r in entries
                if getattr(r, "subject", None) is not None and r.subject.reference}
    ids = {s.removeprefix("Patient/") for s in subjects if s.startswith("Patient/")} | ({expected} if expected else set())
    if len(ids) != 1:
        raise InputError([Notice("fhir.patients", "bundle", count=len(ids), ids=tuple(sorted(ids)))
                          if ids else Notice("fhir.no-patient", "bundle")])
    patient_id = ids.pop()
    return patient_id, {f"Patient/{patient_id}"}


def _check_subject(resource: Any, path: str, patient: set[str], urls: set[str]) -> None:
    """That ``resource`` is about the patient (``patient``: the references that mean the patient;
    ``urls``: the bundle's fullUrls, which a ``urn:`` reference must name)."""
    subject = getattr(resource, "subject", None)
    reference = subject.reference if subject is not None else None
    if reference is None:
        raise InputError([Notice("fhir.subject-required", f"{path}.subject.reference")])
    if reference.startswith("urn:") and reference not in urls:
        raise InputError([Notice("fhir.unresolved-subject", f"{path}.subject.reference", reference=reference,
                                 scheme=reference[:reference.find(":", 4)], patient=sorted(patient)[0])])
    if reference not in patient and relative_reference(reference) not in patient:
        raise InputError([Notice("fhir.other-subject", f"{path}.subject.reference", reference=reference,
                                 patient=sorted(patient)[0])])


def _unmapped_observation(resource: Mapping[str, Any], mapped: set[str]) -> str | None:
    """The notice code of why an Observation is not read, when its codes are plainly given and none
    is one the site maps (None: it is read, and validated)."""
    if resource.get("resourceType") != "Observation":
        return None
    code = resource.get("code")
    codings = code.get("coding", []) if isinstance(code, Mapping) else None
    if not isinstance(codings, list) or not all(
            isinstance(c, Mapping) and all(isinstance(c.get(k, ""), str) for k in ("system", "code")) for c in codings):
        return None
    if any(f"{c.get('system')}|{c.get('code')}" in mapped for c in codings if c.get("system") and c.get("code")):
        return None
    return "unused.observation"


def _as_of(bundle: Any) -> datetime.date | None:
    timestamp = bundle.timestamp
    return timestamp.date() if isinstance(timestamp, datetime.datetime) else None


def _latest(records: Records, kind: str) -> Any:
    """The value of the latest Observation of ``kind`` (None: none recorded)."""
    found = records.observed.get(kind, [])
    return max(found, key=lambda item: (item[0].latest, item[0].earliest))[1] if found else None


def _death(entries: list[tuple[int, str | None, Any]]) -> str | None:
    """The record of the patient's death ('Patient/p1: deceased 2019-03-01'), if the Patient says so."""
    for i, _, resource in entries:
        if resource.get_resource_type() != "Patient":
            continue
        when = resource.deceasedDateTime
        if when is not None:
            day = partial_date(when, f"entry[{i}].resource.deceasedDateTime")
            return Notice("fhir.deceased", _label(resource, i), date=day)
        if resource.deceasedBoolean:
            return Notice("fhir.deceased-undated", _label(resource, i))
    return None


def _grouped_notes(records: Records) -> list[Notice]:
    """The notes a person reads about the records not used: one line, counted by resource type."""
    if not records.unused:
        return []
    counts: dict[str, int] = {}
    for kind, _, _ in records.unused:
        counts[kind] = counts.get(kind, 0) + 1
    listed = tuple(Notice("fhir.count", kind=kind, count=n)
                   for kind, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    count = len(records.unused)
    return [Notice("fhir.not-used-one", counts=listed) if count == 1 else Notice("fhir.not-used", count=count, counts=listed)]


def _said_once(warnings: list[Notice]) -> list[Notice]:
    """The warnings with one line for each message that several records share ('a, b and 12 more: ...')."""
    records: dict[Notice, list[str]] = {}
    for warning in warnings:
        label = warning.path
        if label is not None and ("/" in label or label.startswith("entry[")):
            records.setdefault(warning.message, []).append(label)
        else:
            records.setdefault(warning, [])
    out = []
    for message, labels in records.items():
        if not labels:
            out.append(message)
            continue
        shown = _NAMED - 2  # record ids are long: fewer of them than of drug names
        if len(labels) == 1:
            out.append(Notice(message.code, labels[0], **message.values))
            continue
        places = Notice("places-more", places=tuple(labels[:shown]), more=len(labels) - shown) if len(labels) > shown \
            else Notice("places", places=tuple(labels))
        out.append(Notice(message.code, None, subject=places, **message.values))
    return out


def _other_drugs_note(not_therapy: tuple[tuple[str, Notice, str], ...]) -> list[Notice]:
    """One line for the uncatalogued drugs that are not therapy: their count and the first few names."""
    names = list(dict.fromkeys(name for name, role, _ in not_therapy if is_other_drug(role)))
    if not names:
        return []
    if len(names) > _NAMED:
        return [Notice("fhir.other-drugs-more", count=len(names), names="; ".join(names[:_NAMED]), more=len(names) - _NAMED)]
    return [Notice("fhir.other-drugs", count=len(names), names="; ".join(names))]



def _history(patient_id: str, lines: list[Line], not_therapy: tuple[tuple[str, str, str], ...], records: Records,
             as_of: datetime.date | None, candidates: list[str] | None, death: str | None = None) -> PatientHistory:
    dated = sorted((a for a in records.apheresis if a.date), key=lambda a: a.date.sort_key if a.date else (datetime.date.min, datetime.date.min))
    undated = [a for a in records.apheresis if a.date is None]
    return PatientHistory(
        patient_id=patient_id,
        comment=Notice("fhir.history-comment"),
        lines=tuple(lines),
        not_therapy=not_therapy,
        apheresis=tuple(Apheresis(a.status, a.date, comment=a.resource) for a in dated + undated),
        car_t_eligible=_latest(records, "car_t_eligible"),
        biomarkers=Biomarkers(**{kind.replace("soluble_bcma", "soluble_bcma_ng_ml"): _latest(records, kind)
                                 for kind in ("bcma_loss", "gprc5d_loss", "fcrh5_loss", "soluble_bcma")}),
        as_of=as_of,
        candidates=None if candidates is None else tuple(candidates),
        warnings=tuple(records.warnings),
        format="fhir",
        diagnoses=tuple(records.myeloma),
        death=death,
        not_used=tuple(notice for _, _, notice in records.unused),
    )


def read_bundle(
    bundle: Mapping[str, Any],
    catalog: Catalog,
    *,
    patient_id: str | None = None,
    candidates: list[str] | None = None,
    line_extension: str = LINE_EXTENSION,
    observations: Mapping[str, tuple[str, ...]] | None = None,
) -> PatientHistory:
    """The patient history a FHIR R4 (R4B) Bundle records, drugs named through ``catalog``.

    ``observations`` maps each kind of Observation the rules read to the site's codes (the
    policy's ``observations``; default: the shipped policy's). ``patient_id``, when given, must be
    the Bundle's patient. ``candidates`` default to every
    approved TCRT. ``as_of`` is the Bundle's ``timestamp`` date, if any. How each line was formed
    is on ``Line.origin``; records not used are in ``warnings``. Raises
    :class:`~mmsequence.errors.InputError` naming every invalid or contradictory field.
    """
    observations = _observations(observations)
    model, left_out = read_leniently(bundle, lambda resource: not_therapy_by_name(resource, catalog),
                                     _unmapped(observations))
    return _read(model, left_out, catalog, patient_id, candidates, line_extension, observations)


def read_bundle_text(
    text: bytes,
    catalog: Catalog,
    *,
    patient_id: str | None = None,
    candidates: list[str] | None = None,
    line_extension: str = LINE_EXTENSION,
    observations: Mapping[str, tuple[str, ...]] | None = None,
) -> PatientHistory | None:
    """The patient history in a Bundle's JSON text, as :func:`read_bundle` reads the decoded text,
    through the typed fast path and without holding the resources it does not read; None when
    the text or the Bundle is in any doubt (decode it and call :func:`read_bundle`, which names
    every problem)."""
    observations = _observations(observations)
    model = read_text(text, _unmapped(observations))
    if model is None:
        return None
    return _read(model, [], catalog, patient_id, candidates, line_extension, observations)


def _observations(observations: Mapping[str, tuple[str, ...]] | None) -> Mapping[str, tuple[str, ...]]:
    if observations is None:
        from ..policy import load_policy

        return load_policy().observation_codes()
    return observations


def _unmapped(observations: Mapping[str, tuple[str, ...]]) -> Callable[[Mapping[str, Any]], str | None]:
    mapped = {code for codes in observations.values() for code in codes}
    return lambda resource: _unmapped_observation(resource, mapped)


def _read(model: ReadBundle, left_out: list[Notice], catalog: Catalog, patient_id: str | None,
          candidates: list[str] | None, line_extension: str, observations: Mapping[str, tuple[str, ...]]) -> PatientHistory:
    """The history of a Bundle as read (:mod:`mmsequence.fhir.model`)."""
    entries = model.entries
    patient_id, patient_refs = _patient_id(entries, patient_id)
    medications = medication_index((url, resource) for _, url, resource in entries)
    reader = ResourceReader(catalog, medications, line_extension, observations)
    reader.records.warnings.extend(left_out)
    reader.car_t_orders = {f"{r.get_resource_type()}/{r.id}" for _, _, r in entries if names_car_t_order(r, catalog)}
    problems: list[str] = []
    urls = {url for _, url, _ in entries if url}
    for i, _url, resource in entries:
        kind = resource.get_resource_type()
        if kind in ("Patient", "Medication"):
            continue
        path = f"entry[{i}].resource"
        if isinstance(resource, Unread):
            reader.unused(resource.why, _label(resource, i), **resource.values)
            continue
        try:
            if kind in _SUBJECT_TYPES:
                _check_subject(resource, path, patient_refs, urls)
            reader.read(resource, _label(resource, i), path)
        except InputError as error:  # every resource is read, so that every problem is reported
            problems += error.problems
    if problems:
        raise InputError(problems)
    records = reader.records
    for i, url, resource in entries:
        if resource.get_resource_type() == "Medication" and not (
            {url, f"Medication/{resource.id}"} & reader.used_medications
        ):
            reader.unused("unused.medication", _label(resource, i))
    exposures = facts_over_plans(records.exposures, records.warnings)
    lines, not_therapy = build_lines(exposures, records.events, records.warnings)
    # what a person reads first: what was set aside, in two lines; then each note once
    records.warnings[:] = _said_once([*_grouped_notes(records), *_other_drugs_note(not_therapy), *records.warnings])
    history = _history(patient_id, lines, not_therapy, records, _as_of(model), candidates, _death(entries))
    problems = consistency_problems(history)
    if problems:
        raise InputError(problems)
    return history


def import_report(history: PatientHistory) -> dict[str, Any]:
    """What a Bundle reads as: the patient-history document, how each line was formed, the warnings,
    and every record not used (``mmsequence fhir-import``)."""
    return {"document": history.to_document(), "lines": history.line_sources(), "warnings": list(history.warnings),
            "not_used": list(history.not_used)}
