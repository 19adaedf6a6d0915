"""Every review and safety rule firing, and not firing, on the smallest history that shows it.

These run in strict mode (the review pack alone) so that each test sees only the rule it is about.
"""

import datetime

import pytest

from mmsequence import Policy, evaluate

from .builders import document, line

STRICT = Policy(packs=("safety", "review"))


def fired(doc, candidate: str, policy: Policy = STRICT) -> set[str]:
    return {f.rule for f in evaluate(doc, policy=policy).candidate(candidate).findings}


def verdict(doc, candidate: str, policy: Policy = STRICT):
    c = evaluate(doc, policy=policy).candidate(candidate)
    return c.verdict, c.earliest_date


TEC = line("teclistamab", "2025-01-01", "2025-12-15")


class TestCarTFirst:
    def test_fires_for_eligible_patient_without_car_t(self):
        doc = document(car_t_eligible=True, candidates=["cilta-cel", "talquetamab"], as_of="2026-01-10")
        assert verdict(doc, "cilta-cel") == ("preferred", None)
        assert "review.car-t-first-bsab" in fired(doc, "talquetamab")

    def test_does_not_fire_after_a_car_t(self):
        doc = document(line("ide-cel", "2024-05-01", "2024-05-01"), car_t_eligible=True, candidates=["cilta-cel", "talquetamab"])
        assert fired(doc, "cilta-cel") == set()
        assert fired(doc, "talquetamab") == set()

    def test_ineligible_patient(self):
        doc = document(car_t_eligible=False, candidates=["cilta-cel", "talquetamab"])
        assert verdict(doc, "cilta-cel") == ("avoid", None)
        assert fired(doc, "cilta-cel") == {"review.car-t-ineligible"}
        assert verdict(doc, "talquetamab") == ("acceptable", None)

    def test_unknown_eligibility_is_indeterminate_for_car_t_and_worst_case_for_bsab(self):
        doc = document(car_t_eligible=None, candidates=["cilta-cel", "talquetamab"])
        assert verdict(doc, "cilta-cel") == ("indeterminate", None)
        assert fired(doc, "talquetamab") == {"review.car-t-first-bsab"}
        assert verdict(doc, "talquetamab") == ("caution", None)


class TestSwitchTarget:
    def test_same_target_bsab(self):
        doc = document(line("elranatamab", "2024-01-01", "2025-01-01"), candidates=["teclistamab", "talquetamab"])
        assert fired(doc, "teclistamab") == {"review.switch-target"}
        assert fired(doc, "talquetamab") == set()

    def test_bsab_after_same_target_car_t(self):
        doc = document(line("cilta-cel", "2024-03-01", "2024-03-01"), candidates=["teclistamab"])
        assert fired(doc, "teclistamab") == {"review.switch-target"}

    def test_adc_exposure_is_not_a_tcrt_exposure(self):
        doc = document(line(["belantamab mafodotin", "bortezomib"], "2023-01-01", "2023-12-01"), candidates=["teclistamab"])
        assert fired(doc, "teclistamab") == set()


