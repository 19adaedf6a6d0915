"""Small FHIR R4 resources and Bundles for the tests, one line each."""

from __future__ import annotations

from typing import Any

PATIENT = "p1"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
LINE_URL = "urn:mmsequence:fhir:line-of-therapy"


def subject(patient: str = PATIENT) -> dict[str, Any]:
    return {"subject": {"reference": f"Patient/{patient}"}}


def myeloma(rid: str = "dx") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, **subject(),
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C90.00"}]}}


def line_number(n: int) -> dict[str, Any]:
    return {"extension": [{"url": LINE_URL, "valuePositiveInt": n}]}


def administration(rid: str, drug: str | dict, when: str | dict, status: str = "completed", **extra: Any) -> dict[str, Any]:
    concept = {"text": drug} if isinstance(drug, str) else drug
    timing = {"effectivePeriod": when} if isinstance(when, dict) else {"effectiveDateTime": when}
    return {"resourceType": "MedicationAdministration", "id": rid, "status": status,
            "medicationCodeableConcept": concept, **subject(), **timing, **extra}


def statement(rid: str, drug: str, start: str, end: str | None = None, status: str = "completed", **extra: Any) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "MedicationStatement", "id": rid, "status": status,
            "medicationCodeableConcept": {"text": drug}, **subject(), "effectivePeriod": period, **extra}


def procedure(rid: str, text: str, when: str, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Procedure", "id": rid, "status": status, "code": {"text": text}, **subject(),
            "performedDateTime": when, **extra}


def bundle(*resources: dict[str, Any], timestamp: str | None = "2026-06-01T09:00:00Z", diagnosis: bool = True) -> dict[str, Any]:
    """A collection Bundle with the patient, a myeloma diagnosis (unless told not to) and ``resources``."""
    everything = [{"resourceType": "Patient", "id": PATIENT}, *([myeloma()] if diagnosis else []), *resources]
    return {
        "resourceType": "Bundle", "type": "collection", **({"timestamp": timestamp} if timestamp else {}),
        "entry": [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r} for i, r in enumerate(everything)],
    }
