"""CDS Hooks completeness: the Observations the course reads are prefetched or read, a paged
prefetch is followed or reported, and the specification's own order examples are assessed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from mmsequence.evaluator import evaluator_for
from mmsequence.policy import load_policy
from mmsequence.service.hooks import PREFETCH, merged_bundle, prefetch_entries

from . import fhir_builders as fb
from .service_support import call_app, example
from .test_service_app import FHIR, ORDER_SELECT, PATIENT_VIEW, WITHOUT_PREFETCH, app_with, fhir_server, post

SPECIFICATION = Path(__file__).resolve().parents[1] / "examples" / "cds-hooks" / "specification"
WORSENED = {"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]}}


def test_discovery_prefetches_the_observations_the_site_maps(tmp_path):
    assert PREFETCH["observations"].startswith("Observation?patient={{context.patientId}}&code=")
    assert "http://loinc.org|97509-4" in PREFETCH["observations"]
    policy = tmp_path / "site.yaml"
    policy.write_text("observations:\n  car_t_eligible: ['urn:site|CART-ELIG']\n")
    services = call_app(app_with(tmp_path, policy=str(policy)), "GET", "/cds-services").json()["services"]
    template = services[0]["prefetch"]["observations"]
    assert "urn:site|CART-ELIG" in template and "http://loinc.org|97509-4" in template


def test_observations_not_prefetched_are_read_from_the_fhir_server(tmp_path):
    seen: list[httpx.Request] = []
    assert post(app_with(tmp_path, fhir_server(seen)), PATIENT_VIEW, WITHOUT_PREFETCH).status_code == 200
    [search] = [r for r in seen if r.url.path == "/fhir/Observation" and r.url.params.get("page") != "2"]
    assert search.url.params["patient"] == "tb-014" and "http://loinc.org|97509-4" in search.url.params["code"]
    assert search.headers["authorization"] == "Bearer t0k"


def test_a_prefetched_disease_status_gives_its_line_a_progression_date():
    request = {"prefetch": {
        "patient": {"resourceType": "Patient", "id": fb.PATIENT},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": fb.myeloma()}]},
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": fb.statement("k", "carfilzomib", "2024-01-10", "2024-09-01")}]},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
            "resourceType": "Observation", "id": "ds", "status": "final", **fb.subject(),
            "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]},
            "effectiveDateTime": "2024-08-20", **WORSENED}}]}}}
    evaluator = evaluator_for(load_policy())
    history = evaluator.read(merged_bundle(prefetch_entries(request["prefetch"]).entries), patient_id=fb.PATIENT)
    assert str(history.lines[0].progression) == "2024-08-20" and history.lines[0].stop_reason == "progression"


def _paged(request: dict, key: str, link: str) -> dict:
    request = copy.deepcopy(request)
    request["prefetch"][key]["link"] = [{"relation": "self", "url": f"{FHIR}/x"}, {"relation": "next", "url": link}]
    return request


def test_a_paged_prefetch_without_a_fhir_server_is_reported_incomplete_with_no_verdict(tmp_path):
    request = _paged(example("patient-view"), "medicationAdministrations", f"{FHIR}/MedicationAdministration?page=2")
    [card] = post(app_with(tmp_path), PATIENT_VIEW, request).json()["cards"]
    assert card["source"]["topic"]["code"] == "data-cut" and card["indicator"] == "warning"
    assert "medicationAdministrations hold only the first page of a longer search" in card["detail"]
    assert "could change every verdict" in card["detail"] and "should send every page" in card["detail"]


def test_a_paged_prefetch_is_followed_when_the_fhir_server_allows(tmp_path):
    seen: list[httpx.Request] = []
    later = fb.statement("t", "teclistamab", "2025-01-10", "2025-03-01", subject={"reference": "Patient/tb-014"})

    async def second_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": later}]})
    request = _paged(example("patient-view"), "medicationStatements", f"{FHIR}/MedicationStatement?page=2")
    request["prefetch"]["medicationStatements"] = request["prefetch"]["medicationStatements"] or {
        "resourceType": "Bundle", "type": "searchset", "entry": []}
    request |= {"fhirServer": FHIR, "fhirAuthorization": WITHOUT_PREFETCH["fhirAuthorization"]}
    reply = post(app_with(tmp_path, fhir_server(seen, second_page)), PATIENT_VIEW, request)
    assert [str(r.url) for r in seen] == [f"{FHIR}/MedicationStatement?page=2"]
    assert seen[0].headers["authorization"] == "Bearer t0k"
    cards = reply.json()["cards"]
    assert cards[0]["source"]["topic"]["code"] != "data-cut" and "Teclistamab" in cards[0]["detail"]


def test_a_paged_prefetch_whose_next_link_leaves_the_fhir_server_is_refused_before_any_request(tmp_path):
    seen: list[httpx.Request] = []
    request = _paged(example("patient-view"), "conditions", f"{FHIR}/../trap?page=2")
    request |= {"fhirServer": FHIR, "fhirAuthorization": WITHOUT_PREFETCH["fhirAuthorization"]}
    reply = post(app_with(tmp_path, fhir_server(seen)), PATIENT_VIEW, request)
    assert reply.status_code == 412 and "next page is outside the FHIR server" in reply.json()["error"] and seen == []


def _specification_request(name: str, drug: dict | None = None) -> dict:
    """The specification's R4 example of ``name`` as a full request, the patient's record prefetched."""
    context = json.loads((SPECIFICATION / f"{name}-r4-context.json").read_text())["context"]
    if drug is not None:
        context["draftOrders"]["entry"][1]["resource"]["medicationCodeableConcept"] = drug
    patient = context["patientId"]
    condition = fb.myeloma() | {"subject": {"reference": f"Patient/{patient}"}}
    prefetch = dict.fromkeys(PREFETCH) | {
        "patient": {"resourceType": "Patient", "id": patient},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]}}
    return {"hook": name, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context, "prefetch": prefetch}


@pytest.mark.parametrize("name", ["order-select", "order-sign"])
def test_the_specifications_order_examples_are_assessed_not_refused(tmp_path, name):
    path = f"/cds-services/mmsequence-{name}"
    reply = post(app_with(tmp_path), path, _specification_request(name))
    assert reply.status_code == 200 and reply.json() == {"cards": []}  # amoxicillin: not a therapy to assess
    ordered = _specification_request(name, {"text": "teclistamab 10 mg/mL"})
    [card] = post(app_with(tmp_path), path, ordered).json()["cards"]
    assert card["summary"].startswith("Teclistamab") and card["source"]["topic"]["code"] == "order"
    assert "NutritionOrder): a defect not bearing on the drug was left aside (intent" in card["detail"]
    assert "MedicationRequest): a defect not bearing on the drug was left aside" in card["detail"]


def test_a_defect_in_what_names_the_drug_still_refuses_naming_the_field(tmp_path):
    request = _specification_request("order-select", {"text": "teclistamab", "coding": "not a list"})
    [card] = post(app_with(tmp_path), ORDER_SELECT, request).json()["cards"]
    assert card["indicator"] == "warning"
    assert "draftOrders.FHIR entry 2 resource medicationCodeableConcept coding: Input should be a valid list" in card["detail"]
