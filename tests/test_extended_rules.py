"""The extended pack: each rule firing and not firing, under the default policy."""

import datetime

import pytest

from mmsequence import evaluate

from .builders import document, line


def fired(doc, candidate: str) -> set[str]:
    return {f.rule for f in evaluate(doc).candidate(candidate).findings}


def verdict(doc, candidate: str):
    c = evaluate(doc).candidate(candidate)
    return c.verdict, c.earliest_date


def exposed(agent: str, refractory: bool | None = None, start="2023-01-01", end="2024-01-01") -> dict:
    return line(agent, start, end, **({} if refractory is None else {"refractory": refractory}))


class TestAntigenLoss:
    def test_known_loss_avoids_the_target(self):
        doc = document(biomarkers={"bcma_loss": True}, candidates=["teclistamab", "talquetamab", "belantamab mafodotin"])
        assert "extended.antigen-loss" in fired(doc, "teclistamab")
        assert verdict(doc, "teclistamab") == ("avoid", None)
        assert verdict(doc, "belantamab mafodotin") == ("avoid", None)
        assert "extended.antigen-loss" not in fired(doc, "talquetamab")

    @pytest.mark.parametrize("value", [False, None])
    def test_no_or_unknown_loss_does_not_fire(self, value):
        assert "extended.antigen-loss" not in fired(document(biomarkers={"bcma_loss": value}, candidates=["teclistamab"]), "teclistamab")


class TestCarTAfterBsab:
    def test_same_target_car_t_after_a_bsab(self):
        doc = document(exposed("teclistamab"), candidates=["cilta-cel"], car_t_eligible=True)
        assert "extended.car-t-after-bsab" in fired(doc, "cilta-cel")

    def test_other_target_bsab_does_not_fire(self):
        doc = document(exposed("talquetamab"), candidates=["cilta-cel"], car_t_eligible=True)
        assert "extended.car-t-after-bsab" not in fired(doc, "cilta-cel")


class TestRefractory:
    def test_refractory_weighs_more_than_exposed(self):
        refractory = document(exposed("teclistamab", refractory=True), patient_id="A", candidates=["elranatamab"])
        responded = document(exposed("teclistamab", refractory=False), patient_id="B", candidates=["elranatamab"])
        assert "extended.same-target-refractory" in fired(refractory, "elranatamab")
        assert "extended.same-target-refractory" not in fired(responded, "elranatamab")

    def test_stop_for_progression_counts_as_refractory(self):
        doc = document(line("teclistamab", "2023-01-01", "2024-01-01", stop_reason="progression"), candidates=["elranatamab"])
        assert "extended.same-target-refractory" in fired(doc, "elranatamab")

    def test_refractory_ranks_below_exposed_at_equal_verdict(self):
        doc = document(exposed("teclistamab", refractory=True), exposed("talquetamab", refractory=False, start="2024-02-01", end="2024-06-01"),
                       candidates=["elranatamab", "talquetamab"])
        assessment = evaluate(doc)
        ranks = {c.therapy: (c.verdict, c.rank) for c in assessment.candidates}
        assert ranks["elranatamab"][0] == ranks["talquetamab"][0] == "caution"
        assert ranks["talquetamab"][1] < ranks["elranatamab"][1]
        assert assessment.candidate("talquetamab").rank_reason.criterion == "rank.not-refractory-target"


class TestThirdSameTarget:
    def test_third_use_is_avoided(self):
        doc = document(exposed("teclistamab", start="2021-01-01", end="2022-06-01"), exposed("cilta-cel", start="2023-01-01", end="2023-01-01"),
                       candidates=["elranatamab"])
        assert "extended.third-same-target" in fired(doc, "elranatamab")
        assert verdict(doc, "elranatamab") == ("avoid", None)

    def test_second_use_is_not(self):
        assert "extended.third-same-target" not in fired(document(exposed("teclistamab"), candidates=["elranatamab"]), "elranatamab")


