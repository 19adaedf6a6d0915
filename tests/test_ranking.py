"""Rank as a documented clinical order: the criteria of rules/rank.yaml, shared ranks, the reasons
each candidate gives, and what a site switches off."""

from __future__ import annotations

import json
import shutil

import pytest

from mmsequence import InputError, evaluate, load_policy
from mmsequence._paths import rules_dir, vignettes_dir
from mmsequence.errors import RuleFileError
from mmsequence.policy import policy_from_mapping
from mmsequence.render import to_json, to_text
from mmsequence.rulebook import load_rulebook, shipped_rulebook
from mmsequence.testing import invariants

from .builders import document, line


def _vignette(number: int) -> dict:
    [path] = vignettes_dir().glob(f"{number}-*.json")
    return json.loads(path.read_text(encoding="utf-8"))["document"]


def test_every_criterion_is_cited_with_an_evidence_level_and_a_chinese_reason():
    criteria = shipped_rulebook().criteria
    assert [c.id for c in criteria][:3] == ["rank.approved", "rank.on-label", "rank.car-t-first"]
    for c in criteria:
        assert c.citation and c.source["text"] and c.reason
        assert c.evidence in ("review", "guideline", "guideline-secondary", "trial-data", "label", "interpretation")
        assert {lang: r for lang, _, r in c.translations}["zh-CN"]
        assert c.evidence != "interpretation" or "interpretation" in c.title


