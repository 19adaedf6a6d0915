"""A relapsed myeloma chart built on a real (Synthea) record, encoded as an EHR encodes drugs.

Stephen McLaughlin's public Synthea record (tests/data/synthea) keeps everything it holds
(hypertension, sinusitis, hydrochlorothiazide, a hydrocortisone cream, fexofenadine, an epinephrine
auto-injector, acetaminophen ...) and gains a multiple myeloma history as a hospital EHR writes it:

- the diagnosis, SNOMED CT 109989006, March 2019;
- line 1, DRd, April 2019 to May 2021, stopped for progression: daratumumab as a contained
  Medication with a local code, the FDA suffixed name and the RxNorm ingredient in
  ``Medication.ingredient``; lenalidomide as a clinical-drug name under a local code;
  dexamethasone by its Chinese generic name;
- line 2, KPd, June 2021 to August 2023, stopped for progression: carfilzomib by a local pharmacy
  code only (the site policy maps it), pomalidomide as a branded-drug name, dexamethasone tablets;
- line 3, teclistamab: an order from 2023-09-15 to 2024-02-28, and its administrations: step-up
  doses and weekly doses up to 2024-02-08, each with its dexamethasone premedication (``partOf``
  the teclistamab dose), a dose held on 2024-02-15 and one entered in error on 2024-02-22;
  progression recorded (mCODE disease status) on 2024-02-20.
"""

from __future__ import annotations

import copy
import datetime
import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "synthea"
RECORD = DATA / "Stephen_McLaughlin_7735ab79-6ac8-4b81-9936-f7ddabd18751.json.gz"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "urn:oid:2.16.840.1.113883.3.9999.7.2"  # the hospital's own drug formulary (a fictitious OID)
CARFILZOMIB_CODE = "KYP-60-VIAL"
#: The site policy that maps the local carfilzomib code.
POLICY = {"codes": {f"{LOCAL}|{CARFILZOMIB_CODE}": "carfilzomib"}}
TECLISTAMAB_GIVEN = ["2023-09-15", "2023-09-18", "2023-09-21"] + [
    (datetime.date(2023, 9, 28) + datetime.timedelta(weeks=k)).isoformat() for k in range(20)]
LAST_TECLISTAMAB = TECLISTAMAB_GIVEN[-1]


@lru_cache(maxsize=1)
def _record() -> str:
    return gzip.decompress(RECORD.read_bytes()).decode("utf-8")


def synthea(path: Path) -> dict[str, Any]:
    """A committed Synthea bundle."""
    return json.loads(gzip.decompress(path.read_bytes()))


def _order(rid: str, drug: dict[str, Any], start: str, end: str, subject: dict[str, str], status: str = "stopped",
           reason: str | None = "disease progression") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order", **drug,
            "subject": subject, "authoredOn": start,
            **({"statusReason": {"text": reason}} if reason else {}),
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start, "end": end}}}}]}


def _given(rid: str, drug: dict[str, Any], day: str, subject: dict[str, str], status: str = "completed",
           **more: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationAdministration", "id": rid, "status": status, **drug, "subject": subject,
            "effectiveDateTime": f"{day}T10:00:00+08:00", **more}


def _text(text: str, *coding: dict[str, str]) -> dict[str, Any]:
    return {"medicationCodeableConcept": {"text": text, **({"coding": list(coding)} if coding else {})}}


def myeloma_chart() -> dict[str, Any]:
    """The Synthea record with the myeloma history above, as one transaction Bundle."""
    bundle = copy.deepcopy(json.loads(_record()))
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": patient["fullUrl"]}
    daratumumab = {
        "contained": [{"resourceType": "Medication", "id": "dara",
                       "code": {"coding": [{"system": LOCAL, "code": "DARA-SC-1800"}],
                                "text": "daratumumab-hyaluronidase-fihj 1,800 mg-30,000 unit/15 mL SC solution"},
                       "ingredient": [{"itemCodeableConcept": {"coding": [
                           {"system": RXNORM, "code": "1721947", "display": "daratumumab"}]}, "isActive": True}]}],
        "medicationReference": {"reference": "#dara"}}
    added: list[dict[str, Any]] = [
        {"resourceType": "Condition", "id": "mm", "subject": subject, "onsetDateTime": "2019-03-12",
         "verificationStatus": {"coding": [{"code": "confirmed"}]},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "109989006",
                              "display": "Multiple myeloma (disorder)"}]}},
        _order("drd-dara", daratumumab, "2019-04-01", "2021-05-31", subject),
        _order("drd-len", _text("lenalidomide 25 MG Oral Capsule", {"system": LOCAL, "code": "LEN-25"}),
               "2019-04-01", "2021-05-31", subject),
        _order("drd-dex", _text("地塞米松 20 mg 口服"), "2019-04-01", "2021-05-31", subject),
        _order("kpd-k", {"medicationCodeableConcept": {"coding": [{"system": LOCAL, "code": CARFILZOMIB_CODE}]}},
               "2021-06-15", "2023-08-31", subject),
        _order("kpd-p", _text("pomalidomide 4 MG Oral Capsule [Pomalyst]"), "2021-06-15", "2023-08-31", subject),
        _order("kpd-d", _text("Dexamethasone 4 MG Oral Tablet"), "2021-06-15", "2023-08-31", subject),
        _order("tec-order", _text("teclistamab-cqyv 10 MG/ML Injection"), "2023-09-15", "2024-02-28", subject,
               status="completed", reason=None),
        {"resourceType": "Observation", "id": "pd", "status": "final", "subject": subject,
         "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
         "effectiveDateTime": "2024-02-20",
         "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "271299001",
                                              "display": "Patient's condition worsened"}]}},
    ]
    teclistamab = _text("teclistamab-cqyv")
    for i, day in enumerate(TECLISTAMAB_GIVEN):
        added.append(_given(f"tec-{i}", teclistamab, day, subject))
        added.append(_given(f"premed-{i}", _text("Dexamethasone 16 MG Injection"), day, subject,
                            partOf=[{"reference": f"MedicationAdministration/tec-{i}"}]))
    added.append(_given("tec-held", teclistamab, "2024-02-15", subject, status="not-done",
                        statusReason=[{"text": "held: infection"}]))
    added.append(_given("tec-error", teclistamab, "2024-02-22", subject, status="entered-in-error"))
    bundle["entry"] += [{"fullUrl": f"urn:uuid:mm-chart-{r['id']}", "resource": r,
                         "request": {"method": "POST", "url": r["resourceType"]}} for r in added]
    return bundle
