"""Drug identity from what EHRs send, an open world for uncatalogued drugs, and lenient reading."""

from __future__ import annotations

import pytest

from mmsequence import Evaluator, InputError
from mmsequence.catalog import load_catalog
from mmsequence.fhir.coding import agent_by_text
from mmsequence.fhir.drug_names import ingredient_names, looks_antineoplastic
from mmsequence.policy import load_policy, policy_from_mapping

from .fhir_builders import RXNORM, administration, bundle, statement, subject

NDC = "http://hl7.org/fhir/sid/ndc"


def read(b, policy=None):
    evaluator = Evaluator(policy_from_mapping(policy, "site policy", load_policy()) if policy else None)
    return evaluator.read(b)


@pytest.mark.parametrize(("name", "ingredients"), [
    ("Atorvastatin 20 MG Oral Tablet", ["Atorvastatin"]),  # SCD
    ("Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet [Augmentin]", ["Amoxicillin", "Clavulanate"]),  # SBD
    ("{28 (Ethinyl Estradiol 0.03 MG / Levonorgestrel 0.15 MG Oral Tablet) } Pack [Levora]",
     ["Ethinyl Estradiol", "Levonorgestrel"]),  # BPCK
    ("1 ML DOCEtaxel 20 MG/ML Injection", ["DOCEtaxel"]),  # quantified SCD
    ("NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", ["Albuterol"]),
    ("teclistamab", []),
])
def test_the_ingredients_an_rxnorm_name_lists(name, ingredients):
    assert ingredient_names(name) == ingredients


@pytest.mark.parametrize(("name", "why"), [
    ("Mystery-mab 5 mg", "-mab"), ("zeclidomide 1 MG Oral Capsule", "-domide"), ("ABBV-383", "ABBV-383"),
    ("foozomib", "-zomib"), ("anito-cel", "-cel"), ("xyz-tinib 40 MG Oral Tablet", "-tinib"),
])
def test_names_that_look_antineoplastic(name, why):
    assert why in (looks_antineoplastic(name) or "")


@pytest.mark.parametrize("name", ["Atorvastatin 20 MG Oral Tablet", "Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet",
                                  "Hydrocortisone 10 MG/ML Topical Ointment", "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT",
                                  "SPF 30 sunscreen", "galantamine 4 MG Oral Tablet"])
def test_ordinary_names_do_not(name):
    assert looks_antineoplastic(name) is None


@pytest.mark.parametrize(("text", "agent"), [
    ("daratumumab-hyaluronidase-fihj 1,800 mg-30,000 unit/15 mL SC solution", "daratumumab"),
    ("teclistamab-cqyv 10 MG/ML Injection", "teclistamab"),
    ("Bortezomib 3.5 MG Injection", "bortezomib"),
    ("pomalidomide 4 MG Oral Capsule [Pomalyst]", "pomalidomide"),
    ("地塞米松 20 mg", "dexamethasone"), ("硼替佐米", "bortezomib"), ("来那度胺", "lenalidomide"),
    ("达雷妥尤单抗", "daratumumab"), ("达雷木单抗", "daratumumab"), ("泊马度胺", "pomalidomide"), ("伊莎佐米", "ixazomib"),
])
def test_names_as_ehrs_write_them_find_the_catalog_agent(text, agent):
    assert agent_by_text(text, load_catalog()).name == agent


def test_a_medication_is_named_by_its_ingredient_when_its_code_is_local():
    medication = {"resourceType": "Medication", "id": "m1", "code": {"coding": [{"system": "urn:oid:1.2.3", "code": "X9"}]},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1721947"}]}}]}
    given = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed", **subject(),
             "medicationReference": {"reference": "Medication/m1"}, "effectiveDateTime": "2025-01-10"}
    assert read(bundle(medication, given)).lines[0].agents == ("daratumumab",)


def test_a_reference_to_a_medication_not_in_the_bundle_is_named_by_its_display():
    given = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed", **subject(),
             "medicationReference": {"reference": "Medication/elsewhere", "display": "Carfilzomib 60 MG Injection"},
             "effectiveDateTime": "2025-01-10"}
    assert read(bundle(given)).lines[0].agents == ("carfilzomib",)


def test_a_site_maps_its_ndc_and_local_codes_in_its_policy():
    # a made-up NDC: the policy, not the number, says what it is
    coded = {"coding": [{"system": NDC, "code": "00000-0000-01"}]}
    assert read(bundle(administration("a1", coded, "2025-01-10"))).lines[0].agents == (f"{NDC}|00000-0000-01",)
    mapped = read(bundle(administration("a1", coded, "2025-01-10")), {"codes": {f"{NDC}|00000-0000-01": "isatuximab"}})
    assert mapped.lines[0].agents == ("isatuximab",)
    with pytest.raises(InputError, match="'nothing' is not an agent in the catalog"):
        read(bundle(), {"codes": {f"{NDC}|1": "nothing"}})


def test_a_code_with_no_name_may_be_anything_and_stays_unknown():
    coded = {"coding": [{"system": "urn:oid:1.2.3", "code": "X9"}]}
    imported = read(bundle(administration("a1", coded, "2025-01-10")))
    assert imported.lines[0].agents == ("urn:oid:1.2.3|X9",) and imported.not_therapy == ()


