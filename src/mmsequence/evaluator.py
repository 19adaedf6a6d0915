"""The evaluator: built once from a policy, it reads histories and assesses their candidates.

history → course (derived once) → engine facts → findings → verdicts, not-before dates, ranks,
actions → :class:`Assessment`.

>>> evaluator = Evaluator(load_policy("site.yaml"))   # policy, its catalog, the active rules, the engine
>>> assessment = evaluator.evaluate(evaluator.read("patient.json"))
"""

from __future__ import annotations

import datetime
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ._caches import resettable
from ._engine import Engine
from ._facts import engine_facts
from ._paths import rules_dir
from ._version import __version__
from .actions import collect, gate_action
from .assessment import Assessment, CandidateAssessment, Finding, Ruleset
from .catalog import Catalog, load_catalog
from .course import Candidate, PatientCourse, derive_course
from .dates import PartialDate
from .documents import read_document
from .errors import InputError
from .fact_fields import LINE_AND_CLOCK_FIELDS
from .gate import myeloma_gate as gate_of
from .history import CandidateInput, Override, PatientHistory
from .knowledge import Knowledge, Reviewed, part_of, site_reviews
from .messages import not_confident_words
from .notices import Notice
from .policy import Policy, check_catalog, load_policy
from .ranking import Criterion, Standing, ranks, reasons, standing
from .rulebook import Rule, Rulebook, fields_used, shipped_rulebook
from .verdicts import combine, live, ranking_findings, tiers
from .vocabulary import TIERS, effect_order

if TYPE_CHECKING:
    from .plans import Plans


@functools.cache
def _agents_digest() -> str:
    return hashlib.sha256((rules_dir() / "agents.yaml").read_bytes()).hexdigest()


class Evaluator:
    """Everything an evaluation needs from one policy, prepared once: the policy, its catalog (the
    shipped agents plus the site's), the rules it runs and their engine.

    Build one per policy and reuse it (:func:`evaluator_for` keeps one per policy); it is safe to
    share between threads.
    """

    def __init__(self, policy: Policy | None = None, rulebook: Rulebook | None = None) -> None:
        self.policy = policy if policy is not None else load_policy()
        self.rulebook = rulebook if rulebook is not None else shipped_rulebook()
        active = self.rulebook.active(self.policy)
        self.rules: dict[str, Rule] = {rule.id: rule for rule in active}
        #: each rule's message template in each language it is translated into
        self._templates = {rule.id: tuple((lang, message) for lang, _, message in rule.translations) for rule in active}
        #: the actions each rule asks for, and the rules whose condition reads a fact that line
        #: counting or a clock decides
        self._asks = {rule.id: rule.asks for rule in active if rule.asks}
        self._on_lines = frozenset(rule.id for rule in active if {f for _, f in fields_used(rule)} & LINE_AND_CLOCK_FIELDS)
        self.criteria = self.rulebook.ranked_by(self.policy)
        self.catalog: Catalog = check_catalog(self.policy, load_catalog())
        chosen = ",".join(f"{r.id}={r.effect}" for r in active)
        self._engine = Engine(active, hashlib.sha256(f"{self.rulebook.digest}\n{chosen}".encode()).hexdigest())
        digest = hashlib.sha256("\n".join((self.rulebook.digest, _agents_digest(), self.policy.digest)).encode())
        self.knowledge = _knowledge(self.rulebook, active, self.catalog, self.policy)
        self.ruleset = Ruleset(__version__, f"sha256:{digest.hexdigest()}", self.policy.packs, self.knowledge)

    def read(self, source: Any, *, patient_id: str | None = None, candidates: list[str] | None = None) -> PatientHistory:
        """The history in a JSON document or a FHIR Bundle (a mapping, or a path to a file), its
        drugs named through this policy's catalog; see :func:`mmsequence.documents.read_document`."""
        return read_document(source, self.catalog, patient_id=patient_id, candidates=candidates,
                             observations=self.policy.observation_codes())

    def evaluate(
        self,
        history: PatientHistory | Mapping[str, Any] | str | Path,
        as_of: datetime.date | str | None = None,
        overrides: Iterable[Override] = (),
        myeloma_gate: bool | None = None,
    ) -> Assessment:
        """Assess every candidate therapy of one patient.

        ``history`` is a :class:`PatientHistory` or anything :meth:`read` takes. ``as_of`` defaults to
        the history's ``as_of``, else today; ``overrides`` add to the history's own. A record with no
        multiple myeloma diagnosis or with a recorded death is not assessed (no lines, no verdicts,
        one action) unless ``myeloma_gate`` is False (None: the policy's ``myeloma_gate``); see
        :mod:`mmsequence.gate`. Raises :class:`~mmsequence.errors.InputError` for invalid or
        inconsistent input.
        """
        history = self.read(history)
        when = _as_of(as_of, history)
        gate = gate_of(history, self.policy.myeloma_gate if myeloma_gate is None else myeloma_gate)
        if not gate.assessed:
            history = attrs.evolve(history, lines=(), apheresis=(), candidates=(), overrides=())
        course = derive_course(history, self.catalog, self.policy, when)
        facts = engine_facts(course)
        firings = self._engine.run(facts.patient, [fact for _, fact in facts.candidates])
        bound = [{"patient": facts.patient, "candidate": fact} for _, fact in facts.candidates]
        findings: dict[int, list[Finding]] = {cid: [] for cid in range(len(facts.candidates))}
        for rule_id, cid in firings:
            finding = _finding(self.rules[rule_id], self._templates[rule_id], bound[cid])
            findings[cid].append(_not_confident(finding, course) if course.unknown and rule_id in self._on_lines else finding)
        _apply_overrides(findings, facts.candidates, (*history.overrides, *overrides), self.rulebook)
        assessed = [_assess(candidate, bound[cid], findings[cid], self.criteria)
                    for cid, (candidate, _) in enumerate(facts.candidates)]
        ranked = _ranked(assessed, self.criteria)
        return Assessment(
            patient_id=history.patient_id,
            as_of=when,
            ruleset=self.ruleset,
            policy=self.policy,
            candidates=ranked,
            warnings=(*history.warnings, *course.warnings, *self.knowledge.warnings(when)),
            catalog=self.catalog,
            course=course,
            actions=collect(ranked, self._asks, course)
            if gate.action is None else (gate_action(gate.action, gate.records),),
            gate=gate,
        )

    def plan(self, history: PatientHistory | Mapping[str, Any] | str | Path, steps: int = 3,
             as_of: datetime.date | str | None = None, candidates: Sequence[CandidateInput] | None = None,
             months: Sequence[int] | None = None) -> Plans:
        """The orders of the next ``steps`` (2 or 3) therapies, each step judged by :meth:`evaluate` on
        the history extended with the earlier steps, ranked; see :mod:`mmsequence.plans`.
        ``candidates`` default to the history's, else every approved TCRT and TCRT regimen;
        ``months`` are assumed durations of the steps before the last (default: relapses unknown)."""
        from .plans import make_plans

        return make_plans(self, self.read(history), steps, as_of, candidates, months)


