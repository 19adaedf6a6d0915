"""The shipped examples: each says what it shows, evaluates, and the README stays true to the rules."""

import json
from pathlib import Path

import pytest

from mmsequence import InputError, evaluate
from mmsequence.rulebook import shipped_rulebook

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example(path):
    assert json.loads(path.read_text(encoding="utf-8"))["comment"]
    if path.stem == "invalid":
        with pytest.raises(InputError):
            evaluate(path)
    else:
        assessment = evaluate(path)
        ranks = [c.rank for c in assessment.candidates]
        # best first; a candidate's rank counts the candidates above it, and equals share it
        assert ranks == [1 + sum(r < rank for r in ranks) for rank in ranks] and ranks == sorted(ranks)


def test_examples_make_every_review_and_safety_rule_fire():
    fired = {f.rule for p in EXAMPLES if p.stem != "invalid" for c in evaluate(p).candidates for f in c.findings}
    wanted = {r.id for r in shipped_rulebook().rules if r.pack in ("review", "safety")}
    assert wanted - fired == set()


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [r.id for r in shipped_rulebook().rules if f"`{r.id}`" not in readme] == []
