"""The shipped vignette suite: every vignette passes, and together they make every rule fire."""

import json

import pytest

from mmsequence import load_policy
from mmsequence._paths import vignettes_dir
from mmsequence.cli import main
from mmsequence.rulebook import shipped_rulebook
from mmsequence.testing.vignettes import run_vignette

PATHS = sorted(vignettes_dir().glob("*.json"))


def test_there_are_at_least_30_vignettes():
    assert len(PATHS) >= 30


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_vignette(path):
    result = run_vignette(path, load_policy())
    assert result.passed, result.mismatches


def test_every_rule_fires_in_some_vignette_and_is_absent_in_another():
    fired: dict[str, int] = {}
    for path in PATHS:
        for expected in json.loads(path.read_text(encoding="utf-8"))["expected"].values():
            for rule in expected.get("rules", ()):
                fired[rule] = fired.get(rule, 0) + 1
    candidates = sum(len(json.loads(p.read_text(encoding="utf-8"))["expected"]) for p in PATHS)
    rules = {rule.id for rule in shipped_rulebook().rules}
    assert rules - set(fired) == set()
    assert all(count < candidates for count in fired.values())


def test_a_failing_vignette_is_reported_and_fails_the_command(tmp_path, capsys):
    data = json.loads(PATHS[0].read_text(encoding="utf-8"))
    data["expected"]["cilta-cel"]["verdict"] = "avoid"
    (tmp_path / "broken.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["vignettes", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "broken  FAIL" in out and "cilta-cel: verdict 'preferred', expected 'avoid'" in out
    assert out.rstrip().endswith("0 passed, 1 failed")


def test_a_site_policy_changes_what_passes(tmp_path, capsys):
    policy = tmp_path / "site.yaml"
    policy.write_text("interval: {months: 3}\n")
    assert main(["vignettes", str(vignettes_dir() / "07-interval-wait.json"), "--policy", str(policy)]) == 1
    assert "earliest_date '2026-03-15', expected '2026-06-15'" in capsys.readouterr().out


def test_a_vignette_that_cannot_be_evaluated_fails_alone(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"rationale": "r", "document": {"patient_id": "x", "lines": [], "as_of": "2026-13-01"},
                                "expected": {}}), encoding="utf-8")
    result = run_vignette(path, load_policy())
    assert not result.passed and result.mismatches[0].startswith("not evaluated: as_of:")