@pytest.mark.parametrize(("text", "problem"), [
    ("- id: rank.x\n", "title: is required"),
    ("    better: {candidate: {no_such_field: true}}\n", "no field 'no_such_field'"),
])
def test_a_broken_criterion_is_a_rule_file_error_naming_it(tmp_path, text, problem):
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    rank = root / "rank.yaml"
    body = rank.read_text(encoding="utf-8")
    if text.startswith("- id"):
        body = body.replace("criteria:\n", "criteria:\n  " + text, 1)
    else:
        body = body.replace("    better: {candidate: {status: approved}}\n", text, 1)
    rank.write_text(body, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_rulebook(root)
    assert any(problem in p and "rank.yaml" in p for p in caught.value.problems)


def test_each_candidate_says_why_it_ranks_above_the_next_and_whom_it_equals():
    assessment = evaluate(_vignette(84))
    tal, tec, elr, bel = (assessment.candidate(n) for n in ("talquetamab", "teclistamab", "elranatamab", "belantamab mafodotin"))
    assert (tal.rank, tec.rank, elr.rank, bel.rank) == (1, 2, 2, 4)
    assert tal.rank_reason.to_dict()["criterion"] == "verdict"
    assert tec.rank_reason.to_dict() == {"equal_to": ["elranatamab"], "above": "belantamab mafodotin",
                                         "criterion": "rank.tcrt-before-adc",
                                         "reason": "a T-cell redirecting therapy, where the other is an antibody-drug conjugate"}
    assert bel.rank_reason.to_dict() == {}
    text = to_text(assessment)
    assert "2=  teclistamab" in text and "ranked above belantamab mafodotin: a T-cell redirecting therapy" in text
    assert "6. 2025-03-01 (infusion): ciltacabtagene autoleucel" in text
    assert "并列（排序标准无法区分）\n   排在" in to_text(assessment, language="zh-CN")
    assert json.loads(to_json(assessment))["candidates"][0]["rank_reason"]["above"] == "teclistamab"


def test_a_switch_of_target_decides_within_a_tier_and_a_site_can_switch_the_criterion_off():
    doc = _vignette(94)
    ranked = evaluate(doc)
    assert ranked.candidate("talquetamab").rank_reason.reason == "switches target"
    assert (ranked.candidate("talquetamab").rank, ranked.candidate("elranatamab").rank) == (1, 2)
    # without the switch, the reserve would put elranatamab first (it keeps GPRC5D and FcRH5 untouched)
    off = ["rank.switch-target", "rank.not-refractory-target", "rank.reserve"]
    site = policy_from_mapping({"disabled_rules": off}, "site.yaml", load_policy())
    tied = evaluate(doc, policy=site)
    assert (tied.candidate("talquetamab").rank, tied.candidate("elranatamab").rank) == (1, 1)
    assert tied.candidate("talquetamab").rank_reason.equal_to == ("elranatamab",)


def test_a_criterion_id_that_does_not_exist_is_still_an_error():
    site = policy_from_mapping({"disabled_rules": ["rank.by-name"]}, "site.yaml", load_policy())
    with pytest.raises(InputError, match=r"'rank.by-name' is not a rule id"):
        evaluate(_vignette(94), policy=site)


def test_equal_candidates_keep_the_order_they_were_asked_in_and_share_the_rank():
    doc = document(candidates=["teclistamab", "talquetamab", "linvoseltamab"], car_t_eligible=True)
    forward = evaluate(doc)
    backward = evaluate({**doc, "candidates": doc["candidates"][::-1]})
    assert [c.rank for c in forward.candidates] == [1, 1, 1]
    assert [c.query for c in forward.candidates] == ["teclistamab", "talquetamab", "linvoseltamab"]
    assert [c.query for c in backward.candidates] == ["linvoseltamab", "talquetamab", "teclistamab"]


def test_the_name_invariant_catches_a_rank_that_follows_the_input_order(monkeypatch):
    doc = document(candidates=["teclistamab", "talquetamab"], car_t_eligible=True)
    assessment = evaluate(doc)
    assert invariants.ranks_ignore_names_and_order(doc, assessment) == []
    # a ranking that numbers candidates by position, as a sort by name or input order would
    monkeypatch.setattr("mmsequence.evaluator.ranks", lambda standings: list(range(1, len(standings) + 1)))
    broken = evaluate(doc)
    assert [c.rank for c in broken.candidates] == [1, 2]
    assert invariants.ranks_ignore_names_and_order(doc, broken) != []


def test_a_planned_car_t_keeps_its_target_untouched_by_the_better_ranked_bsab():
    assessment = evaluate(_vignette(85))
    tal = assessment.candidate("talquetamab")
    assert tal.rank_reason.to_dict()["criterion"] == "rank.keeps-car-t-target"
    assert tal.rank_reason.reason == "leaves the planned CAR-T's target untouched"


def test_ide_cel_is_no_default_candidate_in_china_but_stays_one_in_the_us():
    base = {"patient_id": "J", "as_of": "2026-03-01", "car_t_eligible": True,
            "lines": [line(["daratumumab", "bortezomib", "lenalidomide", "dexamethasone"], "2021-01-01", "2025-01-01")]}
    china = {c.therapy for c in evaluate({**base, "jurisdiction": "CN"}).candidates}
    us = {c.therapy for c in evaluate({**base, "jurisdiction": "US"}).candidates}
    assert "idecabtagene vicleucel" not in china and "equecabtagene autoleucel" in china
    assert "idecabtagene vicleucel" in us and "equecabtagene autoleucel" not in us


def test_a_car_t_relapse_is_not_noted_as_a_data_problem_and_a_stop_for_progression_is_information():
    doc = document(line("ciltacabtagene autoleucel", "2024-01-10", stop_reason="progression", progression="2025-01-10"),
                   line(["carfilzomib", "dexamethasone"], "2025-02-01", "2025-06-01", stop_reason="progression",
                        progression="2025-12-01"))
    warnings = evaluate(doc).warnings
    assert not any("lines[1]" in w for w in warnings)
    [note] = [w for w in warnings if w.startswith("lines[2]")]
    assert "counts as relapsed, not refractory" in note and "for information" in note


def test_an_ongoing_last_dose_is_worded_as_the_evaluation_day():
    doc = document(line("teclistamab", "2025-06-01"), candidates=["talquetamab"], as_of="2026-03-01")
    text = to_text(evaluate(doc))
    assert "on ongoing" not in text and "the evaluation day (still given)" in text
    assert "评估日（仍在用药）" in to_text(evaluate(doc), language="zh-CN")