class TestInterval:
    def test_wait_until_six_months_after_last_bsab_dose(self):
        doc = document(TEC, as_of="2026-01-10")
        assert verdict(doc, "talquetamab") == ("wait", datetime.date(2026, 6, 15))
        assert fired(doc, "talquetamab") == {"review.interval"}

    def test_met_on_the_day_the_interval_ends(self):
        assert verdict(document(TEC, as_of="2026-06-15"), "talquetamab") == ("acceptable", None)
        assert verdict(document(TEC, as_of="2026-06-14"), "talquetamab")[0] == "wait"

    @pytest.mark.parametrize(
        "last_dose, end",
        [("2025-08-31", "2026-02-28"), ("2023-08-31", "2024-02-29"), ("2025-12-31", "2026-06-30"), ("2023-09-30", "2024-03-30")],
    )
    def test_month_end_and_leap_year(self, last_dose, end):
        doc = document(line("teclistamab", "2023-01-01", last_dose), as_of=last_dose)
        assert verdict(doc, "talquetamab") == ("wait", datetime.date.fromisoformat(end))

    def test_partial_date_waits_for_the_worst_case_and_says_so(self):
        doc = document(line("teclistamab", "2025-01", "2025-09"), as_of="2026-03-10")
        assessment = evaluate(doc, policy=STRICT).candidate("talquetamab")
        assert (assessment.verdict, assessment.earliest_date) == ("wait", datetime.date(2026, 3, 30))
        (finding,) = assessment.findings
        assert finding.rule == "review.interval-uncertain"
        assert "2026-03-01" in finding.message and finding.facts["interval_end_earliest"] == "2026-03-01"

    def test_partial_date_certainly_inside_or_outside(self):
        # certainly inside, but the day it ends depends on the unknown day: the imprecise-date finding
        inside = document(line("teclistamab", "2025-01", "2025-09"), as_of="2026-02-27")
        assert fired(inside, "talquetamab") == {"review.interval-uncertain"}
        assert verdict(inside, "talquetamab") == ("wait", datetime.date(2026, 3, 30))
        assert fired(document(line("teclistamab", "2025-01", "2025-09"), as_of="2026-03-30"), "talquetamab") == set()

    def test_year_only_date(self):
        doc = document(line("teclistamab", "2025", "2025"), as_of="2026-03-01")
        assert verdict(doc, "talquetamab") == ("wait", datetime.date(2026, 6, 30))

    def test_car_t_anchor_is_the_planned_apheresis(self):
        doc = document(TEC, as_of="2026-01-10", car_t_eligible=True, candidates=["cilta-cel"],
                       apheresis=[{"status": "planned", "date": "2026-07-01"}])
        assert fired(doc, "cilta-cel") == {"review.car-t-before-another-bsab"}
        doc["apheresis"][0]["date"] = "2026-05-01"
        assert verdict(doc, "cilta-cel") == ("wait", datetime.date(2026, 6, 15))

    def test_car_t_without_a_plan_counts_to_the_evaluation_date(self):
        doc = document(TEC, as_of="2026-01-10", car_t_eligible=True, candidates=["cilta-cel"])
        assert verdict(doc, "cilta-cel") == ("wait", datetime.date(2026, 6, 15))

    def test_car_t_then_bsab_is_not_held_back_by_default(self):
        doc = document(line("cilta-cel", "2026-03-01", "2026-03-01"), as_of="2026-04-01")
        assert fired(doc, "talquetamab") == set()

    def test_ongoing_bsab_counts_from_the_evaluation_date(self):
        doc = document(line("talquetamab", "2025-05-01"), candidates=["teclistamab"], as_of="2026-03-31")
        assert verdict(doc, "teclistamab") == ("wait", datetime.date(2026, 9, 30))
        assert evaluate(doc, policy=STRICT).candidate("teclistamab").findings[0].facts["interval_from"]["ongoing"] is True

    def test_the_latest_of_several_bsabs_counts(self):
        doc = document(line("teclistamab", "2024-01-01", "2024-06-01"), line("talquetamab", "2024-07-01", "2026-01-31"),
                       candidates=["cevostamab"], as_of="2026-02-01")
        assert verdict(doc, "cevostamab") == ("wait", datetime.date(2026, 7, 31))

    def test_collected_t_cells_inside_the_interval(self):
        doc = document(TEC, as_of="2026-02-10", car_t_eligible=True, candidates=["cilta-cel"],
                       apheresis=[{"status": "done", "date": "2026-02-01"}])
        assert fired(doc, "cilta-cel") == {"review.interval-collected", "review.car-t-before-another-bsab"}
        assert verdict(doc, "cilta-cel") == ("caution", None)

    def test_bridging_bsab_after_collection_does_not_hold_back_the_car_t(self):
        doc = document(line("elranatamab", "2024-01-01", "2024-12-01"), line("talquetamab", "2026-02-05", "2026-03-20"),
                       as_of="2026-04-01", car_t_eligible=True, candidates=["cilta-cel"],
                       apheresis=[{"status": "done", "date": "2026-02-01"}])
        assert fired(doc, "cilta-cel") == {"review.car-t-before-another-bsab"}