def _knowledge(rulebook: Rulebook, active: Iterable[Rule], catalog: Catalog, policy: Policy) -> Knowledge:
    """When the catalog and each pack the policy runs were last checked against their sources, with
    the site's own reviews (the policy's ``reviewed``)."""
    site = site_reviews(dict(policy.reviews))
    dated: list[tuple[str | None, Reviewed]] = [(None, catalog.reviewed)] if catalog.reviewed is not None else []
    dated += [(f"sources.{s.id}", attrs.evolve(catalog.reviewed, on=s.reviewed))
              for s in catalog.sources if catalog.reviewed is not None and s.reviewed < catalog.reviewed.on]
    parts = [part for part in (part_of("catalog", dated, site.get("catalog")),) if part is not None]
    return Knowledge((*parts, *rulebook.knowledge(active, site)))


@resettable
@functools.lru_cache(maxsize=32)
def evaluator_for(policy: Policy) -> Evaluator:
    """The evaluator of ``policy`` with the shipped rules, built on first use and kept."""
    return Evaluator(policy)


@resettable
@functools.cache
def _default_policy() -> Policy:
    return load_policy()


def evaluate(
    document: Mapping[str, Any] | str | Path | PatientHistory,
    as_of: datetime.date | str | None = None,
    policy: Policy | str | Path | None = None,
    overrides: Iterable[Override] = (),
    myeloma_gate: bool | None = None,
) -> Assessment:
    """Assess every candidate therapy of one patient: the one-line convenience over :class:`Evaluator`.

    ``document`` is a patient-history document or a FHIR Bundle (a mapping, or a path to a JSON
    file), or a parsed :class:`PatientHistory`. ``as_of`` defaults to the document's ``as_of``, else
    today. ``policy`` is a :class:`Policy` or a policy file; ``overrides`` add to the document's own.
    Raises :class:`~mmsequence.errors.InputError` for invalid or inconsistent input.
    """
    if not isinstance(policy, Policy):
        policy = _default_policy() if policy is None else load_policy(policy)
    return evaluator_for(policy).evaluate(document, as_of, overrides, myeloma_gate)


def _ranked(assessed: list[tuple[Standing, dict[str, Any]]], criteria: tuple[Criterion, ...]) -> tuple[CandidateAssessment, ...]:
    """Candidates best first, each with its rank and why it ranks there; equal standings share a
    rank and keep the order they were asked in."""
    ordered = sorted(assessed, key=lambda pair: pair[0].key)
    numbers = ranks([s for s, _ in ordered])
    why = reasons([(c["therapy"], s) for s, c in ordered], criteria, TIERS)
    return tuple(CandidateAssessment(**c, rank=n, rank_reason=r) for (_, c), n, r in zip(ordered, numbers, why))


