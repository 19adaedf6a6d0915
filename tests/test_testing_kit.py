"""mmsequence.testing itself: each invariant catches a planted fault, and the strategies keep their knobs."""

import datetime
import itertools
import random
import subprocess
import sys

import attrs
import pytest
from hypothesis import find, given, settings

from mmsequence import PartialDate, Policy, evaluate, parse_document
from mmsequence.catalog import load_catalog
from mmsequence.policy import policy_from_mapping
from mmsequence.testing import invariants, reference
from mmsequence.testing.strategies import partial_dates, patient_histories, policies

from .builders import document, line

TEC = line("teclistamab", "2025-01-01", "2025-12-15")
PLAN = [{"status": "planned", "date": "2026-09-01"}]


def planted(doc, candidate: str, policy: Policy | None = None, **changes):
    """The real assessment of ``doc`` with one candidate's outcome changed."""
    assessment = evaluate(doc, policy=policy)
    changed = [attrs.evolve(c, **changes) if c.query == candidate else c for c in assessment.candidates]
    return attrs.evolve(assessment, candidates=tuple(changed))


CASES = [  # (invariant, document, candidate, planted change): the true assessment passes, the planted one fails
    (invariants.no_bsab_while_apheresis_pending, document(apheresis=PLAN, car_t_eligible=True), "talquetamab",
     {"verdict": "caution", "findings": ()}),
    (invariants.no_tcrt_inside_interval, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"verdict": "caution", "earliest_date": None}),
    (invariants.no_tcrt_inside_interval, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"earliest_date": datetime.date(2026, 6, 14)}),
    (invariants.every_wait_ends, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"earliest_date": datetime.date(2026, 3, 1)}),
    (invariants.every_wait_ends, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"earliest_date": datetime.date(2026, 1, 10)}),
    (invariants.interval_monotone_in_time, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"verdict": "acceptable", "earliest_date": None, "findings": ()}),
    (invariants.switch_target_ranks_first, document(line("elranatamab", "2024-01-01", "2024-06-01"),
     candidates=["teclistamab", "talquetamab"], biomarkers={"bcma_loss": True, "gprc5d_loss": True}), "teclistamab",
     {"rank": 0}),
    (invariants.partial_dates_are_worst_case, document(line("teclistamab", "2025-01", "2025-09"), as_of="2026-03-10"),
     "talquetamab", {"earliest_date": datetime.date(2026, 3, 15)}),
    (invariants.deterministic_and_order_independent, document(TEC, as_of="2026-01-10"), "talquetamab",
     {"verdict": "avoid", "earliest_date": None}),
    (invariants.every_verdict_explained, document(TEC, as_of="2026-01-10"), "talquetamab", {"verdict": "avoid"}),
    (invariants.unknown_agents_never_confident, document(line("ZX-9001", "2026-01-01", "2026-02-01")), "talquetamab",
     {"verdict": "acceptable", "findings": ()}),
    # the washout as a wait, as before it became a scheduling constraint
    (invariants.verdict_ignores_scheduling, document(line(["carfilzomib", "pomalidomide", "dexamethasone"], "2025-01-01", "2026-02-19"),
     as_of="2026-03-01", car_t_eligible=True, candidates=["cilta-cel", "talquetamab"]), "cilta-cel",
     {"verdict": "wait", "then": "preferred"}),
    # eligibility unknown: a bsAb with the CAR-T-first caution ranked above the CAR-T
    (invariants.car_t_ranks_first_when_only_eligibility_is_missing,
     document(car_t_eligible=None, candidates=["talquetamab", "cilta-cel"]), "talquetamab", {"rank": 0}),
    # a regimen let through the interval that holds its bsAb back
    (invariants.regimen_never_less_restrictive_than_its_tcrts,
     document(TEC, as_of="2026-01-10", candidates=["teclistamab + daratumumab"]), "teclistamab + daratumumab",
     {"verdict": "caution", "earliest_date": None}),
    # re-treatment allowed although the disease may have been refractory (progression known to the month)
    (invariants.imprecise_progression_is_worst_case_for_retreatment,
     document(line("teclistamab", "2024-09-01", "2025-06-30", progression="2025-08"), as_of="2026-03-01",
              candidates=["teclistamab"]), "teclistamab", {"verdict": "caution"}),
]


