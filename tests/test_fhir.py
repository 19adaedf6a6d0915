"""FHIR R4B Bundles to patient-history documents: every resource type, dates, lines, problems."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsequence import InputError, PartialDate, evaluate
from mmsequence.catalog import load_catalog
from mmsequence.fhir import read_bundle

from .fhir_builders import ATC, RXNORM, administration, bundle, line_number, myeloma, procedure, statement, subject

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "fhir"


def read(b: dict, **options):
    """The history a Bundle reads as, drugs named through the shipped catalog."""
    return read_bundle(b, load_catalog(), **options)


def lines(b: dict) -> list[dict]:
    return read(b).to_document()["lines"]


def problems(b: dict, **options) -> list[str]:
    with pytest.raises(InputError) as caught:
        read(b, **options)
    return list(caught.value.problems)


# --- drugs: each resource type, by code and by text ------------------------------------------

def test_administration_matched_by_atc_code_records_system_version_and_code():
    tec = {"coding": [{"system": ATC, "version": "2024 DE", "code": "L01FX24"}]}
    imported = read(bundle(administration("a1", tec, "2025-03-01")))
    assert imported.to_document()["lines"] == [
        {"agents": ["teclistamab"], "start": "2025-03-01", "end": "2025-03-01", "comment": imported.lines[0].origin.reason}
    ]
    assert imported.lines[0].origin.records[0].to_dict() == {
        "name": "teclistamab", "resource": "MedicationAdministration/a1",
        "matched_by": {"code": {"system": ATC, "version": "2024 DE", "code": "L01FX24"}},
    }


def test_rxnorm_code_from_a_referenced_medication_resource():
    medication = {"resourceType": "Medication", "id": "m1",
                  "code": {"coding": [{"system": RXNORM, "code": "1721947", "display": "daratumumab"}]}}
    use = administration("a1", "x", "2024-01-10")
    del use["medicationCodeableConcept"]
    use["medicationReference"] = {"reference": "Medication/m1"}
    imported = read(bundle(medication, use))
    assert imported.to_document()["lines"][0]["agents"] == ["daratumumab"]
    assert imported.warnings == ()


def test_contained_medication_is_resolved():
    use = statement("s1", "x", "2024-01-10", "2024-05-01")
    del use["medicationCodeableConcept"]
    use["medicationReference"] = {"reference": "#med"}
    use["contained"] = [{"resourceType": "Medication", "id": "med", "code": {"text": "Talvey 2 mg/mL"}}]
    assert lines(bundle(use))[0]["agents"] == ["talquetamab"]


@pytest.mark.parametrize("text, agent", [
    ("Tecvayli 10 mg/mL solution for injection", "teclistamab"),
    ("teclistamab-cqyv 90 MG in 1 ML Injection [Tecvayli]", "teclistamab"),
    ("Darzalex Faspro 1800 mg", "daratumumab"),
    ("Infusion of cilta-cel", "ciltacabtagene autoleucel"),
    ("ELREXFIO 44 mg", "elranatamab"),
])
def test_text_only_drugs_match_through_catalog_synonyms(text, agent):
    assert lines(bundle(statement("s1", text, "2024-01-10", "2024-05-01")))[0]["agents"] == [agent]


def test_medication_request_active_is_ongoing_and_draft_is_not_counted():
    active = {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
              "medicationCodeableConcept": {"text": "talquetamab"}, **subject(), "authoredOn": "2026-04-02"}
    draft = {**active, "id": "r2", "status": "draft", "medicationCodeableConcept": {"text": "elranatamab"}}
    imported = read(bundle(active, draft))
    assert imported.to_document()["lines"] == [
        {"agents": ["talquetamab"], "start": "2026-04-02", "comment": imported.lines[0].origin.reason}
    ]
    assert imported.warnings == ("MedicationRequest/r2: not counted as given (status 'draft')",)


def test_active_statement_is_ongoing_and_a_completed_one_without_end_counts_as_ongoing_with_a_warning():
    imported = read(bundle(statement("s1", "teclistamab", "2025-01-10")))
    assert "end" not in imported.to_document()["lines"][0]
    assert imported.warnings == (
        "MedicationStatement/s1: teclistamab: no end date recorded; counted as ongoing (the latest possible last dose)",
    )


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_administration_not_given_is_listed_not_counted(status):
    imported = read(bundle(administration("a1", "teclistamab", "2025-03-01", status=status)))
    assert imported.to_document()["lines"] == []
    assert imported.warnings == (f"MedicationAdministration/a1: not counted as given (status {status!r})",)


def test_unknown_drug_is_kept_so_the_safety_rule_fires():
    b = bundle(statement("s1", "Mystery-mab 5 mg", "2025-01-10", "2025-02-10"))
    assessment = evaluate(b)
    assert ("MedicationStatement/s1: 'Mystery-mab 5 mg' is not in the agent catalog; kept as an unknown agent"
            " (mysterymab: INN stem -mab (monoclonal antibody))") in assessment.warnings
    assert {c.verdict for c in assessment.candidates} == {"indeterminate"}
    assert all("safety.unknown-agent" in [f.rule for f in c.findings] for c in assessment.candidates)


def test_supportive_care_is_not_a_line():
    imported = read(bundle(administration("z1", "Zometa 4 mg", "2025-01-10")))
    assert imported.to_document()["lines"] == []
    assert imported.not_therapy == (("zoledronic acid", "supportive care", "MedicationAdministration/z1"),)
    assert imported.warnings == ()


def test_an_uncatalogued_drug_with_a_supportive_atc_code_is_supportive_care_with_a_note():
    ranitidine = {"coding": [{"system": ATC, "code": "A02BA02", "display": "ranitidine"}]}
    imported = read(bundle(administration("r1", ranitidine, "2025-01-10")))
    assert imported.lines == ()
    assert imported.not_therapy == (("ranitidine", "supportive care (by its ATC code A02BA02)", "MedicationAdministration/r1"),)


def test_an_uncatalogued_antineoplastic_atc_code_stays_an_unknown_drug():
    arsenic = {"coding": [{"system": ATC, "code": "L01XX27", "display": "arsenic trioxide"}]}
    imported = read(bundle(administration("x1", arsenic, "2025-01-10")))
    assert imported.lines[0].agents == ("arsenic trioxide",)
    assert "MedicationAdministration/x1: 'arsenic trioxide' is not in the agent catalog; kept as an unknown agent" in (
        imported.warnings
    )


# --- procedures, requests, care plans, conditions ----------------------------------------------

def test_car_t_infusion_procedure_is_a_line_with_its_product_from_used_code():
    infusion = procedure("c1", "CAR-T cell infusion", "2024-05-02", usedCode=[{"text": "Abecma"}])
    assert lines(bundle(infusion))[0] | {"comment": ""} == {
        "agents": ["idecabtagene vicleucel"], "start": "2024-05-02", "end": "2024-05-02", "comment": ""
    }


def test_car_t_infusion_of_an_unknown_product_is_kept_as_unknown():
    imported = read(bundle(procedure("c1", "CAR-T cell infusion", "2024-05-02")))
    assert imported.to_document()["lines"][0]["agents"] == ["CAR-T cell infusion"]
    assert "Procedure/c1: CAR-T product 'CAR-T cell infusion' is not in the agent catalog; kept as an unknown agent" in imported.warnings


@pytest.mark.parametrize("status, outcome, expected", [
    ("completed", None, "done"),
    ("completed", {"text": "Unsuccessful: insufficient CD3+ cells"}, "failed"),
    ("not-done", None, "cancelled"),
    ("preparation", None, "planned"),
])
def test_leukapheresis_procedure(status, outcome, expected):
    extra = {"outcome": outcome} if outcome else {}
    document = read(bundle(procedure("ap", "Leukapheresis for CAR-T", "2025-02-03", status=status, **extra))).to_document()
    assert document["apheresis"] == [{"status": expected, "date": "2025-02-03", "comment": "Procedure/ap"}]


def test_plasmapheresis_is_not_a_leukapheresis():
    imported = read(bundle(procedure("pe", "Plasmapheresis", "2025-02-03")))
    assert "apheresis" not in imported.to_document()
    assert imported.not_used == ("Procedure/pe: neither a CAR-T infusion, a transplant nor a leukapheresis",)
    assert imported.warnings == ("not used (1 record that says nothing about myeloma therapy): 1 Procedure;"
                                 " each is listed under derived.fhir.not_used (--verbose)",)


def test_planned_apheresis_from_a_service_request_keeps_a_partial_date():
    request = {"resourceType": "ServiceRequest", "id": "sr", "status": "active", "intent": "order",
               "code": {"text": "Leukapheresis for CAR-T"}, **subject(), "occurrenceDateTime": "2026-07"}
    assert read(bundle(request)).to_document()["apheresis"] == [
        {"status": "planned", "date": "2026-07", "comment": "ServiceRequest/sr"}
    ]


def test_planned_apheresis_from_a_care_plan_activity():
    plan = {"resourceType": "CarePlan", "id": "cp", "status": "active", "intent": "plan", **subject(),
            "activity": [{"detail": {"status": "scheduled", "code": {"text": "Leukapheresis"},
                                     "scheduledTiming": {"event": ["2026-08-04T08:00:00Z"]}}},
                         {"detail": {"status": "scheduled", "code": {"text": "Echocardiogram"}}}]}
    assert read(bundle(plan)).to_document()["apheresis"] == [
        {"status": "planned", "date": "2026-08-04", "comment": "CarePlan/cp activity[0]"}
    ]


def test_apheresis_records_are_put_in_date_order():
    done = procedure("ap1", "T-cell leukapheresis", "2025-02-03", outcome={"text": "failed"})
    again = {"resourceType": "ServiceRequest", "id": "sr", "status": "active", "intent": "order",
             "code": {"text": "Leukapheresis"}, **subject(), "occurrenceDateTime": "2026-07-01"}
    document = read(bundle(again, done)).to_document()
    assert [a["status"] for a in document["apheresis"]] == ["failed", "planned"]


def test_no_myeloma_diagnosis_is_not_assessed_unless_the_caller_says_so():
    b = bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"), diagnosis=False)
    assessment = evaluate(b)
    assert assessment.to_dict()["myeloma_gate"]["state"] == "not-assessed"
    assert assessment.gate.basis == "no-diagnosis"
    assert assessment.candidates == () and assessment.course.prior_lines == 0
    assert [a.code for a in assessment.actions] == ["record-myeloma-diagnosis"]
    assessed = evaluate(b, myeloma_gate=False)
    assert assessed.gate.basis == "caller" and assessed.candidates and assessed.course.prior_lines == 1


def test_a_recorded_death_is_not_assessed():
    b = bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"))
    b["entry"][0]["resource"]["deceasedDateTime"] = "2025-02-01"
    assessment = evaluate(b)
    assert (assessment.gate.basis, assessment.gate.records) == ("death", ("Patient/p1: deceased 2025-02-01",))
    assert assessment.candidates == () and [a.code for a in assessment.actions] == ["check-death"]
    assert evaluate(b, myeloma_gate=False).candidates


def test_myeloma_by_text_and_other_conditions_listed():
    text_dx = {"resourceType": "Condition", "id": "dx2", **subject(), "code": {"text": "Plasma cell myeloma"}}
    other = {"resourceType": "Condition", "id": "htn", **subject(), "code": {"text": "Hypertension"}}
    imported = read(bundle(text_dx, other, diagnosis=False))
    assert imported.diagnoses == ("Condition/dx2",)
    assert imported.not_used == ("Condition/htn: not a multiple myeloma diagnosis",)


def test_refuted_myeloma_does_not_count():
    refuted = myeloma("dx9")
    refuted["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    imported = read(bundle(refuted, diagnosis=False))
    assert imported.diagnoses == ()
    assert imported.warnings == ("Condition/dx9: multiple myeloma diagnosis not used (verification refuted)",)


def test_unmapped_resources_are_listed_with_their_id():
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "M-protein"}}
    unused_medication = {"resourceType": "Medication", "id": "m9", "code": {"text": "ondansetron"}}
    imported = read(bundle(observation, unused_medication))
    assert imported.not_used == (
        "Observation/o1: its code is not one the site policy maps under observations",
        "Medication/m9: no administration, statement or request refers to it",
    )
    assert imported.warnings == ("not used (2 records that say nothing about myeloma therapy): 1 Medication,"
                                 " 1 Observation; each is listed under derived.fhir.not_used (--verbose)",)


# --- dates ------------------------------------------------------------------------------------

dates = st.dates(min_value=__import__("datetime").date(1990, 1, 1), max_value=__import__("datetime").date(2025, 12, 31))


@settings(max_examples=60, deadline=None)
@given(day=dates, precision=st.sampled_from(["year", "month", "day", "dateTime"]))
def test_partial_dates_keep_their_precision(day, precision):
    text = {"year": day.isoformat()[:4], "month": day.isoformat()[:7], "day": day.isoformat(),
            "dateTime": f"{day.isoformat()}T23:30:00-05:00"}[precision]
    [line] = lines(bundle(statement("s1", "lenalidomide", text, text)))
    assert line["start"] == line["end"] == text[:10]


def test_as_of_is_the_bundle_timestamp_date_in_its_own_time_zone():
    assert read(bundle(timestamp="2026-01-10T23:30:00-05:00")).to_document()["as_of"] == "2026-01-10"
    assert "as_of" not in read(bundle(timestamp=None)).to_document()


# --- lines of therapy ---------------------------------------------------------------------------

def test_regimen_new_agent_and_restart_after_a_pause():
    b = bundle(
        statement("v", "bortezomib", "2020-01-01", "2020-06-30"),
        statement("r", "lenalidomide", "2020-01-20", "2020-12-31"),
        statement("d", "dexamethasone", "2020-01-01", "2020-12-31"),
        statement("r2", "lenalidomide", "2021-02-15", "2021-08-01"),   # continues (< 90 days pause)
        statement("dex2", "dexamethasone", "2021-09-01", "2021-09-30"),  # a steroid joins the line
        statement("p", "pomalidomide", "2022-01-10", "2022-06-01"),   # new agent: new line
        statement("p2", "pomalidomide", "2023-01-10", "2023-03-01"),  # restart after > 90 days: new line
    )
    imported = read(b)
    assert [(ln["agents"], ln["start"], ln["end"]) for ln in imported.to_document()["lines"]] == [
        (["bortezomib", "dexamethasone", "lenalidomide"], "2020-01-01", "2021-09-30"),
        (["pomalidomide"], "2022-01-10", "2022-06-01"),
        (["pomalidomide"], "2023-01-10", "2023-03-01"),
    ]
    assert [s.reason.split(";")[0] for s in (line.origin for line in imported.lines)] == [
        "derived: line 1: the first anti-myeloma therapy recorded (bortezomib, 2020-01-01)",
        "derived: line 2: the plan changed: pomalidomide started 2022-01-10, after the regimen of line 1 was set",
        "derived: line 3: treatment resumed: pomalidomide restarted 2023-01-10, 223 days after the last dose"
        " (a planned pause ended)",
    ]
    assert {line.origin.method for line in imported.lines} == {"derived"}


def test_car_t_is_a_line_of_its_own_and_starts_a_new_one_after_it():
    b = bundle(
        statement("d", "daratumumab", "2022-01-01", "2023-06-01"),
        procedure("c", "Carvykti infusion", "2023-06-10"),
        statement("d2", "daratumumab", "2023-07-01", "2023-09-01"),
    )
    assert [ln["agents"] for ln in lines(b)] == [["daratumumab"], ["ciltacabtagene autoleucel"], ["daratumumab"]]


def test_dexamethasone_after_a_car_t_infusion_is_crs_management_not_a_line():
    imported = read(bundle(procedure("c", "Carvykti infusion", "2023-06-10"),
                                  administration("dex", "dexamethasone", "2023-06-12")))
    assert [ln["agents"] for ln in imported.to_document()["lines"]] == [["ciltacabtagene autoleucel"]]
    assert imported.not_therapy == (("dexamethasone", "CRS or ICANS management", "MedicationAdministration/dex"),)


def test_corticosteroid_alone_outside_any_line_is_not_counted():
    imported = read(bundle(statement("v", "bortezomib", "2020-01-01", "2020-06-30"),
                           administration("dex", "dexamethasone", "2022-03-12")))
    assert [ln["agents"] for ln in imported.to_document()["lines"]] == [["bortezomib"]]
    assert imported.not_therapy == (
        ("dexamethasone", "a corticosteroid alone, outside any line of therapy", "MedicationAdministration/dex"),)


def test_explicit_line_numbers_from_the_extension():
    b = bundle(
        statement("v", "bortezomib", "2019-03-01", "2019-08-30", **line_number(1)),
        statement("m", "melphalan", "2019-10-15", "2019-10-15", **line_number(1)),
        statement("t", "talquetamab", "2024-06-03", "2025-11-20", **line_number(3)),
    )
    imported = read(b)
    assert [ln["agents"] for ln in imported.to_document()["lines"]] == [["bortezomib", "melphalan"], ["talquetamab"]]
    assert [(s.method, s.reason) for s in (line.origin for line in imported.lines)] == [
        ("extension", "extension: the site recorded line 1"), ("extension", "extension: the site recorded line 3"),
    ]
    assert imported.warnings == (
        "line-of-therapy extension: no resource in the bundle for line 2; the history holds only the lines present",
    )


def test_explicit_lines_out_of_order_are_an_error():
    b = bundle(statement("a", "bortezomib", "2022-01-01", "2022-05-01", **line_number(1)),
               statement("b", "talquetamab", "2021-01-01", "2021-05-01", **line_number(2)))
    assert problems(b) == [
        "line 2 (MedicationStatement/b) starts 2021-01-01, before line 1 (MedicationStatement/a) starts 2022-01-01"
    ]


def test_explicit_line_mixing_car_t_with_other_drugs_is_an_error():
    b = bundle(statement("a", "bortezomib", "2022-01-01", "2022-05-01", **line_number(2)),
               procedure("c", "Abecma infusion", "2022-06-01", **line_number(2)))
    assert problems(b)[0].startswith("line 2 (MedicationStatement/a, Procedure/c): a CAR-T infusion must be a line of its own")


def test_bad_line_number_extension_names_the_field():
    b = bundle(statement("a", "bortezomib", "2022-01-01", "2022-05-01",
                         extension=[{"url": "urn:mmsequence:fhir:line-of-therapy", "valueString": "2"}]))
    assert problems(b) == ["entry[2].resource.extension[0]: a line-of-therapy number must be valueInteger"
                           " or valuePositiveInt of at least 1"]


# --- invalid and contradictory input ------------------------------------------------------------

def test_code_and_text_naming_different_drugs_is_an_error():
    tec_code_tal_text = {"coding": [{"system": ATC, "code": "L01FX24"}], "text": "Talvey"}
    assert problems(bundle(administration("a1", tec_code_tal_text, "2025-03-01"))) == [
        "entry[2].resource.medicationCodeableConcept: names more than one drug"
        " (code L01FX24 means teclistamab; text 'Talvey' means talquetamab)"
    ]


def test_a_resource_about_another_patient_is_an_error():
    other = statement("s1", "lenalidomide", "2024-01-01", "2024-06-01")
    other["subject"] = {"reference": "Patient/p2"}
    assert problems(bundle(other)) == [
        "entry[2].resource.subject.reference: 'Patient/p2' is not the bundle's patient (Patient/p1)"
    ]


def test_a_urn_uuid_subject_resolves_through_the_patients_full_url_and_names_the_missing_one_otherwise():
    """Synthea and transaction Bundles say the patient as ``urn:uuid:``, which only an entry's fullUrl
    resolves: with the fullUrl the record reads; without it each such subject is a problem that says so."""
    own = bundle(statement("s1", "lenalidomide", "2024-01-01", "2024-06-01"))
    patient_url = own["entry"][0]["fullUrl"]
    for entry in own["entry"][1:]:
        entry["resource"]["subject"] = {"reference": patient_url}
    assert [line.agents for line in read(own).lines] == [("lenalidomide",)]
    for entry in own["entry"]:
        del entry["fullUrl"]
    assert problems(own) == [
        f"entry[{i}].resource.subject.reference: '{patient_url}' names no entry of the bundle: a urn:uuid reference"
        " names an entry by its fullUrl, and no entry has that fullUrl (the record's patient is Patient/p1)"
        for i in (1, 2)
    ]


def test_patient_in_context_must_be_the_bundle_patient():
    with pytest.raises(InputError, match="'p1' is not the patient in context"):
        read(bundle(), patient_id="p7")


@pytest.mark.parametrize("mutate, expected", [
    (lambda b: b["entry"][2]["resource"].update(effectiveDateTime="2025-13"),
     "entry[2].resource.effectiveDateTime: DateTime value string does not match spec regex."),
    (lambda b: b["entry"][2]["resource"].update(dose="1 mg"), "entry[2].resource.dose: Extra inputs are not permitted"),
    (lambda b: b["entry"][2]["resource"].update(resourceType="Mystery"),
     "entry[2].resource.resourceType: 'Mystery' is not a FHIR R4B resource type"),
    (lambda b: b["entry"][2]["resource"].pop("effectiveDateTime"),
     "entry[2].resource: Expect any of field value from this list ['effectiveDateTime', 'effectivePeriod']."),
    (lambda b: b.update(resourceType="Patient"), "resourceType: expected 'Bundle', got 'Patient'"),
    (lambda b: b["entry"][2]["resource"].update(effectiveDateTime="1850-01-01"),
     "entry[2].resource.effectiveDateTime: '1850-01-01' is not a date"),
])
def test_invalid_input_names_the_field(mutate, expected):
    b = bundle(administration("a1", "teclistamab", "2025-03-01"))
    mutate(b)
    assert expected in problems(b)


def test_statement_without_a_date_is_an_error():
    undated = statement("s1", "teclistamab", "2025-01-01")
    del undated["effectivePeriod"]
    assert problems(bundle(undated)) == ["entry[2].resource.effective[x]: is required to place the drug in time"]


def test_drug_after_as_of_is_reported_by_the_core():
    with pytest.raises(InputError, match=r"lines\[0\]\.start: '2026-07-01' is after as_of 2026-06-01"):
        evaluate(bundle(administration("a1", "teclistamab", "2026-07-01")))


# --- examples and the command line ---------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_examples_evaluate_and_say_how_each_line_was_formed(path):
    assessment = evaluate(path)
    sources = assessment.derived["fhir"]["lines"]
    numbers = {s["line_of_therapy"] for s in sources}
    assert len(numbers) == assessment.derived["prior_lines"] > 0
    assert all(s["method"] in ("derived", "extension") and s["reason"] for s in sources)


def test_coded_example_gives_the_same_verdicts_as_the_json_worked_example():
    fhir = evaluate(EXAMPLES / "coded-drugs.json")
    assert fhir.course.history.not_used == (
        "Observation/m-protein: its code is not one the site policy maps under observations",)
    talquetamab = fhir.candidate("talquetamab")
    assert talquetamab.verdict == "avoid"
    assert {"review.no-bsab-before-apheresis", "review.interval"} <= {f.rule for f in talquetamab.findings}


def test_partial_date_example_waits_for_the_worst_case_day():
    wait = evaluate(EXAMPLES / "partial-dates.json").candidate("talquetamab")
    assert (wait.verdict, wait.earliest_date.isoformat()) == ("wait", "2026-03-30")
    assert "review.interval-uncertain" in [f.rule for f in wait.findings]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmsequence.cli", *args], capture_output=True, text=True, timeout=60)


def test_cli_evaluates_a_bundle_the_same_way_twice():
    first, second = _cli("evaluate", str(EXAMPLES / "text-only.json")), _cli("evaluate", str(EXAMPLES / "text-only.json"))
    assert first.returncode == 0 and first.stdout == second.stdout
    assert json.loads(first.stdout)["derived"]["fhir"]["lines"][1]["method"] == "derived"


def test_cli_bad_bundle_exits_2_with_the_field_and_no_stdout(tmp_path):
    bad = bundle(administration("a1", "teclistamab", "2025-03-01"))
    del bad["entry"][2]["resource"]["subject"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = _cli("evaluate", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "mmsequence: entry[2].resource.subject: Field required\n"


def test_cli_fhir_import_prints_the_document_lines_and_warnings():
    result = _cli("fhir-import", str(EXAMPLES / "coded-drugs.json"))
    imported = json.loads(result.stdout)
    assert result.returncode == 0 and set(imported) == {"document", "lines", "warnings", "not_used"}
    assert imported["not_used"] == ["Observation/m-protein: its code is not one the site policy maps under observations"]
    assert imported["document"]["apheresis"] == [
        {"status": "planned", "date": "2026-07-01", "comment": "ServiceRequest/apheresis-plan"}
    ]


def test_a_site_policy_synonym_maps_a_local_drug_name(tmp_path):
    bundle = json.loads((EXAMPLES / "text-only.json").read_text(encoding="utf-8"))
    texts = [e for e in bundle["entry"] if e["resource"]["resourceType"] in ("MedicationAdministration", "MedicationStatement")]
    assert texts, "the example bundle has medication resources"
    policy = tmp_path / "site.yaml"
    policy.write_text("synonyms: {LOCALDRUG-7: teclistamab}\n")
    resource = texts[0]["resource"]
    resource.pop("medicationReference", None)
    resource["medicationCodeableConcept"] = {"text": "LOCALDRUG-7"}
    without = evaluate(bundle)
    with_site = evaluate(bundle, policy=str(policy))
    assert any("LOCALDRUG-7" in w for w in without.warnings)
    assert not any("LOCALDRUG-7" in w for w in with_site.warnings)


# --- observations the site maps, stop reasons, completeness ----------------------------------------

def _observation(rid: str, code: str, when: str, **value) -> dict:
    system, _, code = code.partition("|")
    return {"resourceType": "Observation", "id": rid, "status": "final", **subject(),
            "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": when, **value}


SITE_CODES = {"disease_status": ("http://loinc.org|97509-4",), "car_t_eligible": ("urn:site|CART-ELIG",),
              "soluble_bcma": ("urn:site|SBCMA",), "bcma_loss": ("urn:site|BCMA-DEL",)}


WORSENED = {"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "271299001"}]}}


def test_mcode_disease_status_progression_gives_the_line_its_progression_date():
    history = read(bundle(statement("k", "carfilzomib", "2024-01-10", "2024-09-01"),
                          _observation("ds", "http://loinc.org|97509-4", "2024-08-20", **WORSENED),
                          statement("t", "teclistamab", "2024-10-01", "2025-03-01")), observations=SITE_CODES)
    assert [(line.agents, line.stop_reason, line.refractory, line.progression) for line in history.lines] == [
        (("carfilzomib",), "progression", None, PartialDate.parse("2024-08-20")), (("teclistamab",), None, None, None)]
    assert history.lines[1].origin.reason.startswith("derived: line 2: progression recorded 2024-08-20 (Observation/ds)")
    # refractory on therapy, decided by the course as for a document
    exposures = evaluate(history, as_of="2025-04-01").course.exposures
    assert [(e.agent.name, e.refractory) for e in exposures] == [("carfilzomib", "yes"), ("teclistamab", "unknown")]


@pytest.mark.parametrize("observed, refractory, stop_reason", [
    ("2024-10-20", "yes", "progression"),  # 49 days after the last dose: within the IMWG 60 days
    ("2024-11-15", "no", None),            # 75 days after: progression off therapy, not refractory
    ("2024-08-25", "yes", "progression"),  # while it was still given
])
def test_a_progression_observation_and_a_document_progression_date_mean_the_same(observed, refractory, stop_reason):
    fhir = read(bundle(statement("k", "carfilzomib", "2024-01-10", "2024-09-01"),
                       _observation("ds", "http://loinc.org|97509-4", observed, **WORSENED),
                       statement("t", "teclistamab", "2024-12-01", "2025-03-01")), observations=SITE_CODES)
    assert (fhir.lines[0].progression, fhir.lines[0].stop_reason) == (PartialDate.parse(observed), stop_reason)
    written = {"patient_id": "p", "lines": [{"agents": ["carfilzomib"], "start": "2024-01-10", "end": "2024-09-01",
                                             "progression": observed},
                                            {"agents": ["teclistamab"], "start": "2024-12-01", "end": "2025-03-01"}]}
    for source in (fhir, written):
        (first, _) = evaluate(source, as_of="2025-04-01").course.exposures
        assert first.refractory == refractory


def test_site_mapped_observations_carry_eligibility_and_biomarkers():
    history = read(bundle(
        _observation("e1", "urn:site|CART-ELIG", "2025-01-01", valueBoolean=True),
        _observation("e2", "urn:site|CART-ELIG", "2025-06-01", valueCodeableConcept={"text": "Not eligible (frailty)"}),
        _observation("s", "urn:site|SBCMA", "2025-06-01", valueQuantity={"value": 512, "unit": "ng/mL"}),
        _observation("b", "urn:site|BCMA-DEL", "2025-06-01", valueCodeableConcept={"text": "Detected"}),
    ), observations=SITE_CODES)
    assert history.car_t_eligible is False
    assert (history.biomarkers.soluble_bcma_ng_ml, history.biomarkers.bcma_loss) == (512.0, True)


def test_a_soluble_bcma_without_its_unit_is_an_error_naming_the_field():
    bad = _observation("s", "urn:site|SBCMA", "2025-06-01", valueQuantity={"value": 512, "unit": "mg"})
    assert problems(bundle(bad), observations=SITE_CODES) == [
        "entry[2].resource.valueQuantity: soluble BCMA needs a value in ng/mL (got 'mg')"]


def test_status_reason_gives_the_stop_reason():
    stopped = statement("k", "carfilzomib", "2024-01-10", "2024-09-01", status="stopped",
                        statusReason=[{"text": "Disease progression"}])
    assert read(bundle(stopped)).lines[0].stop_reason == "progression"


def test_a_searchset_with_a_next_page_is_incomplete_and_an_error():
    b = bundle(statement("k", "carfilzomib", "2024-01-10", "2024-09-01")) | {
        "type": "searchset", "link": [{"relation": "next", "url": "https://ehr/fhir/MedicationStatement?page=2"}]}
    assert problems(b) == ["bundle.link[0]: a next page (https://ehr/fhir/MedicationStatement?page=2) was not read;"
                           " the record is incomplete (read every page and pass them as one Bundle)"]


@pytest.mark.parametrize("entry", [{"resourceType": "Patient"}, "not a list"])
def test_an_entry_that_is_not_a_list_of_entries_is_an_error(entry):
    b = {"resourceType": "Bundle", "type": "collection", "entry": entry}
    assert problems(b)[0].startswith("bundle.entry: expected a list of entries")


def test_a_stem_cell_harvest_starts_nothing_and_a_plain_leukapheresis_is_not_a_t_cell_collection():
    history = read(bundle(procedure("h", "Peripheral blood stem cell collection (apheresis)", "2021-06-05"),
                          procedure("l", "Leukapheresis", "2025-02-03")))
    assert history.apheresis == () and history.lines == ()
    assert history.warnings == (
        "Procedure/h: stem-cell harvest (for a transplant), not a T-cell collection; starts nothing",
        "Procedure/l: leukapheresis that names neither CAR-T, T cells nor a CAR-T product and is not linked to a"
        " CAR-T order; not read as a T-cell collection",
    )


def test_a_leukapheresis_linked_to_a_car_t_order_is_a_t_cell_collection():
    order = {"resourceType": "ServiceRequest", "id": "order", "status": "active", "intent": "order", **subject(),
             "code": {"text": "Carvykti manufacturing"}}
    collection = procedure("l", "Leukapheresis", "2025-02-03", basedOn=[{"reference": "ServiceRequest/order"}])
    history = read(bundle(order, collection))
    assert [(a.status, str(a.date)) for a in history.apheresis] == [("done", "2025-02-03")]