def _assess(candidate: Candidate, bound: dict[str, dict[str, Any]], found: list[Finding],
            criteria: tuple[Criterion, ...]) -> tuple[Standing, dict[str, Any]]:
    """The candidate's standing for the ranking and its assessment but for the rank (given once ranked);
    ``bound`` holds the patient's and the candidate's facts."""
    ordered = tuple(sorted(found, key=lambda f: (-effect_order(f.effect), f.rule)))
    current = live(ordered)
    outcome = combine(current)
    agent = candidate.agent
    ranked_by = {**bound, "findings": ranking_findings(current)}
    return standing(tiers(outcome, current), criteria, ranked_by), {
        "query": candidate.query,
        "therapy": agent.name if agent else candidate.query,
        "target": agent.targets if agent else (),
        "modality": agent.modality if agent else "unknown",
        "verdict": outcome.verdict,
        "earliest_date": outcome.earliest_date,
        "findings": ordered,
        "then": outcome.then,
        "earliest_date_set_by": outcome.set_by,
        "agents": tuple(a.name for a in candidate.parts),
    }


def _fact(bound: dict[str, dict[str, Any]], ref: str | None) -> Any:
    if ref is None:
        return None
    binding, field = _split(ref)
    return bound[binding][field]


@functools.cache
def _split(ref: str) -> tuple[str, str]:
    """``binding.field`` as (binding, field)."""
    binding, field = ref.split(".", 1)
    return binding, field


def _not_confident(finding: Finding, course: PatientCourse) -> Finding:
    """An avoid or wait of a rule that reads line counting or clocks is indeterminate while a drug is unknown.

    A wait keeps its date as a lower bound (with its timing, so that its actions stay) when every
    unknown drug started before the last dose of every therapy that starts the interval's clock:
    such a drug cannot end a clock, only add a later one. Imprecise dates count as their worst case.
    """
    if finding.effect not in ("avoid", "wait"):
        return finding
    unknown = course.unknown_refs()
    bound = finding.earliest_date if finding.effect == "wait" and _bound_holds(course) else None
    return attrs.evolve(
        finding, effect="indeterminate", earliest_date=bound,
        message=not_confident_words(finding.message, finding.effect, unknown, bound),
        values={**finding.values, "not_confident": (finding.effect, unknown, bound)},
    )


def _bound_holds(course: PatientCourse) -> bool:
    """Whether every unknown drug's line started before the last dose of every exposure of a kind
    that starts the interval's clock (so that none of them can end one). Imprecise dates count as
    their worst case, the one that keeps the bound: a last dose as its latest possible day, as for
    the interval itself, and an unknown drug's start as its first possible day."""
    kinds = ("bsab", "car-t") if course.policy.interval_scope == "any-tcrt" else ("bsab",)
    doses = [e.last_dose(course.as_of).latest for e in course.exposures if e.agent.modality in kinds]
    return bool(doses) and all(course.lines[index].start.earliest < min(doses) for _, index in course.unknown)


def _finding(rule: Rule, templates: tuple[tuple[str, str], ...], bound: dict[str, dict[str, Any]]) -> Finding:
    timing = rule.timing
    return Finding(
        rule=rule.id,
        effect=rule.effect,
        message=None,
        template=rule.message,
        evidence=rule.evidence,
        citation=rule.citation,
        earliest_date=None if timing is None else datetime.date.fromisoformat(_fact(bound, timing.date)),
        timing=None if timing is None else timing.role,
        anchors=None if timing is None else {"from": _fact(bound, timing.start), "to": _fact(bound, timing.end)},
        missing=rule.missing(bound),
        templates=templates,
        reasons=rule.reasons,
        fired=(rule, bound),
    )


def _apply_overrides(
    findings: dict[int, list[Finding]], candidates: tuple[tuple[Candidate, dict[str, Any]], ...],
    overrides: Iterable[Override], rulebook: Rulebook,
) -> None:
    problems: list[str] = []
    for i, override in enumerate(overrides):
        path = f"overrides[{i}]"
        cids = [cid for cid, (c, fact) in enumerate(candidates) if override.candidate in (c.query, fact["name"])]
        rule = rulebook.get(override.rule)
        if rule is None:
            problems.append(Notice("input.not-a-rule", f"{path}.rule", rule=override.rule))
        elif rule.pack == "safety":
            problems.append(Notice("input.safety-rule", f"{path}.rule", rule=override.rule))
        elif not cids:
            problems.append(Notice("input.not-a-candidate", f"{path}.candidate", candidate=override.candidate))
        else:
            hits = [j for j, f in enumerate(findings[cids[0]]) if f.rule == override.rule]
            if not hits:
                problems.append(Notice("input.rule-not-fired", path, rule=override.rule, candidate=override.candidate))
            reason = {"reason": override.reason} | ({"note": override.note} if override.note else {})
            for j in hits:
                findings[cids[0]][j] = attrs.evolve(findings[cids[0]][j], overridden=reason)
    if problems:
        raise InputError(problems)


def _as_of(value: datetime.date | str | None, history: PatientHistory) -> datetime.date:
    if isinstance(value, datetime.datetime):  # a date too, but it cannot be compared with one
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if value is not None:
        try:
            day = PartialDate.parse(value)
        except ValueError as error:
            raise InputError([Notice("input.date", "as_of", problem=str(error))]) from None
        if day.precision != "day":
            raise InputError([Notice("input.full-date", "as_of", value=value)])
        return day.earliest
    return history.as_of or datetime.date.today()
