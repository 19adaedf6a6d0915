"""Sequence plans: the plan vignettes, the plan invariants on shipped and generated histories, the
oracle's reading of a plan, and the ``plan`` command."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from mmsequence import load_policy
from mmsequence.cli import main
from mmsequence.evaluator import evaluator_for
from mmsequence.plans import NO_PREDICTION, plan_criteria
from mmsequence.testing import oracle
from mmsequence.testing.plan_invariants import PLAN_INVARIANTS, check_plans, query_of, steps_match_evaluate
from mmsequence.testing.plan_vignettes import run_plan_vignette
from mmsequence.testing.strategies import patient_histories

from .profiles import SEEDS, VALIDATION, run
from .test_oracle import comparable

ROOT = Path(__file__).parents[1]
PLAN_VIGNETTES = sorted((ROOT / "examples" / "plan-vignettes").glob("*.json"))
SHIPPED = sorted(p for p in (ROOT / "examples").glob("*.json") if p.name != "invalid.json") + sorted(
    (ROOT / "examples" / "board").glob("*.json"))
#: The situations the plan vignettes must cover (README, "Sequence plans").
COVERED = ("tcrt-naive-car-t-eligible", "car-t-ineligible", "after-bcma-car-t", "after-bcma-bsab-collection-planned",
           "china", "one-target-lost")


def _plans(document, steps=3, **kwargs):
    return evaluator_for(load_policy()).plan(copy.deepcopy(document), steps, **kwargs)


def test_the_plan_vignettes_cover_the_situations_of_the_guidance():
    assert [p.stem.split("-", 1)[1] for p in PLAN_VIGNETTES] == list(COVERED)


@pytest.mark.parametrize("path", PLAN_VIGNETTES, ids=lambda p: p.stem)
def test_plan_vignette(path):
    result = run_plan_vignette(path, load_policy())
    assert result.mismatches == ()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_plan_invariants_hold_on_the_shipped_examples(path):
    assert check_plans(json.loads(path.read_text(encoding="utf-8"))) == []


def _invariants_hold(document):
    assert check_plans(document, steps=2) == []


@SEEDS
def test_plan_invariants_hold_on_generated_histories(seed_value):
    run(_invariants_hold, patient_histories(partial_dates=0.0), seed_value,
        settings(VALIDATION, max_examples=min(VALIDATION.max_examples, 25)))


def _oracle_agrees(case):
    document, months = case
    policy = comparable(load_policy())
    plans = evaluator_for(policy).plan(copy.deepcopy(document), 2, months=months)
    for plan in plans.plans[:3]:
        order = [query_of(plans, s.therapy) for s in plan.steps]
        said = [(s.verdict, s.then, s.not_before.day if s.not_before else None) for s in plan.steps]
        assert oracle.planned(document, order, plans.as_of, policy, months) == said, plan.name


@SEEDS
def test_the_oracle_reads_each_step_of_a_plan_as_the_engine_does(seed_value):
    run(_oracle_agrees, st.tuples(patient_histories(partial_dates=0.0), st.sampled_from([None, [4], [30]])), seed_value,
        settings(VALIDATION, max_examples=min(VALIDATION.max_examples, 25)))


def _naive():
    return json.loads((PLAN_VIGNETTES[0]).read_text(encoding="utf-8"))["document"]


def test_a_wrong_step_verdict_is_caught_by_the_invariant():
    """The invariant can fail: a plan whose step says another verdict than evaluate is a violation."""
    document = _naive()
    plans = _plans(document)
    plan = plans.plans[0]
    wrong = attrs.evolve(plan, steps=(plan.steps[0], attrs.evolve(plan.steps[1], verdict="avoid"), *plan.steps[2:]))
    assert steps_match_evaluate(document, attrs.evolve(plans, plans=(wrong,)))


def test_no_plan_holds_a_step_to_avoid_and_every_plan_has_the_steps_asked():
    plans = _plans(_naive())
    assert plans.plans and plans.not_offered > 0
    assert all(len(p.steps) == 3 and all(s.verdict != "avoid" for s in p.steps) for p in plans.plans)


def test_dates_after_the_first_relapse_are_relative_and_assumed_durations_give_days():
    plans = _plans(_naive())
    step = plans.plans[0].steps[2]
    assert (step.not_before.relapse, step.not_before.months) == (2, 6)
    assert "relapse 2 + 6 months" in " ".join(f.message for f in step.findings)
    assert not any(str(plans.as_of.year + 1) in f.message for s in plans.plans[0].steps[1:] for f in s.findings)
    # cilta-cel from 2026-03-01, relapse 3 months later; talquetamab then, relapse 3 months later;
    # the BCMA bsAb 6 months after the last talquetamab dose
    later = _plans(_naive(), months=[3, 3]).plans[0].steps[2].not_before
    assert later.day == datetime.date(2027, 3, 1) and later.words() == "2027-03-01 (assumed durations)"


def test_interchangeable_agents_are_folded_and_the_rest_is_not():
    first = _plans(_naive()).plans[0].steps
    assert first[0].therapy == "ciltacabtagene autoleucel" and first[0].alternatives == ("idecabtagene vicleucel",)
    bcma = [s for p in _plans(_naive()).plans for s in p.steps if s.modality == "bsab" and "BCMA" in s.target]
    # teclistamab is held by the Tec-Dara regimen, so it never folds with elranatamab
    assert bcma and all("teclistamab" not in (s.therapy, *s.alternatives) or not s.alternatives for s in bcma)


def test_ties_are_shown_as_ties():
    plans = _plans(json.loads(PLAN_VIGNETTES[1].read_text(encoding="utf-8"))["document"], 2)
    first = [p for p in plans.plans if p.rank == 1]
    assert len(first) >= 2 and all(p.tied_with for p in first)
    assert all(set(p.tied_with) == {q.number for q in first} - {p.number} for p in first)


def test_the_criteria_file_holds_the_criteria_the_ranking_implements():
    assert [c.id for c in plan_criteria()] == ["plan.first-step", "plan.car-t-first", "plan.verdicts",
                                               "plan.later-steps", "plan.switch-target", "plan.reserve"]
    assert all(c.citation and c.derived_from and c.translations for c in plan_criteria())


def test_every_plan_invariant_is_named_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(invariant.__name__ in readme for invariant in PLAN_INVARIANTS)


def _cli(capsys, *args):
    code = main(["plan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_plan_command_writes_the_plan_record(capsys, tmp_path):
    source = tmp_path / "p.json"
    source.write_text(json.dumps(_naive()), encoding="utf-8")
    code, out, _ = _cli(capsys, str(source), "--steps", "2")
    data = json.loads(out)
    assert code == 0 and data["no_prediction"] == NO_PREDICTION and data["steps"] == 2
    step = data["plans"][0]["steps"][1]
    assert set(data["plans"][0]) == {"plan", "rank", "tied_with", "ranked_above_next_by", "steps", "restrictions",
                                     "reserve", "car_t_first"}
    assert set(step) >= {"step", "rank_at_step", "therapy", "alternatives", "target", "modality", "verdict", "then",
                         "starts", "not_before", "not_before_rules", "findings"}
    assert _cli(capsys, str(source), "--steps", "2")[1] == out  # byte for byte


def test_the_plan_command_in_chinese(capsys, tmp_path):
    source = tmp_path / "p.json"
    source.write_text(json.dumps(_naive()), encoding="utf-8")
    code, out, _ = _cli(capsys, str(source), "--lang", "zh-CN", "--top", "1")
    assert code == 0 and "序贯方案" in out and "复发 2 + 6 个月" in out and "方案不预测疗效" in out


@pytest.mark.parametrize("args, field", [(["--months", "x"], "--months"), (["--months", "0,3"], "months"),
                                         (["--as-of", "2026-13-01"], "as_of")])
def test_bad_plan_input_names_the_field_and_exits_2(capsys, tmp_path, args, field):
    source = tmp_path / "p.json"
    source.write_text(json.dumps(_naive()), encoding="utf-8")
    code, out, err = _cli(capsys, str(source), *args)
    assert (code, out) == (2, "") and field in err


def test_the_board_shows_each_patients_first_two_plans(tmp_path):
    import re

    from mmsequence.board.build import build_board
    from mmsequence.board.report import render_html

    board = build_board([ROOT / "examples" / "board"], datetime.date(2026, 3, 12), load_policy())
    html = render_html(board)
    sections = re.split(r'<section class="patient"', html)[1:]
    assert len(sections) == len(board.patients)
    for patient, section in zip(board.patients, sections):
        shown = patient.plans.plans[:2] if patient.plans else ()
        assert section.count('<span class="plan-rank">') == len(shown), patient.slug
        titles = re.findall(r'<span class="plan-step" title="([^"·]+?)(?: ·[^"]*)?">', section)
        assert titles == [s.therapy for p in shown for s in p.steps], patient.slug


def test_the_vignettes_command_runs_the_plan_vignettes(capsys):
    code = main(["vignettes", "--plans"])
    out = capsys.readouterr().out
    assert code == 0 and f"{len(PLAN_VIGNETTES)} passed, 0 failed" in out


def test_plan_invariants_hold_under_a_policy_with_a_longer_interval():
    from mmsequence.policy import policy_from_mapping

    policy = policy_from_mapping({"interval": {"months": 9}}, "test policy", load_policy())
    assert check_plans(_naive(), policy) == []
    plans = evaluator_for(policy).plan(_naive(), 3)
    assert plans.plans[0].steps[2].not_before.months == 9


def test_a_relapse_placed_on_a_day_that_month_arithmetic_clips_reads_as_whole_months():
    """Step 1 on 29 February: its relapse placed 12 months on falls on 28 February, 18 months on on
    29 August; '+ 6 months' from each is a clipped day, and the plans must read the same either way
    (found by the random seed 3806672172)."""
    document = {"patient_id": "GEN-1", "as_of": "2016-02-29", "car_t_eligible": True,
                "lines": [{"agents": ["dexamethasone"], "start": "2016-01-01", "end": "2016-01-31"}],
                "candidates": ["teclistamab", "elranatamab", "linvoseltamab", "talquetamab"]}
    assert check_plans(document, steps=2) == []
    plans = evaluator_for(load_policy()).plan(copy.deepcopy(document), 2)
    later = [s.not_before for p in plans.plans for s in p.steps[1:] if s.not_before is not None]
    assert later and all(w.months is not None and w.days is None for w in later)
