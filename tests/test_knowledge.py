"""Dated knowledge: every part carries when it was last checked against its sources, each assessment
reports it, an overdue review is a data warning (never a changed verdict), and rules --check fails
on anything undated."""

import shutil

import attrs
import pytest

from mmsequence import InputError, evaluate, load_policy
from mmsequence._paths import rules_dir
from mmsequence.catalog import knowledge_problems as catalog_problems
from mmsequence.catalog import load_catalog
from mmsequence.cli import main
from mmsequence.policy import policy_from_mapping
from mmsequence.render import to_text
from mmsequence.rulebook import load_rulebook, shipped_rulebook

from .builders import document, line

DOC = document(line("teclistamab", "2025-01-01", "2025-12-15"), jurisdiction="US", candidates=["talquetamab", "Tec-Dara"])


def test_every_shipped_part_rule_and_agent_is_dated_and_sourced():
    rulebook = shipped_rulebook()
    assert [p.name for p in rulebook.packs] == ["safety", "review", "extended", "labels"]
    assert all(rulebook.reviewed(rule) is not None for rule in rulebook.rules)
    assert all(rule.reviewed is not None for rule in rulebook.rules if rule.pack == "labels")
    catalog = load_catalog()
    assert catalog_problems(catalog) == []
    assert all(agent.sources for agent in catalog.agents) and all(r.sources for r in catalog.regimens)


def test_each_assessment_reports_when_its_knowledge_was_checked():
    assessment = evaluate(DOC, as_of="2026-12-01")
    knowledge = assessment.to_dict()["ruleset"]["knowledge"]
    assert [p["part"] for p in knowledge["parts"]] == ["catalog", "safety", "review", "extended", "labels"]
    assert knowledge["reviewed"] == min(p["reviewed"] for p in knowledge["parts"])
    assert knowledge["review_due"] == min(p["review_due"] for p in knowledge["parts"])
    labels = knowledge["parts"][-1]
    assert "labels.talquetamab-us" in labels["entries"]  # a rule whose own date is the oldest
    assert f"Knowledge last checked against its sources on {knowledge['reviewed']}" in to_text(assessment)
    assert not any(w.startswith("knowledge:") for w in assessment.warnings)


def test_evaluating_after_a_review_was_due_warns_and_changes_no_verdict():
    evaluator_knowledge = evaluate(DOC, as_of="2026-12-01").ruleset.knowledge
    due = evaluator_knowledge.due
    before, after = evaluate(DOC, as_of=due.isoformat()), evaluate(DOC, as_of=due.replace(year=due.year + 1).isoformat())
    assert not any(w.startswith("knowledge:") for w in before.warnings)
    late = [w for w in after.warnings if w.startswith("knowledge:")]
    assert late and any("the labels rules" in w and "labels.tec-dara-us" in w for w in late)
    # a year later the interval is long over: compare the verdicts at the same day, with and without the review due
    shifted = attrs.evolve(load_policy(), reviews=(("catalog", after.as_of.isoformat()), ("extended", after.as_of.isoformat()),
                                                   ("labels", after.as_of.isoformat()), ("review", after.as_of.isoformat()),
                                                   ("safety", after.as_of.isoformat())))
    reviewed = evaluate(DOC, as_of=after.as_of, policy=shifted)
    assert not any(w.startswith("knowledge:") for w in reviewed.warnings)
    assert [c.to_dict() for c in reviewed.candidates] == [c.to_dict() for c in after.candidates]


def test_a_site_records_its_own_review_in_its_policy(tmp_path):
    policy = policy_from_mapping({"reviewed": {"labels": "2027-03-10"}}, "site.yaml", load_policy())
    assert policy.to_dict()["reviewed"] == {"labels": "2027-03-10"}
    labels = evaluate(DOC, policy=policy).ruleset.knowledge.parts[-1]
    assert (labels.site_reviewed.isoformat(), labels.due.isoformat()) == ("2027-03-10", "2027-06-10")
    assert load_policy().digest == policy_from_mapping({}, "empty", load_policy()).digest


@pytest.mark.parametrize("reviewed, problem", [
    ({"labelz": "2027-01-01"}, "site.yaml: reviewed.labelz: not one of catalog, safety, review, extended, labels"),
    ({"labels": "2027-01"}, "site.yaml: reviewed.labels: '2027-01' is not a date (YYYY-MM-DD)"),
    ("2027-01-01", "site.yaml: reviewed: expected a mapping"),
])
def test_a_bad_site_review_is_an_error_naming_the_key(reviewed, problem):
    with pytest.raises(InputError) as raised:
        policy_from_mapping({"reviewed": reviewed}, "site.yaml", load_policy())
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


@pytest.fixture
def rules(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    return copy


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("change, problem", [
    (lambda r: _edit(r / "labels" / "tec-dara-us.yaml", "reviewed: 2026-12-01\n", ""),
     "labels/tec-dara-us.yaml: reviewed: missing (each rule of the labels pack carries the day"),
    (lambda r: (r / "review" / "_pack.yaml").unlink(), "review/_pack.yaml: missing"),
    (lambda r: _edit(r / "agents.yaml", "    source: guidance-notes-agents\n", ""),
     "agents.yaml: agents[0] (teclistamab).source: missing"),
    (lambda r: _edit(r / "agents.yaml", "source: majestec-3}", "source: majestec-9}"),
     "agents.yaml: regimens[29] (teclistamab and daratumumab).source: 'majestec-9' is not a source"),
    (lambda r: _edit(r / "agents.yaml", "reviewed: 2026-12-01\nreview_every_months: 6\n", ""),
     "agents.yaml: reviewed: missing"),
])
def test_rules_check_fails_on_a_rule_or_agent_without_a_source_or_date(rules, capsys, change, problem):
    assert main(["rules", "--check", "--rules-dir", str(rules)]) == 0
    capsys.readouterr()
    change(rules)
    assert main(["rules", "--check", "--rules-dir", str(rules)]) == 1
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize("old, new, problem", [
    ("reviewed: 2026-12-01\n", "reviewed: 2026-12\n", "labels/tec-dara-us.yaml: reviewed: '2026-12' is not a date"),
    ("reviewed: 2026-12-01\n", "reviewed: 2026-12-01\nreview_every_months: 0\n",
     "labels/tec-dara-us.yaml: review_every_months: 0 is not a whole number of months from 1 to 36"),
])
def test_a_malformed_date_is_a_rule_file_error(rules, old, new, problem):
    _edit(rules / "labels" / "tec-dara-us.yaml", old, new)
    with pytest.raises(Exception) as raised:
        load_rulebook(rules)
    assert any(p.startswith(problem) for p in raised.value.problems)


def test_rules_knowledge_lists_what_is_due(capsys):
    due = shipped_rulebook().pack("labels").reviewed.due
    assert main(["rules", "--knowledge", "--as-of", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("part") and "pack labels" in out and "  labels.tec-dara-us" in out and "DUE" not in out
    assert main(["rules", "--knowledge", "--as-of", due.replace(year=due.year + 1).isoformat()]) == 1
    assert "DUE" in capsys.readouterr().out