class TestSolubleBcma:
    @pytest.mark.parametrize("level, fires", [(401, True), (400, False), (None, False)])
    def test_threshold(self, level, fires):
        doc = document(biomarkers={"soluble_bcma_ng_ml": level}, candidates=["teclistamab", "talquetamab"])
        assert ("extended.soluble-bcma" in fired(doc, "teclistamab")) is fires
        assert "extended.soluble-bcma" not in fired(doc, "talquetamab")


class TestWashout:
    def test_two_weeks_after_conventional_therapy(self):
        doc = document(line(["pomalidomide", "dexamethasone"], "2026-01-01", "2026-05-25"), as_of="2026-06-01")
        # a scheduling constraint: the verdict stays, the not-before date moves
        assert verdict(doc, "talquetamab") == ("acceptable", datetime.date(2026, 6, 8))

    def test_steroids_alone_do_not_count(self):
        doc = document(line("dexamethasone", "2026-01-01", "2026-05-25"), as_of="2026-06-01")
        assert "extended.washout" not in fired(doc, "talquetamab")

    def test_car_t_counts_to_the_planned_apheresis(self):
        doc = document(line(["pomalidomide", "dexamethasone"], "2026-01-01", "2026-05-25"), as_of="2026-06-01",
                       car_t_eligible=True, candidates=["cilta-cel"], apheresis=[{"status": "planned", "date": "2026-06-20"}])
        assert "extended.washout" not in fired(doc, "cilta-cel")


class TestBridging:
    COLLECTED = [{"status": "done", "date": "2026-05-01", "product": "cilta-cel"}]

    def test_other_target_bridging_is_acceptable(self):
        doc = document(apheresis=self.COLLECTED, candidates=["talquetamab", "teclistamab"], car_t_eligible=True)
        assert "extended.bridging-after-apheresis" in fired(doc, "talquetamab")
        assert "extended.bridging-same-target" in fired(doc, "teclistamab")
        assert "review.no-bsab-before-apheresis" not in fired(doc, "talquetamab")

    def test_no_bridging_finding_before_collection(self):
        doc = document(apheresis=[{"status": "planned", "date": "2026-07-01"}], candidates=["talquetamab"], car_t_eligible=True)
        assert not {"extended.bridging-after-apheresis", "extended.bridging-same-target"} & fired(doc, "talquetamab")


class TestInvestigational:
    def test_never_preferred_and_says_trial(self):
        doc = document(candidates=["anito-cel", "cilta-cel"], car_t_eligible=True)
        anito = evaluate(doc).candidate("anito-cel")
        assert anito.verdict == "acceptable"
        assert "clinical trial" in anito.findings[0].message
        assert evaluate(doc).candidate("cilta-cel").verdict == "preferred"


class TestAdc:
    def test_tcrt_before_belantamab(self):
        assert "extended.tcrt-before-adc" in fired(document(candidates=["Blenrep"]), "Blenrep")
        assert "extended.tcrt-before-adc" not in fired(document(exposed("talquetamab"), candidates=["Blenrep"]), "Blenrep")

    def test_belantamab_after_bcma_car_t(self):
        doc = document(line("ide-cel", "2024-01-01", "2024-01-01"), candidates=["Blenrep"])
        assert "extended.adc-after-car-t" in fired(doc, "Blenrep")

    def test_belantamab_exposure_is_bcma_exposure_but_not_a_tcrt_for_the_interval(self):
        doc = document(line(["belantamab mafodotin", "bortezomib", "dexamethasone"], "2025-01-01", "2026-05-01"),
                       candidates=["teclistamab"], as_of="2026-06-01")
        found = fired(doc, "teclistamab")
        assert "review.interval" not in found and "review.switch-target" not in found
        (exposure,) = evaluate(doc).derived["exposures_by_target"]["BCMA"]
        assert (exposure["agent"], exposure["field"], exposure["display"]) == (
            "belantamab mafodotin", "lines[1]", "belantamab mafodotin (line 2)")
