"""The result of an evaluation: attrs classes whose ``to_dict()`` is the public JSON."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .catalog import Catalog
from .policy import Policy

if TYPE_CHECKING:
    from .course import PatientCourse


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
class Ruleset:
    """The knowledge an assessment was made with: library version, digest of the rule files, the
    agent catalog and the policy together, and the packs that ran."""

    version: str
    digest: str
    packs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "packs": list(self.packs)}


@attrs.frozen
class Assessment:
    """Every candidate of one patient assessed on one day, with what the verdicts were made from:
    the typed ``policy``, its ``catalog`` and the patient's ``course`` (for adapters to read, never
    to rebuild)."""

    patient_id: str
    as_of: datetime.date
    ruleset: Ruleset
    policy: Policy
    derived: dict[str, Any]
    candidates: tuple[CandidateAssessment, ...]
    warnings: tuple[str, ...]
    catalog: Catalog = attrs.field(eq=False, repr=False)
    course: PatientCourse = attrs.field(eq=False, repr=False)
    #: What a reader must see first: drugs the catalog does not know, and what to add to the policy.
    notices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "as_of": self.as_of.isoformat(),
            **({"notices": list(self.notices)} if self.notices else {}),
            "ruleset": self.ruleset.to_dict(),
            "policy": self.policy.to_dict(),
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
