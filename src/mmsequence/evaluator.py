"""One evaluation, end to end: document → history → facts → engine → findings → assessment."""

from __future__ import annotations

import datetime
import functools
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from . import __version__
from ._paths import rules_dir
from .assessment import Assessment, CandidateAssessment, Finding
from .catalog import Catalog, load_catalog
from .dates import PartialDate
from ._engine import Engine
from .errors import InputError
from ._facts import Facts, derive
from .history import Override, PatientHistory, parse_document, read_document
from .policy import Policy, check_catalog, load_policy
from .rulebook import Rule, Rulebook, load_rulebook
from .verdicts import SEVERITY, combine, rank_key


@functools.lru_cache(maxsize=None)
def _rulebook() -> Rulebook:
    return load_rulebook()


@functools.lru_cache(maxsize=None)
def _default_policy() -> Policy:
    return load_policy()


@functools.lru_cache(maxsize=None)
def _agents_digest() -> str:
    return hashlib.sha256((rules_dir() / "agents.yaml").read_bytes()).hexdigest()


@attrs.frozen
class _Knowledge:
    """Everything an evaluation needs from the rules and one policy, prepared once per policy."""

    rules: dict[str, Rule]
    engine: Engine
    catalog: Catalog
    ruleset: dict[str, Any]
    policy: dict[str, Any]


@functools.lru_cache(maxsize=32)
def _knowledge(policy: Policy) -> _Knowledge:
    """The active rules and their engine, the policy's catalog, and the digest of rules, catalog
    and policy together."""
    rulebook = _rulebook()
    rules = rulebook.active(policy)
    chosen = ",".join(f"{r.id}={r.effect}" for r in rules)
    key = hashlib.sha256(f"{rulebook.digest}\n{chosen}".encode()).hexdigest()
    digest = hashlib.sha256("\n".join((rulebook.digest, _agents_digest(), policy.digest)).encode()).hexdigest()
    return _Knowledge(
        rules={rule.id: rule for rule in rules},
        engine=Engine(rules, key),
        catalog=check_catalog(policy, load_catalog()),
        ruleset={"version": __version__, "digest": f"sha256:{digest}", "packs": list(policy.packs)},
        policy=policy.to_dict(),
    )


def _finding(rule: Rule, patient: dict[str, Any], candidate: dict[str, Any]) -> Finding:
    bound = {"patient": patient, "candidate": candidate}
    end = None
    if rule.earliest_date:
        binding, field = rule.earliest_date.split(".", 1)
        end = datetime.date.fromisoformat(bound[binding][field])
    return Finding(
        rule=rule.id,
        effect=rule.effect,
        message=rule.render(bound),
        evidence=rule.evidence,
        citation=rule.citation,
        facts=rule.quoted_facts(bound),
        earliest_date=end,
    )


def _apply_overrides(
    findings: dict[int, list[Finding]], facts: Facts, overrides: Iterable[Override], rulebook: Rulebook
) -> None:
    problems = []
    for i, override in enumerate(overrides):
        path = f"overrides[{i}]"
        cids = [cid for cid, (c, fact) in enumerate(facts.candidates) if override.candidate in (c.query, fact["name"])]
        rule = rulebook.get(override.rule)
        if rule is None:
            problems.append(f"{path}.rule: {override.rule!r} is not a rule id")
        elif rule.pack == "safety":
            problems.append(f"{path}.rule: {override.rule!r} is a safety rule and cannot be overridden")
        elif not cids:
            problems.append(f"{path}.candidate: {override.candidate!r} is not a candidate of this evaluation")
        else:
            hits = [j for j, f in enumerate(findings[cids[0]]) if f.rule == override.rule]
            if not hits:
                problems.append(f"{path}: rule {override.rule!r} did not fire for {override.candidate!r}")
            reason = {"reason": override.reason} | ({"note": override.note} if override.note else {})
            for j in hits:
                findings[cids[0]][j] = attrs.evolve(findings[cids[0]][j], overridden=reason)
    if problems:
        raise InputError(problems)


def evaluate(
    document: Mapping[str, Any] | str | Path | PatientHistory,
    as_of: datetime.date | str | None = None,
    policy: Policy | str | Path | None = None,
    overrides: Iterable[Override] = (),
) -> Assessment:
    """Assess every candidate therapy of one patient.

    ``document`` is a patient-history document (a mapping, or a path to a JSON file) or a
    parsed :class:`PatientHistory`. ``as_of`` defaults to the document's ``as_of``, else today.
    ``policy`` is a :class:`Policy` or a policy file; ``overrides`` add to the document's own.
    Raises :class:`~mmsequence.errors.InputError` for invalid or inconsistent input.
    """
    history = document if isinstance(document, PatientHistory) else parse_document(read_document(document))
    if isinstance(policy, Policy):
        active_policy = policy
    else:
        active_policy = _default_policy() if policy is None else load_policy(policy)
    when = _as_of(as_of, history)
    knowledge = _knowledge(active_policy)
    facts = derive(history, knowledge.catalog, active_policy, when)
    firings = knowledge.engine.run(facts.patient, [fact for _, fact in facts.candidates])
    findings: dict[int, list[Finding]] = {cid: [] for cid in range(len(facts.candidates))}
    for rule_id, cid in firings:
        findings[cid].append(_finding(knowledge.rules[rule_id], facts.patient, facts.candidates[cid][1]))
    _apply_overrides(findings, facts, (*history.overrides, *overrides), _rulebook())
    assessed = []
    for cid, (candidate, fact) in enumerate(facts.candidates):
        ordered = tuple(sorted(findings[cid], key=lambda f: (-SEVERITY.index(f.effect), f.rule)))
        verdict, earliest = combine(ordered)
        agent = candidate.agent
        assessed.append((
            rank_key(verdict, fact.get("same_target_tcrt", False), ordered, fact.get("reserve_left", 0), fact["name"]),
            CandidateAssessment(
                query=candidate.query,
                therapy=agent.name if agent else candidate.query,
                target=agent.targets if agent else (),
                modality=agent.modality if agent else "unknown",
                verdict=verdict,
                earliest_date=earliest,
                rank=0,
                findings=ordered,
            ),
        ))
    assessed.sort(key=lambda pair: pair[0])

    return Assessment(
        patient_id=history.patient_id,
        as_of=when,
        ruleset=_copy(knowledge.ruleset),
        policy=_copy(knowledge.policy),
        derived=facts.derived,
        candidates=tuple(attrs.evolve(c, rank=i + 1) for i, (_, c) in enumerate(assessed)),
        warnings=facts.warnings,
    )


def _copy(settings: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller may change: the settings hold one level of nested dicts and lists."""
    return {k: v.copy() if isinstance(v, (dict, list)) else v for k, v in settings.items()}


def _as_of(value: datetime.date | str | None, history: PatientHistory) -> datetime.date:
    if isinstance(value, datetime.datetime):  # a date too, but it cannot be compared with one
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if value is not None:
        try:
            day = PartialDate.parse(value)
        except ValueError as error:
            raise InputError([f"as_of: {error}"]) from None
        if day.precision != "day":
            raise InputError([f"as_of: {value!r} must be a full date (YYYY-MM-DD)"])
        return day.earliest
    return history.as_of or datetime.date.today()
