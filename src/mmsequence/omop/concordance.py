"""Concordance of one decision: was the therapy given the one the guidance ranked first?

Read from each candidate's rank, verdict and findings alone:

- ``concordant``: the therapy given was ranked first, or had the best-ranked candidate's verdict
  when that verdict is ``preferred`` or ``acceptable`` (an equal option, ranked second by name);
- ``discordant``: another candidate was ranked before it;
- ``indeterminate``: a finding for it is ``indeterminate`` (an unknown drug, a missing
  eligibility...), whatever its verdict: missing or unknown data is never counted either way;
- ``error``: its history could not be evaluated (``errors`` says why).

``against`` lists the rules whose findings restricted the therapy given (any effect but
``preferred`` and ``acceptable``) and were not overridden; ``overridden`` those set aside by an
override the site recorded.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..assessment import Assessment, CandidateAssessment
from ..errors import MmsequenceError
from ..evaluator import Evaluator
from ..notices import Notice
from ..vocabulary import FAVOURABLE
from .decisions import Decision

CONCORDANCE = ("concordant", "discordant", "indeterminate", "error")
#: The per-decision table: column names in order (lists of rule ids are joined with ``;``).
COLUMNS = ("person_id", "decision_date", "year", "line", "therapy", "modality", "targets", "rank", "verdict",
           "concordance", "best_ranked", "best_therapy", "best_verdict", "against", "overridden",
           "override_recorded", "candidates", "warnings", "errors")


def assess(evaluator: Evaluator, decision: Decision) -> dict[str, Any]:
    """The per-decision row (keys: COLUMNS)."""
    row: dict[str, Any] = {
        "person_id": decision.person_id, "decision_date": decision.day.isoformat(), "year": decision.day.year,
        "line": decision.line, "therapy": decision.therapy, "modality": "", "targets": "", "rank": None,
        "verdict": "", "concordance": "error", "best_ranked": False, "best_therapy": "", "best_verdict": "",
        "against": "", "overridden": "", "override_recorded": bool(decision.history.overrides),
        "candidates": len(decision.history.candidates or ()), "warnings": len(decision.history.warnings), "errors": "",
    }
    try:
        assessment = _evaluate(evaluator, decision)
    except MmsequenceError as error:
        row["errors"] = "; ".join(error.problems)
        return row
    given = assessment.candidate(decision.therapy)
    best = assessment.candidates[0]
    row.update(
        therapy=given.therapy, modality=given.modality, targets=";".join(given.target), rank=given.rank,
        verdict=given.verdict, concordance=_concordance(given, best), best_ranked=given.rank == 1,
        best_therapy=best.therapy, best_verdict=best.verdict,
        against=";".join(sorted({f.rule for f in given.against})),
        overridden=";".join(sorted({f.rule for f in given.findings if f.overridden is not None})),
        warnings=len(assessment.warnings),
    )
    return row


def _evaluate(evaluator: Evaluator, decision: Decision) -> Assessment:
    """The assessment; a recorded override of a rule that did not fire is dropped with a warning."""
    history = decision.history
    if not history.overrides:
        return evaluator.evaluate(history)
    plain = evaluator.evaluate(attrs.evolve(history, overrides=()))
    fired = {f.rule for f in plain.candidate(decision.therapy).findings}
    kept = tuple(o for o in history.overrides if o.rule in fired)
    dropped = [Notice("omop.override-not-fired", subject=Notice("omop.override-of", rule=o.rule), drug=decision.therapy)
               for o in history.overrides if o.rule not in fired]
    history = attrs.evolve(history, overrides=kept, warnings=(*history.warnings, *dropped))
    return evaluator.evaluate(history) if kept else attrs.evolve(plain, warnings=(*plain.warnings, *dropped))


def _concordance(given: CandidateAssessment, best: CandidateAssessment) -> str:
    if given.verdict == "indeterminate" or any(f.effect == "indeterminate" and f.overridden is None for f in given.findings):
        return "indeterminate"
    if given.rank == 1 or (given.verdict == best.verdict and given.verdict in FAVOURABLE):
        return "concordant"
    return "discordant"
