"""Rule files: the checks that catch a rule file edited wrongly."""

import shutil

import pytest

from mmsequence import RuleFileError
from mmsequence._paths import rules_dir
from mmsequence.catalog import load_catalog
from mmsequence.rulebook import check_references, load_rulebook


@pytest.fixture
def rules(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    return copy


def edit(rules, name: str, old: str, new: str) -> None:
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def problems(rules) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rulebook(rules)
    return list(caught.value.problems)


def test_shipped_rules_pass_every_check():
    rulebook = load_rulebook()
    check_references(rulebook, load_catalog())
    assert len({r.id for r in rulebook.rules}) == len(rulebook.rules)
    assert {r.pack for r in rulebook.rules} == {"safety", "review", "extended", "labels"}


@pytest.mark.parametrize(
    "name, old, new, message",
    [
        ("review/interval.yaml", "evidence: review", "evidence: strong", "evidence: 'strong' is not one of"),
        ("review/interval.yaml", "citation: ", "citations: ", "citation: is required"),
        ("review/reserve.yaml", "id: review.reserve", "id: review.switch-target", "is also used by"),
        ("review/reserve.yaml", "id: review.reserve", "id: extended.reserve", "must start with its pack name 'review.'"),
        ("review/switch-target.yaml", "{modality: bsab}", "{modality: bsab, tcrt: true}", "exactly one key (join with $and)"),
        ("review/interval.yaml", "$neq:", "$ne:", "operator $ne is not allowed"),
        ("review/switch-target.yaml", "{same_target_tcrt: true}", "{same_target: true}", "candidate has no field 'same_target'"),
        ("review/switch-target.yaml", "when:\n  all:", "when:\n  none:", "negation and 'any' are not allowed"),
        ("review/switch-target.yaml", "{candidate.same_target_agents}", "{candidate.nothing}", "'candidate.nothing' is not a known fact"),
        ("review/interval.yaml", "timing: {role: wait, date: candidate.interval_end, from: candidate.interval_from, to: candidate.anchor}\n",
         "", "a wait rule must name the fact"),
        ("review/interval.yaml", "timing: {role: wait,", "timing: {role: schedule,", "timing.role: schedule does not fit effect 'wait'"),
        ("extended/washout.yaml", "timing: {role: schedule, date: candidate.washout_end, from: candidate.washout_from, to: candidate.anchor}\n",
         "", "a schedule rule must give its timing"),
        ("extended/washout.yaml", "date: candidate.washout_end,", "date: candidate.washout_ends,", "timing.date: 'candidate.washout_ends' is not a known fact"),
        ("extended/washout.yaml", "timing: {role: schedule,", "timing: {role: later,", "timing.role: 'later' is not one of wait, schedule"),
        ("review/car-t-first-bsab.yaml", "depends_on: [patient.car_t_eligible]", "depends_on: [patient.prior_lines]",
         "depends_on: patient.prior_lines is not a fact the assessment can ask for"),
        ("safety/unknown-candidate.yaml", "asks: [classify-candidate]", "asks: [phone-the-ehr]", "asks: expected a list of action codes"),
        ("review/interval.yaml", "{candidate.interval_from:date}", "{candidate.interval_from:colour}", "':colour' is not a part of a reference"),
        ("review/reserve.yaml", "version: 2", "version: 2\nauthor: x", "author: unknown key"),
        ("safety/out-of-scope.yaml", "mmsequence interpretation", "our reading", "an interpretation rule must say so"),
        ("review/switch-target.yaml", "effect: caution", "effect: maybe", "effect: 'maybe' is not one of"),
        ("review/switch-target.yaml", "id: review.switch-target", "id: [", "not valid YAML"),
        ("review/interval.yaml", 'reason: "T-cell recovery after {interval_from:agent}"\n', "", "reason: is required"),
        ("review/interval.yaml", "after {interval_from:agent}", "after {washout_from:agent}",
         "reason: {washout_from} is not a fact the rule quotes"),
        ("review/interval.yaml", "after {interval_from:agent}", "after {interval_from:colour}", "reason: ':colour' is not a part"),
        ("review/interval.yaml", '  reason: "{interval_from:agent} 后的 T 细胞恢复"\n', "",
         "zh-CN: expected a mapping with a non-empty title, message and reason"),
        ("review/interval.yaml", '"{interval_from:agent} 后的 T 细胞恢复"', '"T 细胞恢复"', "zh-CN: reason: quotes other facts"),
    ],
)
def test_broken_rule_files_are_rejected_with_file_and_key(rules, name, old, new, message):
    edit(rules, name, old, new)
    found = problems(rules)
    assert any(message in p and name in p for p in found), found


def test_unknown_agent_name_in_a_condition(rules):
    edit(rules, "labels/talquetamab-us.yaml", "{name: talquetamab}", "{name: talquetamib}")
    with pytest.raises(RuleFileError, match="'talquetamib' is not a canonical agent name"):
        check_references(load_rulebook(rules), load_catalog())


def test_unknown_pack_folder(rules):
    (rules / "experimental").mkdir()
    shutil.copy(rules / "review" / "reserve.yaml", rules / "experimental" / "x.yaml")
    assert any("pack 'experimental' is not one of" in p for p in problems(rules))


def test_digest_changes_with_any_rule_file(rules):
    before = load_rulebook(rules).digest
    edit(rules, "review/reserve.yaml", "version: 2", "version: 3")
    assert load_rulebook(rules).digest != before
