"""A FHIR R4B Bundle to a patient-history document, with where each line came from."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..assessment import Assessment
from ..catalog import Catalog, load_catalog
from ..errors import InputError
from ..evaluator import evaluate
from ..history import Override, parse_document
from ..policy import Policy, check_catalog, load_policy
from .lines import TherapyLine, build_lines
from .model import validate_bundle
from .records import LINE_EXTENSION, Records, ResourceReader, medication_index, relative_reference


@attrs.frozen
class LineSource:
    """How one line of the history was made from the Bundle."""

    line: int
    method: str
    reason: str
    agents: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "method": self.method, "reason": self.reason, "agents": list(self.agents)}


@attrs.frozen
class FhirImport:
    """The patient-history document read from a Bundle, the source of each line, and what was not used."""

    document: dict[str, Any]
    lines: tuple[LineSource, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"document": self.document, "lines": [s.to_dict() for s in self.lines], "warnings": list(self.warnings)}


def _label(resource: Any, index: int) -> str:
    kind = resource.get_resource_type()
    return f"{kind}/{resource.id}" if resource.id else f"entry[{index}] ({kind})"


def _patient_id(entries: list[tuple[int, str | None, Any]], expected: str | None) -> tuple[str, set[str]]:
    """The patient's id and every reference that means that patient; InputError if not exactly one patient."""
    patients = [(i, url, r) for i, url, r in entries if r.get_resource_type() == "Patient"]
    if len(patients) > 1:
        raise InputError([f"entry[{i}]: a second Patient; a bundle must hold one patient" for i, _, _ in patients[1:]])
    if patients:
        i, url, patient = patients[0]
        if not patient.id:
            raise InputError([f"entry[{i}].resource.id: the Patient needs an id"])
        if expected is not None and patient.id != expected:
            raise InputError([f"entry[{i}].resource.id: {patient.id!r} is not the patient in context ({expected!r})"])
        return patient.id, {f"Patient/{patient.id}", *([url] if url else [])}
    subjects = {relative_reference(r.subject.reference) for _, _, r in entries
                if getattr(r, "subject", None) is not None and r.subject.reference}
    ids = {s.removeprefix("Patient/") for s in subjects if s.startswith("Patient/")} | ({expected} if expected else set())
    if len(ids) != 1:
        raise InputError([f"bundle: holds no Patient resource and refers to {len(ids)} patients ({', '.join(sorted(ids))})"
                          if ids else "bundle: holds no Patient resource and no reference to a patient"])
    patient_id = ids.pop()
    return patient_id, {f"Patient/{patient_id}"}


def _check_subject(resource: Any, path: str, patient: set[str]) -> None:
    subject = getattr(resource, "subject", None)
    reference = subject.reference if subject is not None else None
    if reference is None:
        raise InputError([f"{path}.subject.reference: is required to tell whose record this is"])
    if reference not in patient and relative_reference(reference) not in patient:
        raise InputError([f"{path}.subject.reference: {reference!r} is not the bundle's patient"
                          f" ({sorted(patient)[0]})"])


def _as_of(bundle: Any) -> str | None:
    timestamp = bundle.timestamp
    return timestamp.date().isoformat() if isinstance(timestamp, datetime.datetime) else None


def _line_source(index: int, line: TherapyLine) -> LineSource:
    agents = tuple({"name": e.drug.name, "resource": e.resource, "matched_by": e.drug.matched_by} for e in line.exposures)
    return LineSource(index, line.method, line.reason, agents)


def _document(patient_id: str, lines: list[TherapyLine], records: Records, as_of: str | None,
              candidates: list[str] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "patient_id": patient_id,
        "comment": "Read from a FHIR Bundle; each line's comment says how it was formed.",
        "lines": [
            {"agents": list(line.agents), "start": str(line.start),
             **({"end": str(line.end)} if line.end is not None else {}), "comment": line.reason}
            for line in lines
        ],
    }
    dated = sorted((a for a in records.apheresis if a.date), key=lambda a: (a.date.earliest, a.date.latest))
    undated = [a for a in records.apheresis if a.date is None]
    if records.apheresis:
        document["apheresis"] = [
            {"status": a.status, **({"date": str(a.date)} if a.date else {}), "comment": a.resource}
            for a in dated + undated
        ]
    if as_of is not None:
        document["as_of"] = as_of
    if candidates is not None:
        document["candidates"] = list(candidates)
    return document


def from_bundle(
    bundle: Mapping[str, Any],
    *,
    patient_id: str | None = None,
    candidates: list[str] | None = None,
    catalog: Catalog | None = None,
    line_extension: str = LINE_EXTENSION,
) -> FhirImport:
    """Read a FHIR R4 (R4B) Bundle into a patient-history document.

    ``patient_id``, when given, must be the Bundle's patient. ``candidates`` default to every
    approved TCRT. The document's ``as_of`` is the Bundle's ``timestamp`` date, if any. Raises
    :class:`~mmsequence.errors.InputError` naming the field for invalid or contradictory data.
    """
    model = validate_bundle(bundle)
    missing = [f"entry[{i}].resource: is required" for i, entry in enumerate(model.entry or ()) if not entry.resource]
    if missing:
        raise InputError(missing)
    entries = [(i, entry.fullUrl, entry.resource) for i, entry in enumerate(model.entry or ())]
    patient_id, patient_refs = _patient_id(entries, patient_id)
    medications = medication_index((url, resource) for _, url, resource in entries)
    reader = ResourceReader(catalog or load_catalog(), medications, line_extension)
    for i, url, resource in entries:
        kind = resource.get_resource_type()
        if kind in ("Patient", "Medication"):
            continue
        path = f"entry[{i}].resource"
        label = _label(resource, i)
        if kind in ("MedicationAdministration", "MedicationStatement", "MedicationRequest", "Procedure",
                    "ServiceRequest", "CarePlan", "Condition"):
            _check_subject(resource, path, patient_refs)
        reader.read(resource, label, path)
    records = reader.records
    for i, url, resource in entries:
        if resource.get_resource_type() == "Medication" and not (
            {url, f"Medication/{resource.id}"} & reader.used_medications
        ):
            records.warnings.append(f"{_label(resource, i)}: not used (no administration, statement or request refers to it)")
    if not records.myeloma:
        records.warnings.insert(0, "bundle: no multiple myeloma diagnosis (Condition) found; evaluated as if present")
    lines = build_lines(records.exposures, records.warnings)
    document = _document(patient_id, lines, records, _as_of(model), candidates)
    parse_document(document)
    return FhirImport(document, tuple(_line_source(i, line) for i, line in enumerate(lines)), tuple(records.warnings))


def evaluate_bundle(
    bundle: Mapping[str, Any],
    as_of: datetime.date | str | None = None,
    policy: Policy | str | Path | None = None,
    overrides: Iterable[Override] = (),
    **options: Any,
) -> Assessment:
    """Evaluate a FHIR Bundle: the assessment says in ``derived.fhir`` how each line was formed,
    and its warnings start with the Bundle's resources that were not used."""
    active = policy if isinstance(policy, Policy) else load_policy(policy)
    options.setdefault("catalog", check_catalog(active, load_catalog()))  # a site's own names and codes
    imported = from_bundle(bundle, **options)
    assessment = evaluate(imported.document, as_of=as_of, policy=active, overrides=overrides)
    return attrs.evolve(
        assessment,
        derived={**assessment.derived, "fhir": {"lines": [s.to_dict() for s in imported.lines]}},
        warnings=(*imported.warnings, *assessment.warnings),
    )
