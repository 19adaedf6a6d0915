"""Real hospital records: public Synthea R4 bundles, and a myeloma chart built on one of them.

None of the Synthea patients has myeloma: each is "not assessed", with no line of therapy and a
note list a person reads. The chart of tests/real_chart.py reads as a clinician reads it.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys

import pytest

from mmsequence import Evaluator, InputError, evaluate
from mmsequence.policy import load_policy, policy_from_mapping
from mmsequence.render import to_text

from .real_chart import DATA, LAST_TECLISTAMAB, LOCAL, POLICY, myeloma_chart, synthea

BUNDLES = sorted(DATA.glob("*.json.gz"))
SPEC = DATA.parent / "fhir-spec"
DIED = ("Alejandro_Riojas", "Fletcher_Hyatt")
#: The bundles whose drugs are all ordinary (no chemotherapy for another cancer).
ORDINARY = [p for p in BUNDLES if not p.name.startswith("Fletcher_Hyatt")]
AS_OF = datetime.date(2024, 3, 15)


def test_the_public_subset_is_the_one_its_readme_describes():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert len(BUNDLES) == 6 and "25ac8089f0464b8673c7669509dc0bb8f4883773" in readme
    assert all(p.name.split("_")[0] + "_" + p.name.split("_")[1] in readme for p in BUNDLES)


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name.split("_")[1])
def test_a_patient_without_myeloma_is_not_assessed_with_one_action_and_short_notes(path):
    assessment = evaluate(synthea(path), as_of=AS_OF)
    gate = assessment.to_dict()["myeloma_gate"]
    assert gate["state"] == "not-assessed"
    assert gate["basis"] == ("death" if path.name.startswith(DIED) else "no-diagnosis")
    assert assessment.candidates == ()
    assert assessment.course.prior_lines == 0 and assessment.derived["fhir"]["lines"] == []
    assert [a.code for a in assessment.actions] == ["check-death" if gate["basis"] == "death" else "record-myeloma-diagnosis"]
    assert len(assessment.warnings) <= 20
    counted = re.match(r"not used \((\d+) records", assessment.warnings[0])
    assert counted and int(counted[1]) == len(assessment.derived["fhir"]["not_used"]) > 60
    text = to_text(assessment)
    assert len(text.splitlines()) <= 40 and "Best" not in text
    assert len(to_text(assessment, verbose=True).splitlines()) > len(assessment.derived["fhir"]["not_used"])


@pytest.mark.parametrize("path", ORDINARY, ids=lambda p: p.name.split("_")[1])
def test_ordinary_drugs_never_make_a_line_even_when_the_gate_is_off(path):
    assessment = evaluate(synthea(path), as_of=AS_OF, myeloma_gate=False)
    assert assessment.gate.basis == "caller"
    assert assessment.course.prior_lines == 0 and assessment.course.unknown == ()
    assert all(a.code != "classify-agent" for a in assessment.actions)


def test_chemotherapy_for_another_cancer_stays_visible_when_the_gate_is_off():
    """Docetaxel and paclitaxel (INN stem -taxel) are not in the catalog: unknown agents, never ignored."""
    assessment = evaluate(synthea(DATA / "Fletcher_Hyatt_fe0562b5-f517-4951-8366-32fdab088930.json.gz"),
                          as_of=AS_OF, myeloma_gate=False)
    unknown = {ref["agent"] for ref in assessment.course.unknown_refs()}
    assert unknown == {"1 ML DOCEtaxel 20 MG/ML Injection", "PACLitaxel 100 MG Injection"}
    assert {c.verdict for c in assessment.candidates} == {"indeterminate"}


# --- a myeloma chart built on a real record -----------------------------------------------------

@pytest.fixture(scope="module")
def site() -> Evaluator:
    return Evaluator(policy_from_mapping(POLICY, "site policy", load_policy()))


@pytest.fixture(scope="module")
def chart(site):
    return site.evaluate(myeloma_chart(), as_of=AS_OF)


def test_the_chart_has_three_lines_as_the_clinician_wrote_them(chart):
    history = chart.course.history
    assert [(line.agents, str(line.start), str(line.end), line.stop_reason) for line in history.lines] == [
        (("daratumumab", "lenalidomide", "dexamethasone"), "2019-04-01", "2021-05-31", "progression"),
        (("carfilzomib", "pomalidomide", "dexamethasone"), "2021-06-15", "2023-08-31", "progression"),
        (("teclistamab",), "2023-09-15", LAST_TECLISTAMAB, "progression"),  # progression recorded 2024-02-20
    ]
    assert [line["display"] for line in chart.derived["lines"]] == ["line 1 (DRd)", "line 2 (KPd)", "line 3 (teclistamab)"]
    assert chart.gate.basis == "diagnosis" and chart.gate.records == ("Condition/mm",)


def test_the_chart_reads_exposures_and_the_last_dose_from_what_was_given(chart):
    derived = chart.derived
    assert [e["display"] for e in derived["tcrt_exposures"]] == ["teclistamab (line 3)"]
    assert derived["last_tcrt_dose"]["date"]["recorded"] == LAST_TECLISTAMAB == "2024-02-08"  # not the order's 2024-02-28
    assert (derived["triple_class_refractory"], derived["exposed_bcma"], derived["progression_on_last"]) == ("yes", "yes", "yes")
    assert derived["unknown_agents"] == []
    premedication = next(n for n in derived["not_anti_myeloma_therapy"] if n["drug"] == "dexamethasone")
    assert premedication["role"] == "premedication" and len(premedication["records"]) == 23
    assert "MedicationAdministration/tec-held: not counted as given (status 'not-done')" in chart.warnings
    assert "MedicationAdministration/tec-error: not counted as given (status 'entered-in-error')" in chart.warnings


def test_the_chart_gets_the_verdicts_and_dates_a_clinician_expects(chart):
    wait_ends = datetime.date(2024, 8, 8)  # six months of T-cell recovery after the last teclistamab dose
    verdicts = {c.therapy: (c.verdict, c.then, c.earliest_date) for c in chart.candidates}
    assert verdicts == {
        "talquetamab": ("wait", "caution", wait_ends),
        "elranatamab": ("wait", "caution", wait_ends),
        "linvoseltamab": ("wait", "caution", wait_ends),
        "ciltacabtagene autoleucel": ("wait", "indeterminate", wait_ends),
        "idecabtagene vicleucel": ("wait", "indeterminate", wait_ends),
        "teclistamab": ("avoid", None, wait_ends),
    }
    assert chart.candidates[0].therapy == "talquetamab"  # the untouched target ranks first
    assert "extended.refractory-retreatment" in [f.rule for f in chart.candidate("teclistamab").findings]
    assert [a.code for a in chart.actions] == ["record-car-t-eligibility"]
    assert len(chart.warnings) <= 20


def test_the_chart_notes_group_what_is_not_therapy(chart):
    other = next(w for w in chart.warnings if w.startswith("4 other drug(s)"))
    assert "Hydrochlorothiazide 25 MG" in other and "Fexofenadine hydrochloride 60 MG Oral Tablet" in other
    assert not any("Hydrochlorothiazide" in summary for summary in chart.course.line_summaries())


def test_a_local_code_the_site_does_not_map_leaves_the_verdicts_uncertain():
    assessment = evaluate(myeloma_chart(), as_of=AS_OF)
    assert [ref["agent"] for ref in assessment.course.unknown_refs()] == [f"{LOCAL}|KYP-60-VIAL"]
    assert [a.code for a in assessment.actions] == ["record-car-t-eligibility", "classify-agent"]
    assert "indeterminate" in {c.verdict for c in assessment.candidates}


# --- the FHIR specification's own medication examples -------------------------------------------

def test_the_specifications_medication_examples_are_read_not_refused():
    bundle = json.loads((SPEC / "medication-examples.json").read_text(encoding="utf-8"))
    assert evaluate(bundle, as_of=AS_OF).gate.basis == "no-diagnosis"
    assessment = evaluate(bundle, as_of=AS_OF, myeloma_gate=False)
    others = {n["drug"]: n["role"] for n in assessment.derived["not_anti_myeloma_therapy"]}
    assert others["potassium chloride"] == "supportive care"  # a Medication with ingredients and no code
    assert others["vancomycin"] == "supportive care" and others["oxycodone"] == "supportive care"
    assert others["Azithromycin 250mg capsule (product)"].startswith("another drug")
    # alemtuzumab (INN stem -mab) is not catalogued: an unknown agent that makes the verdicts uncertain
    assert [ref["agent"] for ref in assessment.course.unknown_refs()] == ["Alemtuzumab 10mg/ml (Lemtrada)"]
    assert "MedicationAdministration/medadmin0303: not counted as given (status 'entered-in-error')" not in assessment.warnings


# --- CDS Hooks: a patient not assessed gets no option ---------------------------------------------

def test_a_patient_not_assessed_gets_no_best_option_card_and_no_order_verdict():
    from mmsequence.catalog import load_catalog
    from mmsequence.service.cards import order_cards, patient_view_cards, response
    from mmsequence.service.hooks import Order

    assessment = evaluate(synthea(DATA / "Stephen_McLaughlin_7735ab79-6ac8-4b81-9936-f7ddabd18751.json.gz"), as_of=AS_OF)
    card, *others = response(patient_view_cards(assessment, "h"))["cards"]
    assert card["summary"] == "TCRT sequencing: not assessed" and card["indicator"] == "info"
    assert all("Best" not in other["summary"] for other in others)
    (data,) = others  # its problems are shown, with no options for them to change
    assert data["summary"].startswith("Check the record: ") and "options" not in data["summary"]
    assert "Record the multiple myeloma diagnosis" in card["detail"] and "Best" not in card["detail"]
    draft = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
             "medicationCodeableConcept": {"text": "Elrexfio"}}
    [order_card] = response(order_cards(assessment, [Order("elranatamab", draft)], load_catalog(), "h"))["cards"]
    assert order_card["summary"] == "TCRT sequencing: not assessed"


# --- the command line and the policy --------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmsequence.cli", *args], capture_output=True, text=True, timeout=120)


def test_the_command_line_turns_the_gate_off_and_lists_every_record_with_verbose(tmp_path):
    path = tmp_path / "record.json"
    path.write_text(json.dumps(synthea(DATA / "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json.gz")))
    gated = json.loads(_cli("evaluate", str(path), "--as-of", "2024-03-15").stdout)
    assert gated["myeloma_gate"]["state"] == "not-assessed" and gated["candidates"] == []
    opened = json.loads(_cli("evaluate", str(path), "--as-of", "2024-03-15", "--no-myeloma-gate").stdout)
    assert opened["myeloma_gate"]["basis"] == "caller" and opened["candidates"]
    short = _cli("evaluate", str(path), "--as-of", "2024-03-15", "--format", "text").stdout
    full = _cli("evaluate", str(path), "--as-of", "2024-03-15", "--format", "text", "--verbose").stdout
    assert "Not assessed: the record holds no multiple myeloma diagnosis" in short and "Records not used:" not in short
    assert len(full.splitlines()) - len(short.splitlines()) == len(gated["derived"]["fhir"]["not_used"]) + 2


def test_the_site_policy_turns_the_gate_off_explicitly():
    policy = policy_from_mapping({"myeloma_gate": False}, "site policy", load_policy())
    assert policy.to_dict()["myeloma_gate"] is False
    record = synthea(DATA / "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json.gz")
    assert Evaluator(policy).evaluate(record, as_of=AS_OF).gate.basis == "caller"
    with pytest.raises(InputError, match="myeloma_gate: 'no' is not true or false"):
        policy_from_mapping({"myeloma_gate": "no"}, "site policy", load_policy())


@pytest.mark.parametrize("path", [DATA / "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json.gz",
                                  DATA / "Alejandro_Riojas_a9fcc685-c7a2-4474-bf25-26c8fe4b48f9.json.gz"],
                         ids=["no-diagnosis", "death"])
def test_the_reason_not_to_assess_is_said_in_the_readers_language(path):
    assessment = evaluate(synthea(path), as_of=AS_OF)
    english = " ".join(to_text(assessment, width=1000).split())
    assert f"Not assessed: {assessment.gate.reason}." in english
    chinese = to_text(assessment, language="zh-CN")
    assert "未评估：" in chinese and assessment.gate.reason not in chinese
