"""The public API as a user's strictly typed code calls it (the README's examples). CI checks this
file with ``mypy --strict`` against the installed package, as a user's type checker sees it."""

from __future__ import annotations

import datetime

from mmsequence import Evaluator, InputError, evaluate, load_policy

assessment = evaluate("examples/tb-014.json", as_of="2026-01-10")
actions: list[str] = [a.text for a in assessment.actions]
for c in assessment.candidates:
    rank: int = c.rank
    verdict: str = c.verdict
    earliest: datetime.date | None = c.earliest_date
    rules: list[str] = [f.rule for f in c.findings]
document: dict[str, object] = assessment.to_dict()

evaluator = Evaluator(load_policy("examples/policies/site-example.yaml"))
history = evaluator.read("examples/fhir/coded-drugs.json")
again = evaluator.evaluate(history, as_of="2026-01-10")
try:
    evaluate({"patient_id": "P", "lines": [{"agents": ["teclistamab"], "start": "2025-13-01"}]})
except InputError as error:
    problems: list[str] = list(error.problems)