class TestApheresis:
    PLAN = [{"status": "planned", "date": "2026-09-01"}]

    def test_no_bsab_while_apheresis_is_pending(self):
        doc = document(apheresis=self.PLAN, car_t_eligible=True)
        assert verdict(doc, "talquetamab") == ("avoid", None)
        assert "review.no-bsab-before-apheresis" in fired(doc, "talquetamab")

    def test_failed_then_planned_is_pending_again(self):
        doc = document(apheresis=[{"status": "failed", "date": "2026-01-05"}, *self.PLAN], car_t_eligible=True)
        assert "review.no-bsab-before-apheresis" in fired(doc, "talquetamab")

    @pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
    def test_not_pending(self, status):
        doc = document(apheresis=[*self.PLAN[:0], {"status": status, "date": "2026-05-01"}], car_t_eligible=True)
        assert "review.no-bsab-before-apheresis" not in fired(doc, "talquetamab")

    def test_planned_without_a_date_is_pending(self):
        doc = document(apheresis=[{"status": "planned"}], car_t_eligible=True)
        evaluation = evaluate(doc, policy=STRICT).candidate("talquetamab")
        assert evaluation.verdict == "avoid"
        assert evaluation.findings[0].facts["apheresis_date"] is None
        assert "(date: not recorded)" in evaluation.findings[0].message

    def test_stale_plan_warns(self):
        doc = document(apheresis=[{"status": "planned", "date": "2026-01-01"}], car_t_eligible=True)
        assessment = evaluate(doc, policy=STRICT)
        assert assessment.candidate("talquetamab").verdict == "avoid"
        assert any("before as_of" in w for w in assessment.warnings)


class TestReserve:
    def test_last_untouched_target(self):
        doc = document(line("teclistamab", "2022-01-01", "2023-01-01"), line("talquetamab", "2023-02-01", "2024-01-01"),
                       candidates=["cevostamab"])
        (finding,) = evaluate(doc, policy=STRICT).candidate("cevostamab").findings
        assert finding.rule == "review.reserve" and finding.effect == "acceptable"
        assert verdict(doc, "cevostamab") == ("acceptable", None)

    def test_lost_antigen_is_no_reserve(self):
        doc = document(line("teclistamab", "2022-01-01", "2023-01-01"), biomarkers={"fcrh5_loss": True})
        assert "review.reserve" in fired(doc, "talquetamab")

    def test_reserve_left(self):
        assert "review.reserve" not in fired(document(line("teclistamab", "2022-01-01", "2023-01-01")), "talquetamab")


class TestSafety:
    def test_unknown_agent_in_history_is_indeterminate(self):
        doc = document(line("ZX-9001", "2026-01-01", "2026-05-01"))
        assessment = evaluate(doc, policy=STRICT)
        assert assessment.candidate("talquetamab").verdict == "indeterminate"
        assert assessment.warnings == ("ZX-9001 (lines[1]): not in the agent catalog",)
        assert "ZX-9001" in assessment.candidate("talquetamab").findings[0].message

    def test_unknown_agent_never_softens_an_avoid(self):
        doc = document(line("ZX-9001", "2026-01-01", "2026-05-01"), apheresis=[{"status": "planned"}], car_t_eligible=True)
        assert verdict(doc, "talquetamab") == ("avoid", None)

    def test_unknown_candidate(self):
        doc = document(candidates=["fooximab"])
        assert fired(doc, "fooximab") == {"safety.unknown-candidate"}
        assert verdict(doc, "fooximab") == ("indeterminate", None)

    def test_non_tcrt_candidate_is_out_of_scope(self):
        assert fired(document(candidates=["Darzalex"]), "Darzalex") == {"safety.out-of-scope"}

    def test_known_history_no_safety_findings(self):
        assert fired(document(), "talquetamab") == set()


@pytest.mark.parametrize(
    "name", ["Talvey", "TALQUETAMAB", "talquetamab ", "JNJ-64407564", "jnj 64407564"]
)
def test_synonyms_give_the_same_assessment(name):
    base = evaluate(document(TEC, as_of="2026-01-10")).candidate("talquetamab")
    other = evaluate(document(TEC, as_of="2026-01-10", candidates=[name])).candidates[0]
    assert (other.therapy, other.verdict, other.earliest_date, other.query) == (base.therapy, base.verdict, base.earliest_date, name.strip())


def test_chinese_name_in_history():
    doc = document(line("特立妥单抗", "2025-01-01", "2025-12-15"), as_of="2026-01-10")
    assert verdict(doc, "talquetamab") == ("wait", datetime.date(2026, 6, 15))


def test_candidates_default_to_every_approved_tcrt():
    therapies = {c.therapy for c in evaluate({k: v for k, v in document().items() if k != "candidates"}).candidates}
    assert therapies == {"teclistamab", "elranatamab", "linvoseltamab", "talquetamab",
                         "ciltacabtagene autoleucel", "idecabtagene vicleucel"}
