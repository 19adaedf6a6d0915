"""What a tumor board reads: messages without field paths or raw fact names, lines with their
regimen, actions first, overrides marked, timing apart from the verdict, ``derived`` as data."""

import json
import re
from pathlib import Path

import pytest

from mmsequence import Override, evaluate
from mmsequence._paths import vignettes_dir
from mmsequence.render import to_json, to_text

from .builders import document, line

ROOT = Path(__file__).parents[1]


def _vignette_document(path: Path):
    """A vignette's document: inline, or the path of a document or FHIR Bundle beside it."""
    document = json.loads(path.read_text(encoding="utf-8"))["document"]
    return path.parent / document if isinstance(document, str) else document


DOCUMENTS = {p.stem: _vignette_document(p) for p in sorted(vignettes_dir().glob("*.json"))}
DOCUMENTS |= {p.name: p for p in sorted((ROOT / "examples").glob("*.json")) if p.stem != "invalid"}
#: What a clinician should never read in a message: field paths, fact names, tri-state values quoted.
RAW = re.compile(r"lines\[|apheresis\[|\b[a-z]+_[a-z_]+\b|'(yes|no|unknown)'|\{|\}|\bNone\b|\bnull\b")
KPD = line(["carfilzomib", "pomalidomide", "dexamethasone"], "2023-02-01", "2026-02-19", stop_reason="progression")


def findings(doc):
    assessment = evaluate(doc)
    return [(c, f) for c in assessment.candidates for f in c.findings]


@pytest.mark.parametrize("doc", list(DOCUMENTS.values()), ids=list(DOCUMENTS))
def test_messages_quote_no_field_path_and_no_raw_fact(doc):
    for _candidate, finding in findings(doc):
        assert not RAW.search(finding.message), (finding.rule, finding.message)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", finding.message) if s]
        assert len(sentences) <= 2, (finding.rule, finding.message)
        assert finding.citation not in finding.message


def test_a_line_is_named_by_its_number_and_regimen():
    doc = document(KPD, as_of="2026-03-01", candidates=["talquetamab"])
    (finding,) = evaluate(doc).candidate("talquetamab").findings
    assert finding.rule == "extended.washout"
    assert finding.message == "Last conventional dose: line 2 (KPd) on 2026-02-19. After a 14-day washout, not before 2026-03-05."
    assert finding.facts["washout_from"]["field"] == "lines[1].end"  # the path stays in the structured facts


def test_a_line_without_a_named_regimen_lists_its_agents():
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")
    (finding,) = evaluate(doc).candidate("talquetamab").findings
    assert finding.message.startswith("Last dose of teclistamab (line 2): 2025-12-15.")
    assert evaluate(doc).derived["lines"][0]["display"] == "line 1 (D-VRd)"


def test_refractory_to_another_agent_reads_as_one_sentence_about_it():
    doc = document(line("teclistamab", "2024-01-01", "2025-01-01", refractory=True), candidates=["elranatamab", "teclistamab"])
    messages = {f.rule: f.message for c, f in findings(doc)}
    assert messages["extended.same-target-refractory"].startswith(
        "The disease was refractory to an earlier BCMA therapy: teclistamab (line 2).")
    assert messages["extended.refractory-retreatment"].startswith("The disease was refractory to teclistamab in line 2:")


def test_car_t_after_a_bsab_is_not_called_car_t_first():
    doc = document(line("teclistamab", "2024-01-01", "2025-01-01"), car_t_eligible=True, candidates=["cilta-cel"])
    rules = {f.rule for f in evaluate(doc).candidate("cilta-cel").findings}
    assert "review.car-t-first" not in rules and "review.car-t-before-another-bsab" in rules


def test_bridging_inside_the_interval_is_not_also_called_acceptable():
    doc = document(line("teclistamab", "2025-06-01", "2025-12-15"), as_of="2026-03-01", car_t_eligible=True,
                   apheresis=[{"status": "done", "date": "2026-02-20", "product": "cilta-cel"}])
    talquetamab = evaluate(doc).candidate("talquetamab")
    assert [f.rule for f in talquetamab.findings] == ["review.interval"]
    assert (talquetamab.verdict, talquetamab.then) == ("wait", "acceptable")


def test_the_text_shows_actions_first_timing_apart_and_marks_overrides():
    doc = document(line("teclistamab", "2025-09-01", "2026-03"), as_of="2026-03-20", car_t_eligible=None,
                   candidates=["talquetamab", "cilta-cel"])
    text = to_text(evaluate(doc, overrides=[Override("review.car-t-first-bsab", "talquetamab", "patient-preference")]))
    assert text.index("To do first:") < text.index("#  therapy")
    assert "Record whether the patient is eligible for CAR-T." in text
    assert "Record the exact date of the last dose of teclistamab (line 2), now recorded as 2026-03." in text
    assert "review.car-t-first-bsab (overridden)" in text.split("\n\n")[2]
    assert "wait until 2026-09-20, then acceptable" in text


def test_json_puts_the_actions_first_and_derived_as_data_with_a_display_form():
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), line("ZX-9001", "2026-01-01", "2026-02-01"), as_of="2026-03-01")
    data = json.loads(to_json(evaluate(doc)))
    assert list(data)[:3] == ["patient_id", "as_of", "actions"]
    (action,) = data["actions"]
    assert action["code"] == "classify-agent" and action["facts"]["agent"]["field"] == "lines[2]"
    last = data["derived"]["last_tcrt_dose"]
    assert (last["agent"], last["field"], last["date"]["recorded"], last["display"]) == (
        "teclistamab", "lines[1].end", "2025-12-15", "teclistamab (line 2)")
    assert data["derived"]["unknown_agents"][0]["display"] == "ZX-9001 (line 3)"


def test_a_scheduling_constraint_keeps_the_verdict_and_says_which_finding_sets_the_date():
    doc = document(KPD, as_of="2026-03-01", car_t_eligible=True, candidates=["cilta-cel", "talquetamab"])
    assessment = evaluate(doc)
    cilta = assessment.candidate("cilta-cel")
    assert (cilta.verdict, cilta.rank, str(cilta.earliest_date), cilta.earliest_date_set_by) == (
        "preferred", 1, "2026-03-05", ("extended.washout",))
    washout = next(f for f in cilta.findings if f.rule == "extended.washout")
    assert (washout.effect, washout.timing, washout.anchors["to"]["event"]) == ("schedule", "schedule", "apheresis")
