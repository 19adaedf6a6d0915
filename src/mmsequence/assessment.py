"""The result of an evaluation: attrs classes whose ``to_dict()`` is the public JSON."""

from __future__ import annotations

import datetime
from typing import Any

import attrs


@attrs.frozen
class Finding:
    """One rule that fired for one candidate, with everything needed to explain it."""

    rule: str
    effect: str
    message: str
    evidence: str
    citation: str
    facts: dict[str, Any]
    earliest_date: datetime.date | None = None
    overridden: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule": self.rule, "effect": self.effect, "message": self.message,
            "evidence": self.evidence, "citation": self.citation, "facts": self.facts,
        }
        if self.earliest_date is not None:
            out["earliest_date"] = self.earliest_date.isoformat()
        if self.overridden is not None:
            out["overridden"] = self.overridden
        return out


@attrs.frozen
class CandidateAssessment:
    query: str
    therapy: str
    target: tuple[str, ...]
    modality: str
    verdict: str
    earliest_date: datetime.date | None
    rank: int
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "therapy": self.therapy, "target": list(self.target),
            "modality": self.modality, "verdict": self.verdict,
            "earliest_date": None if self.earliest_date is None else self.earliest_date.isoformat(),
            "rank": self.rank, "findings": [f.to_dict() for f in self.findings],
        }


@attrs.frozen
class Assessment:
    patient_id: str
    as_of: datetime.date
    ruleset: dict[str, Any]
    policy: dict[str, Any]
    derived: dict[str, Any]
    candidates: tuple[CandidateAssessment, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            "ruleset": self.ruleset,
            "policy": self.policy,
            "derived": self.derived,
            "candidates": [c.to_dict() for c in self.candidates],
            "warnings": list(self.warnings),
        }

    def candidate(self, name: str) -> CandidateAssessment:
        """The assessment of a candidate by the name the input used or its canonical name."""
        for c in self.candidates:
            if name in (c.query, c.therapy):
                return c
        raise KeyError(name)