def test_an_ordinary_drug_is_never_a_line_and_is_noted_once():
    imported = read(bundle(statement("s1", "Atorvastatin 20 MG Oral Tablet", "2017-01-01", status="stopped"),
                           statement("s2", "Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet", "2018-03-01", "2018-03-10"),
                           statement("s3", "lenalidomide", "2024-01-01", "2024-06-01")))
    assert [line.agents for line in imported.lines] == [("lenalidomide",)]
    assert [name for name, _, _ in imported.not_therapy] == ["Atorvastatin 20 MG Oral Tablet",
                                                            "Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet"]
    assert imported.warnings == ("2 other drug(s), not in the catalog and with nothing antineoplastic in their codes or"
                                 " names, are not anti-myeloma therapy (never a line): Atorvastatin 20 MG Oral Tablet;"
                                 " Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet; each is listed under"
                                 " derived.not_anti_myeloma_therapy",)


def test_a_record_of_a_type_never_read_is_not_used_whatever_its_defects():
    draft = {"resourceType": "NutritionOrder", "id": "n1", "status": "draft", "patient": {"reference": "Patient/p1"},
             "dateTime": "2024-01-01"}  # no intent: not valid FHIR, and never read
    imported = read(bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"), draft))
    assert imported.lines[0].agents == ("lenalidomide",)
    assert imported.not_used == ("NutritionOrder/n1: mmsequence does not read NutritionOrder resources",)


def test_an_observation_the_site_does_not_map_is_not_used_but_a_mapped_one_is_validated():
    unmapped = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": [
        {"system": "http://loinc.org", "code": "8867-4"}]}, **subject(), "effectiveDateTime": "not a date"}
    assert read(bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"), unmapped)).not_used == (
        "Observation/o1: its code is not one the site policy maps under observations",)
    mapped = {**unmapped, "code": {"coding": [{"system": "http://loinc.org", "code": "97509-4"}]}}
    with pytest.raises(InputError, match=r"entry\[3\]\.resource\.effectiveDateTime"):
        read(bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"), mapped))


def test_a_defect_in_a_drug_record_refuses_the_record_naming_the_field():
    broken = {"resourceType": "MedicationStatement", "id": "bad", "status": "completed", **subject()}
    with pytest.raises(InputError) as error:
        read(bundle(broken))
    assert error.value.problems[0].startswith("entry[2].resource")


def test_an_ordinary_drug_without_a_date_is_skipped_but_a_myeloma_drug_without_one_refuses():
    undated = {"resourceType": "MedicationRequest", "id": "r1", "status": "completed", "intent": "order", **subject(),
               "medicationCodeableConcept": {"text": "Atorvastatin 20 MG Oral Tablet"}}
    assert read(bundle(undated)).not_used == ("MedicationRequest/r1: Atorvastatin 20 MG Oral Tablet: a drug that is not"
                                              " anti-myeloma therapy, without a date",)
    acyclovir = {**undated, "id": "r2", "medicationCodeableConcept": {"text": "acyclovir"}, "authoredOn": "2025-13-01"}
    assert read(bundle(acyclovir)).warnings == ("entry[2] (MedicationRequest): left out, not valid FHIR (DateTime value"
                                                " string does not match spec regex.); it says nothing about myeloma therapy",)
    with pytest.raises(InputError, match="authoredOn: is required"):
        read(bundle({**undated, "medicationCodeableConcept": {"text": "carfilzomib"}}))
    with pytest.raises(InputError, match="authoredOn: DateTime value string does not match"):
        read(bundle({**acyclovir, "medicationCodeableConcept": {"text": "carfilzomib"}}))


def test_an_order_is_read_through_its_administrations():
    order = {"resourceType": "MedicationRequest", "id": "r1", "status": "completed", "intent": "order", **subject(),
             "medicationCodeableConcept": {"text": "teclistamab"},
             "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2025-01-01", "end": "2025-03-31"}}}}]}
    given = [administration(f"a{i}", "teclistamab", day) for i, day in enumerate(["2025-01-01", "2025-01-08", "2025-03-05"])]
    held = administration("h", "teclistamab", "2025-03-12", status="not-done")
    imported = read(bundle(order, *given, held))
    assert [(str(line.start), str(line.end)) for line in imported.lines] == [("2025-01-01", "2025-03-05")]
    assert "MedicationRequest/r1: the order for teclistamab (2025-01-01 to 2025-03-31) is read through its 3" \
           " administration(s) given; the last dose is 2025-03-05 (MedicationAdministration/a2)" in imported.warnings


def test_every_conventional_drug_with_a_chinese_name_names_its_source():
    catalog = load_catalog()
    chinese = [a for a in catalog.agents if any("\u4e00" <= ch <= "\u9fff" for s in a.synonyms for ch in s)]
    assert {a.name for a in chinese if a.modality == "conventional"} == {
        "bortezomib", "carfilzomib", "ixazomib", "lenalidomide", "thalidomide", "pomalidomide", "dexamethasone",
        "daratumumab", "isatuximab", "elotuzumab", "melphalan", "cyclophosphamide"}
    chinese_sources = ("cn-regimen-names", "cn-mm-guideline-2020", "msd-manual-zh", "guidance-notes-agents", "nmpa-car-t")
    assert all(any(s in chinese_sources for s in a.sources) for a in chinese)
