"""Controls named in docs/hazard-log.md that no other test verifies: rule-file checks and overrides."""

from pathlib import Path

import pytest
import yaml

from mmsequence import InputError, Override, evaluate
from mmsequence._paths import rules_dir
from mmsequence.catalog import load_catalog
from mmsequence.errors import RuleFileError
from mmsequence.rulebook import check_references, load_rulebook

from .builders import document, line

SWITCH = yaml.safe_load((rules_dir() / "review" / "switch-target.yaml").read_text(encoding="utf-8"))


def rule_problems(tmp_path: Path, **changes) -> list[str]:
    """Problems `rules --check` finds in the switch-target rule with ``changes`` applied."""
    (tmp_path / "review").mkdir(exist_ok=True)
    (tmp_path / "review" / "rule.yaml").write_text(yaml.safe_dump({**SWITCH, **changes}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_rulebook(tmp_path)
    return list(caught.value.problems)


CANDIDATE = {"$and": [{"t": "candidate"}, {"modality": "bsab"}]}


@pytest.mark.parametrize("when, expected", [
    ({"all": [{"patient": {"t": "patient"}}, {"candidate": {"$ne": {"modality": "car-t"}}}]}, "operator $ne is not allowed"),
    ({"all": [{"patient": {"t": "patient"}}, {"candidate": {"t": "candidate", "modality": "bsab"}}]}, "exactly one key"),
    ({"any": [{"patient": {"t": "patient"}}, {"candidate": CANDIDATE}]}, "negation and 'any' are not allowed"),
    ({"all": [{"patient": {"t": "patient"}}, {"candidate": {"$and": [{"t": "candidate"}, {"modalty": "bsab"}]}}]},
     "candidate has no field 'modalty'"),
    ({"all": [{"patient": {"t": "patient"}}]}, "must bind one 'candidate' and at most one 'patient'"),
], ids=["misspelt-operator", "two-keys", "any", "unknown-field", "no-candidate"])
def test_a_rule_condition_the_engine_would_misread_is_rejected(tmp_path, when, expected):
    assert any(expected in p for p in rule_problems(tmp_path, when=when))


def test_a_wait_rule_must_say_when_the_wait_ends(tmp_path):
    assert any("a wait rule must name the fact that gives its end date" in p for p in rule_problems(tmp_path, effect="wait"))


def test_an_interpretation_must_say_so_in_its_message(tmp_path):
    assert any("must say so in its message" in p for p in rule_problems(tmp_path, evidence="interpretation"))


def test_a_rule_naming_an_agent_the_catalog_does_not_know_is_rejected(tmp_path):
    when = {"all": [{"patient": {"t": "patient"}}, {"candidate": {"$and": [{"t": "candidate"}, {"name": "teclistamabb"}]}}]}
    (tmp_path / "review").mkdir()
    (tmp_path / "review" / "rule.yaml").write_text(yaml.safe_dump({**SWITCH, "when": when}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RuleFileError, match="'teclistamabb' is not a canonical agent name"):
        check_references(load_rulebook(tmp_path), load_catalog())


def test_the_shipped_rules_pass_their_own_checks():
    check_references(load_rulebook(), load_catalog())


def test_a_safety_rule_cannot_be_overridden():
    doc = document(line("ZX-9001", "2026-01-01", "2026-02-01"))
    with pytest.raises(InputError, match="is a safety rule and cannot be overridden"):
        evaluate(doc, overrides=[Override("safety.unknown-agent", "talquetamab", "no-alternative")])


def test_an_override_sets_one_finding_aside_and_keeps_it_on_record():
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")
    assessment = evaluate(doc, overrides=[Override("review.interval", "talquetamab", "rapid-progression")])
    talquetamab = assessment.candidate("talquetamab")
    assert (talquetamab.verdict, talquetamab.findings[0].overridden) == ("acceptable", {"reason": "rapid-progression"})


def test_an_override_needs_a_listed_reason_and_a_note_for_other():
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10",
                   overrides=[{"rule": "review.interval", "candidate": "talquetamab", "reason": "other"}])
    with pytest.raises(InputError, match=r"overrides\[0\].note: is required when reason is 'other'"):
        evaluate(doc)


def test_every_test_the_hazard_log_cites_exists():
    """A control whose verifying test was renamed or removed must not look verified."""
    import re
    from pathlib import Path

    tests = Path(__file__).parent
    log = (tests.parent / "docs" / "hazard-log.md").read_text(encoding="utf-8")
    missing, current = [], None
    for match in re.finditer(r"`(test_\w+\.py)?::([\w:]+)`|`(test_\w+\.py)`", log):
        file = match[1] or match[3]
        current = file or current
        if match[2] is None:
            continue
        source = (tests / current).read_text(encoding="utf-8")
        for name in match[2].split("::"):
            if not re.search(rf"^\s*(def|class) {name}\b", source, re.M):
                missing.append(f"{current}::{match[2]}")
    assert missing == []