def test_a_wait_past_the_latest_possible_dose_is_caught():
    # last dose '2026-03', evaluated 2026-03-20: 2026-09-30 (the month's end plus 6 months) overshoots
    doc = document(line("teclistamab", "2025-09-01", "2026-03"), as_of="2026-03-20")
    assessment = evaluate(doc)
    assert invariants.waits_never_overshoot(doc, assessment) == []
    (finding,) = assessment.candidate("talquetamab").findings
    assert finding.earliest_date == datetime.date(2026, 9, 20)
    overshoot = planted(doc, "talquetamab", findings=(attrs.evolve(finding, earliest_date=datetime.date(2026, 9, 30)),))
    assert invariants.waits_never_overshoot(doc, overshoot) == [
        "talquetamab: review.interval-uncertain holds until 2026-09-30, later than 2026-09-20"]
    dose = {**finding.anchors["from"], "date": {**finding.anchors["from"]["date"], "latest": "2026-03-31"}}
    after = planted(doc, "talquetamab", findings=(attrs.evolve(finding, anchors={**finding.anchors, "from": dose}),))
    assert any("may lie after as_of" in v for v in invariants.waits_never_overshoot(doc, after))


@pytest.mark.parametrize("invariant, doc, candidate, change", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_each_invariant_passes_the_engine_and_catches_a_planted_fault(invariant, doc, candidate, change):
    assert invariant(doc, evaluate(doc)) == []
    violations = invariant(doc, planted(doc, candidate, **change))
    assert violations and all(candidate in v or "again" in v for v in violations)


def test_a_history_frozen_at_as_of_keeps_a_one_date_line_before_its_progression():
    # found by the property tests: a line written '2016' to '2016' with a progression on 2016-02-25,
    # frozen at 2016-03-01, was moved to start after its own progression (an input error)
    doc = {"patient_id": "T-1", "as_of": "2016-03-01", "car_t_eligible": True, "candidates": ["teclistamab"],
           "lines": [{"agents": ["dexamethasone"], "start": "2016", "end": "2016", "progression": "2016-02-25"}]}
    frozen = invariants.frozen(doc, datetime.date(2016, 3, 1), load_catalog())
    assert (frozen["lines"][0]["start"], frozen["lines"][0]["end"]) == ("2016-02-25", "2016-02-25")
    assert invariants.check(doc) == []


def test_the_interval_invariant_follows_the_policy():
    doc = document(TEC, as_of="2026-01-10")
    warn_only = Policy(interval_effect="caution")
    assert invariants.no_tcrt_inside_interval(doc, evaluate(doc, policy=warn_only)) == []
    assert invariants.no_tcrt_inside_interval(doc, planted(doc, "talquetamab", warn_only, verdict="acceptable"))
    disabled = Policy(disabled_rules=("review.interval",))
    assert invariants.no_tcrt_inside_interval(doc, planted(doc, "talquetamab", disabled, verdict="acceptable")) == []


def test_the_partial_date_invariant_is_off_where_the_policy_gives_up_the_worst_case():
    doc = document(line("teclistamab", "2025-01", "2025-09"), as_of="2026-03-10")
    exact_only = Policy(disabled_rules=("review.interval-uncertain",))
    assert evaluate(doc, policy=exact_only).candidate("talquetamab").verdict == "acceptable"
    assert invariants.partial_dates_are_worst_case(doc, evaluate(doc, policy=exact_only)) == []
    assert invariants.partial_dates_are_worst_case(doc, planted(doc, "talquetamab", verdict="acceptable", earliest_date=None))


@pytest.mark.parametrize("exact, twin", invariants.WORST_CASE_TWINS)
def test_switching_off_any_worst_case_twin_gives_up_the_worst_case(exact, twin):
    # found by the property tests: with extended.refractory-retreatment-uncertain switched off, an
    # imprecise last dose no longer avoids re-treatment, as the site chose; not a violation
    doc = {"patient_id": "T-1", "as_of": "2016-03-07", "car_t_eligible": True, "candidates": ["teclistamab"],
           "lines": [{"agents": ["teclistamab"], "start": "2016-01-01", "end": "2016-01", "progression": "2016-03-02"}]}
    site = Policy(disabled_rules=(twin,))
    assert invariants.partial_dates_are_worst_case(doc, evaluate(doc, policy=site)) == []
    if twin == "extended.refractory-retreatment-uncertain":  # the counterexample: in force, it is caught
        planted_doc = planted(doc, "teclistamab", verdict="caution", then=None)
        assert invariants.partial_dates_are_worst_case(doc, planted_doc)


def test_a_finding_of_a_rule_the_policy_does_not_run_is_a_violation():
    doc = document(TEC, as_of="2026-01-10")
    assessment = evaluate(doc, policy=Policy(disabled_rules=("review.switch-target",)))
    rogue = attrs.evolve(evaluate(doc).candidate("talquetamab").findings[0], rule="review.switch-target", effect="caution",
                         earliest_date=None, timing=None, anchors=None)
    changed = planted(doc, "talquetamab", Policy(disabled_rules=("review.switch-target",)),
                      findings=(*assessment.candidate("talquetamab").findings, rogue))
    assert invariants.every_verdict_explained(doc, changed) == [
        "talquetamab: review.switch-target fired, but the policy does not run it"]


def test_check_reports_crashes_and_names_the_invariant(monkeypatch):
    def broken(document, assessment):
        raise RuntimeError("boom")

    assert invariants.check(document(), invariants=(broken,)) == ["broken: raised RuntimeError: boom"]
    assert invariants.check({"lines": []})[0].startswith("evaluate: raised InputError")


def test_frozen_stops_ongoing_lines_on_as_of_and_car_t_on_its_infusion():
    doc = document(line("cilta-cel", "2025-03-01"), line("talquetamab", "2025-06-01"))
    lines = invariants.frozen(doc, datetime.date(2026, 1, 10), load_catalog())["lines"]
    assert [ln.get("end") for ln in lines] == ["2022-12-31", "2025-03-01", "2026-01-10"]
    assert "end" not in doc["lines"][2]
    # a date that could lie after as_of is seen later as as_of, the latest day it could be
    # (a dose '2016-01' on 2016-01-02 waited until 2016-07-02; on that day '2016-01' read up to 01-31)
    partial = document(line("teclistamab", "2016-01-01", "2016-01"), as_of="2016-01-02")
    assert invariants.frozen(partial, datetime.date(2016, 1, 2), load_catalog())["lines"][1]["end"] == "2016-01-02"


@settings(max_examples=60, deadline=None)
@given(policies())
def test_a_policy_is_read_back_from_its_recorded_output(policy):
    recorded = evaluate(document(), policy=policy).to_dict()["policy"]
    settings = {k: v for k, v in recorded.items() if k not in ("source", "digest")}
    assert policy_from_mapping(settings, recorded["source"]) == policy


@settings(max_examples=60, deadline=None)
@given(patient_histories(lines=(2, 2), tcrt_lines=(1, 1), modalities=("car-t",), targets=("GPRC5D",),
                         apheresis=("pending",), partial_dates=1.0, car_t_eligible=(False,), jurisdictions=("EU",),
                         candidates=["talquetamab"], synonyms=False, unknown_agents=0.0, site_agents=False))
def test_the_knobs_bound_what_is_drawn(doc):
    assert len(doc["lines"]) == 2 and sum(ln["agents"] == ["arlocabtagene autoleucel"] for ln in doc["lines"]) == 1
    car_t = [ln for ln in doc["lines"] if ln["agents"] == ["arlocabtagene autoleucel"]]
    others = [ln for ln in doc["lines"] if ln not in car_t]
    assert all(len(ln["start"]) < 10 for ln in others) and len(doc["apheresis"][-1]["date"]) < 10
    assert all(len(ln["start"]) == 10 for ln in car_t)  # an infusion is one known day
    assert doc["apheresis"][-1]["status"] == "planned"
    assert (doc["car_t_eligible"], doc["jurisdiction"], doc["candidates"]) == (False, "EU", ["talquetamab"])


@settings(max_examples=200, deadline=None)
@given(patient_histories(partial_dates=0.0))
def test_histories_are_ones_a_clinic_could_have(doc):
    history = parse_document(doc)
    as_of = datetime.date.fromisoformat(doc["as_of"])
    days = [d for ln in history.lines for d in (ln.start, ln.end) if d is not None]
    assert all(a.earliest <= b.earliest for a, b in itertools.pairwise(days)) and all(d.earliest <= as_of for d in days)
    for ln, raw in zip(history.lines, doc["lines"]):
        if reference.given({"lines": [raw]}, load_catalog(), as_of)[0].modality == "car-t":
            assert len(ln.agents) == 1 and ln.end in (None, ln.start)
    done = [a.date for a in history.apheresis if a.status in ("done", "failed")]
    assert all(d.earliest <= as_of for d in done)
    assert all(a.date.earliest <= b.date.earliest for a, b in zip(history.apheresis, history.apheresis[1:]) if a.date and b.date)


@settings(max_examples=100, deadline=None)
@given(partial_dates(precisions=("month", "year")))
def test_partial_dates_are_imprecise_dates_the_parser_reads(text):
    assert PartialDate.parse(text).precision in ("month", "year")


def test_shrinking_gives_a_small_readable_history():
    found = find(patient_histories(synonyms=False), lambda d: any("teclistamab" in ln["agents"] for ln in d["lines"]),
                 settings=settings(max_examples=300, database=None, deadline=None), random=random.Random(1))
    assert found["lines"] == [{"agents": ["teclistamab"], "start": "2016-01-01", "end": "2016-01-01"}]


def test_the_package_imports_without_hypothesis():
    script = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import mmsequence.cli, mmsequence.testing\n"
        "from mmsequence.testing import check, INVARIANTS\n"
        "print(len(INVARIANTS), check({'patient_id': 'x', 'lines': [], 'as_of': '2026-01-01'}))\n"
        "try:\n    mmsequence.testing.patient_histories\nexcept ImportError:\n    print('strategies need hypothesis')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert done.stdout.splitlines() == [f"{len(invariants.INVARIANTS)} []", "strategies need hypothesis"], done.stderr[-2000:]
