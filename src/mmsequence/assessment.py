"""The result of an evaluation: attrs classes whose ``to_dict()`` is the public JSON."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .actions import Action
from .catalog import Catalog
from .gate import Gate
from .knowledge import Knowledge
from .messages import render
from .notices import codes
from .policy import Policy
from .ranking import RankReason
from .vocabulary import FAVOURABLE, CandidateModality, Effect, Verdict, effect_order, is_blocking, is_restrictive

if TYPE_CHECKING:
    from .course import PatientCourse
    from .rulebook import Rule


@attrs.frozen(eq=False, slots=False)  # made many times per assessment: faster without slots
class Finding:
    """One rule that fired for one candidate, with everything needed to explain it.

    A timing finding (``timing`` ``wait``: the T-cell recovery interval; ``schedule``: a scheduling
    constraint such as the washout) carries the day its reason ends (``earliest_date``) and what
    its clock runs from and to (``anchors``). ``missing`` names the facts the record leaves unknown
    that the finding depends on. ``message`` is given, or filled in from ``template`` and
    ``values`` when first read; ``facts`` and ``values`` are given, or read from the facts the rule
    fired on (``fired``) when first read (a compact batch record reads none of them).
    """

    rule: str
    effect: Effect
    _message: str | None = attrs.field(alias="message", repr=False)
    evidence: str
    citation: str
    _facts: dict[str, Any] | None = attrs.field(alias="facts", default=None, repr=False)
    earliest_date: datetime.date | None = None
    timing: str | None = None
    anchors: dict[str, Any] | None = None
    missing: tuple[str, ...] = ()
    overridden: dict[str, str] | None = None
    #: The message template in each language the rule is translated into, and the value of each of
    #: its placeholders, for outputs in another language (not part of the JSON).
    templates: tuple[tuple[str, str], ...] = attrs.field(default=(), eq=False, repr=False)
    _values: dict[str, Any] | None = attrs.field(alias="values", default=None, eq=False, repr=False)
    #: The rule's short reason phrase template by language, English first (not part of the JSON).
    reasons: tuple[tuple[str, str], ...] = attrs.field(default=(), eq=False, repr=False)
    #: The English message template, its placeholders filled from ``values`` when ``message`` is not given.
    template: str = attrs.field(default="", repr=False)
    #: The rule and the facts it fired on (``patient`` and ``candidate``), which ``facts`` and
    #: ``values`` are read from when they are not given.
    _fired: tuple[Rule, Mapping[str, Mapping[str, Any]]] | None = attrs.field(alias="fired", default=None, eq=False,
                                                                             repr=False)

    @functools.cached_property
    def facts(self) -> dict[str, Any]:
        """The facts the rule quotes, by field name."""
        if self._facts is not None:
            return self._facts
        return {} if self._fired is None else self._fired[0].quoted_facts(self._fired[1])

    @functools.cached_property
    def values(self) -> dict[str, Any]:
        """The value of each placeholder of the rule's message, by ``binding.field``."""
        if self._values is not None:
            return self._values
        return {} if self._fired is None else self._fired[0].placeholder_values(self._fired[1])

    @functools.cached_property
    def message(self) -> str:
        """The rule's message, its placeholders filled in."""
        if self._message is not None:
            return self._message
        bound: dict[str, dict[str, Any]] = {}
        for key, value in self.values.items():
            binding, field = key.split(".", 1)
            bound.setdefault(binding, {})[field] = value
        return render(self.template, bound)

    def _compared(self) -> tuple[Any, ...]:
        return (self.rule, self.effect, self.message, self.evidence, self.citation, self.facts, self.earliest_date,
                self.timing, self.anchors, self.missing, self.overridden)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Finding)
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def reason_template(self, language: str) -> str | None:
        """The rule's reason phrase in ``language`` (else English), placeholders unfilled."""
        return dict(self.reasons).get(language, self.reasons[0][1]) if self.reasons else None

    @property
    def sets_date(self) -> bool:
        """Whether the finding gives a not-before date: a wait or a scheduling constraint with its
        date, or a wait an unknown drug made indeterminate that keeps its date as a certain bound."""
        return self.earliest_date is not None and (
            self.effect in ("wait", "schedule") or (self.effect == "indeterminate" and self.timing == "wait"))

    def to_dict(self, shared: bool = True) -> dict[str, Any]:
        """``shared=False`` leaves out the evidence level and citation, the rule's own (a batch
        writes them once per rule, in its header)."""
        out: dict[str, Any] = {"rule": self.rule, "effect": self.effect, "message": self.message}
        if shared:
            out["evidence"] = self.evidence
            out["citation"] = self.citation
        out["facts"] = self.facts
        if self.timing is not None:
            out["timing"] = {"role": self.timing, "earliest_date": self.earliest_date.isoformat() if self.earliest_date else None,
                             "anchors": self.anchors}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.overridden is not None:
            out["overridden"] = self.overridden
        return out


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class CandidateAssessment:
    """One candidate: what the sequencing guidance says of it (``verdict``), and when it can start.

    ``earliest_date`` is the not-before date (None: nothing holds it back), set by the live timing
    findings named in ``earliest_date_set_by``, whatever the verdict; ``then`` is what a ``wait``
    becomes when the wait ends.
    """

    query: str
    therapy: str
    target: tuple[str, ...]
    modality: CandidateModality
    verdict: Verdict
    earliest_date: datetime.date | None
    rank: int
    findings: tuple[Finding, ...]
    then: Verdict | None = None
    earliest_date_set_by: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()  # a regimen's agents (empty for a single drug)
    #: The candidates it shares its rank with, and why it ranks above the next lower rank.
    rank_reason: RankReason = RankReason()

    @property
    def live(self) -> tuple[Finding, ...]:
        """The findings not overridden."""
        return tuple(f for f in self.findings if f.overridden is None)

    @property
    def deciding(self) -> tuple[Finding, ...]:
        """The live findings whose effect is the verdict: what decided it."""
        return tuple(f for f in self.live if f.effect == self.verdict)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The live findings that keep the option from being given now (wait, avoid, indeterminate)."""
        return tuple(f for f in self.live if is_blocking(f.effect))

    @property
    def against(self) -> tuple[Finding, ...]:
        """The live findings that say anything against the option (any effect but preferred and
        acceptable, a scheduling constraint included)."""
        return tuple(f for f in self.live if f.effect not in FAVOURABLE)

    @property
    def why_not_first(self) -> Finding | None:
        """The most restrictive live finding (caution or worse), first of equals; a scheduling
        finding (a not-before date that leaves the verdict alone) never is."""
        return max((f for f in self.live if is_restrictive(f.effect)), key=lambda f: effect_order(f.effect), default=None)

    def to_dict(self, shared: bool = True) -> dict[str, Any]:
        return {
            "query": self.query, "therapy": self.therapy, **({"agents": list(self.agents)} if self.agents else {}),
            "target": list(self.target), "modality": self.modality, "verdict": self.verdict, "then": self.then,
            "earliest_date": None if self.earliest_date is None else self.earliest_date.isoformat(),
            "earliest_date_set_by": list(self.earliest_date_set_by),
            "rank": self.rank, "rank_reason": self.rank_reason.to_dict(),
            "findings": [f.to_dict(shared) for f in self.findings],
        }


@attrs.frozen
class Ruleset:
    """The knowledge an assessment was made with: library version, digest of the rule files, the
    agent catalog and the policy together, the packs that ran, and when each part was last checked
    against its sources (``knowledge``)."""

    version: str
    digest: str
    packs: tuple[str, ...]
    knowledge: Knowledge = Knowledge()

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "packs": list(self.packs),
                "knowledge": self.knowledge.to_dict()}


@attrs.frozen
class Assessment:
    """Every candidate of one patient assessed on one day, what the team should record or do first
    (``actions``), and what the verdicts were made from: the typed ``policy``, its ``catalog`` and
    the patient's ``course`` (for adapters to read, never to rebuild). ``derived``, the course as
    data, is made from the course when first read."""

    patient_id: str
    as_of: datetime.date
    ruleset: Ruleset
    policy: Policy
    candidates: tuple[CandidateAssessment, ...]
    warnings: tuple[str, ...]
    catalog: Catalog = attrs.field(eq=False, repr=False)
    course: PatientCourse = attrs.field(eq=False, repr=False)
    actions: tuple[Action, ...] = ()
    #: Whether the record was assessed (a living myeloma patient's), and on what basis.
    gate: Gate = Gate("document")

    @functools.cached_property
    def derived(self) -> dict[str, Any]:
        """What the rules read, as data (:meth:`PatientCourse.summary`), with the FHIR resources each
        line came from and those not used for a FHIR record."""
        derived = self.course.summary()
        history = self.course.history
        if history.format == "fhir":
            derived["fhir"] = {"lines": history.line_sources(), "not_used": list(history.not_used)}
        return derived

    def to_dict(self, shared: bool = True) -> dict[str, Any]:
        """The public JSON; ``shared=False`` leaves out what every assessment of one evaluator
        shares: the ruleset and policy blocks and each rule's evidence level and citation (a batch
        writes them once, in its header)."""
        out: dict[str, Any] = {"patient_id": self.patient_id, "as_of": self.as_of.isoformat(),
                               "actions": [a.to_dict() for a in self.actions], "myeloma_gate": self.gate.to_dict()}
        if shared:
            out["ruleset"] = self.ruleset.to_dict()
            out["policy"] = self.policy.to_dict()
        out["derived"] = self.derived
        out["candidates"] = [c.to_dict(shared) for c in self.candidates]
        out["warnings"] = list(self.warnings)
        out["notices"] = codes(self.warnings)  # each warning's code and path, for a program
        return out

    @property
    def prior_lines(self) -> int:
        """The patient's prior lines of therapy, counted as IMWG lines (not records)."""
        return self.course.prior_lines

    @property
    def knowledge_reviewed(self) -> datetime.date | None:
        """The oldest day any part of the knowledge used was last checked against its sources."""
        return self.ruleset.knowledge.reviewed

    def candidate(self, name: str) -> CandidateAssessment:
        """The assessment of a candidate by the name the input used or its canonical name."""
        for c in self.candidates:
            if name in (c.query, c.therapy):
                return c
        raise KeyError(name)
