"""Named invariants of sequence plans: each is ``(document, plans) -> list of violations``.

They check the plans against :func:`mmsequence.evaluate` on histories the invariants extend
themselves, as the README's assumption charts them (:func:`mmsequence.testing.oracle.planned`'s
reading of it, never :mod:`mmsequence.plans`' own): the plans must say what ``evaluate`` says.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..catalog import TCRT_TARGETS, Catalog
from ..evaluator import evaluate, evaluator_for
from ..plan_text import plans_json
from ..plans import Plan, Plans
from ..policy import Policy
from . import reference
from .invariants import run_invariants

PlanInvariant = Callable[[Mapping[str, Any], Plans], list[str]]

#: How many plans the costlier invariants re-evaluate (best first).
CHECKED = 4


def extended_documents(document: Mapping[str, Any], order: list[str], plans: Plans,
                       months: list[int] | None = None) -> Iterator[tuple[dict[str, Any], datetime.date]]:
    """The document each step of ``order`` is judged on and its day, as the README's assumption charts
    the earlier steps (relapse 12 months after a step starts unless ``months`` are assumed)."""
    catalog = plans.first.catalog
    doc = copy.deepcopy(dict(document))
    day = plans.as_of
    for k, name in enumerate(order):
        doc["candidates"] = [c if isinstance(c, str) else c.to_dict() for c in plans.first.course.history.candidates or ()]
        yield copy.deepcopy(doc), day
        if k == len(order) - 1:
            return
        step = evaluate(copy.deepcopy(doc), as_of=day, policy=plans.first.policy).candidate(name)
        if k == 0:  # the overrides are the first step's; a line still given on the plan's day stops on it
            doc["overrides"] = []
            for line in doc.get("lines", []):
                if not line.get("end") and reference.Days.of(line["start"]).first <= plans.as_of and not _car_t(line, catalog):
                    line["end"] = plans.as_of.isoformat()
        therapy = reference.therapy(query_of(plans, name), catalog)
        car_t = step.modality == "car-t"
        start = step.earliest_date or day
        records = doc.setdefault("apheresis", [])
        if car_t and records and records[-1]["status"] == "planned" and records[-1].get("date"):
            start = max(start, reference.Days.of(records[-1]["date"]).first)
            records.pop()
        relapse = reference.add_months(start, months[k] if months else max(12, 2 * plans.first.policy.interval_months))
        agents = [a.name for a in therapy.agents] if therapy is not None else [name]
        doc["lines"].append({"agents": agents, "start": start.isoformat(), "end": (start if car_t else relapse).isoformat(),
                             "stop_reason": "progression", "progression": relapse.isoformat()})
        if car_t:
            records.append({"status": "done", "date": start.isoformat()})
        day = relapse


def query_of(plans: Plans, therapy: str) -> str:
    """The name the document gives a therapy (a regimen's '+' form or its name as written)."""
    return next((c.query for c in plans.first.candidates if c.therapy == therapy), therapy)


def _car_t(line: Mapping[str, Any], catalog: Catalog) -> bool:
    return any((agent := catalog.lookup(name)) is not None and agent.modality == "car-t" for name in line["agents"])


def _variants(plan: Plan) -> list[list[str]]:
    """The plan's order, and the order with the last alternative of every folded step."""
    lead = [s.therapy for s in plan.steps]
    other = [s.alternatives[-1] if s.alternatives else s.therapy for s in plan.steps]
    return [lead] if other == lead else [lead, other]


def steps_match_evaluate(document: Mapping[str, Any], plans: Plans) -> list[str]:
    """1. Every step of a plan has the verdict, the wait's outcome and the not-before day that
    ``evaluate`` gives it on the history extended with the earlier steps; the same holds with each
    folded step's alternative in its place (so folding hides no difference)."""
    violations = []
    for plan in plans.plans[:CHECKED]:
        for order in _variants(plan):
            for step, name, (doc, day) in zip(plan.steps, order, extended_documents(document, order, plans,
                                                                                   list(plans.months or []) or None)):
                got = evaluate(doc, as_of=day, policy=plans.first.policy).candidate(name)
                said = (step.verdict, step.then, step.not_before.day if step.not_before else None)
                if (got.verdict, got.then, got.earliest_date) != said:
                    violations.append(f"plan {plan.number} ({' → '.join(order)}), step {step.number}: says {said}, "
                                      f"evaluate gives {(got.verdict, got.then, got.earliest_date)}")
    return violations


def first_step_never_avoided(document: Mapping[str, Any], plans: Plans) -> list[str]:
    """2. A plan's first step (or a folded alternative) is never a candidate ``evaluate`` says to avoid."""
    today = evaluate(copy.deepcopy(dict(document)), as_of=plans.as_of, policy=plans.first.policy)
    avoided = {c.therapy for c in today.candidates if c.verdict == "avoid"}
    return [f"plan {p.number}: starts with {name}, which evaluate says to avoid"
            for p in plans.plans for name in (p.steps[0].therapy, *p.steps[0].alternatives) if name in avoided]


def reuse_says_why(document: Mapping[str, Any], plans: Plans) -> list[str]:
    """3. A step that re-uses a target while a candidate against an untouched target has the same
    verdict (and the same outcome of a wait) at that step says so, naming that target."""
    violations = []
    used_before = {t for e in plans.first.course.exposures for t in e.agent.targets
                   if e.agent.modality != "conventional" and t in TCRT_TARGETS}
    for plan in plans.plans[:CHECKED]:
        order = [s.therapy for s in plan.steps]
        touched = set(used_before)
        for step, (doc, day) in zip(plan.steps, extended_documents(document, order, plans, list(plans.months or []) or None)):
            targets = {t for t in step.target if t in TCRT_TARGETS}
            if targets & touched:
                at_step = evaluate(doc, as_of=day, policy=plans.first.policy)
                untouched = {t for c in at_step.candidates for t in c.target if t in TCRT_TARGETS and t not in touched
                             and c.therapy not in order[: step.number - 1] and (c.verdict, c.then) == (step.verdict, step.then)}
                if untouched - set(step.passed_over):
                    violations.append(f"plan {plan.number}, step {step.number}: re-uses {sorted(targets & touched)} "
                                      f"while {sorted(untouched)} is untouched with an equal verdict, and does not say so")
            touched |= targets
    return violations


def deterministic_and_order_independent(document: Mapping[str, Any], plans: Plans) -> list[str]:
    """4. The same document gives the same plans, byte for byte, and reversing the order of the
    candidates changes nothing."""
    evaluator = evaluator_for(plans.first.policy)
    candidates = list(plans.first.course.history.candidates or [])
    steps, months = plans.steps, list(plans.months) if plans.months else None
    again = evaluator.plan(copy.deepcopy(dict(document)), steps, plans.as_of, candidates, months)
    reversed_ = evaluator.plan(copy.deepcopy(dict(document)), steps, plans.as_of, candidates[::-1], months)
    violations = []
    if plans_json(again) != plans_json(plans):
        violations.append("planning the same document again gave different plans")
    if plans_json(reversed_) != plans_json(plans):
        violations.append("reversing the order of the candidates changed the plans")
    return violations


def relapse_day_immaterial(document: Mapping[str, Any], plans: Plans) -> list[str]:
    """5. With relapses unknown, the plans do not depend on where the evaluation places them: relapses
    placed half as far again after each step starts give the same plans, verdicts and relative dates."""
    if plans.months:
        return []
    evaluator = evaluator_for(plans.first.policy)
    candidates = list(plans.first.course.history.candidates or [])
    further = 3 * max(12, 2 * plans.first.policy.interval_months) // 2
    later = evaluator.plan(copy.deepcopy(dict(document)), plans.steps, plans.as_of, candidates, [further] * (plans.steps - 1))

    def shape(p: Plans) -> list[Any]:
        return [(plan.rank, [(s.therapy, s.alternatives, s.verdict, s.then, s.not_before_rules,
                              None if s.not_before is None else (s.not_before.relapse, s.not_before.months,
                                                                 s.not_before.days)) for s in plan.steps])
                for plan in p.plans]

    return [] if shape(later) == shape(plans) else [
        f"placing the relapses {further} months after each step starts changed the plans"]


PLAN_INVARIANTS: tuple[PlanInvariant, ...] = (
    steps_match_evaluate,
    first_step_never_avoided,
    reuse_says_why,
    deterministic_and_order_independent,
    relapse_day_immaterial,
)


def check_plans(document: Mapping[str, Any], policy: Policy | None = None, steps: int = 3,
                invariants: tuple[PlanInvariant, ...] = PLAN_INVARIANTS) -> list[str]:
    """Plan a document and run every plan invariant on it; each violation is prefixed by its invariant."""
    from ..policy import load_policy

    try:
        plans = evaluator_for(policy or load_policy()).plan(copy.deepcopy(dict(document)), steps)
    except Exception as error:  # noqa: BLE001 - a crash is what this looks for
        return [f"plan: raised {type(error).__name__}: {error}"]
    return run_invariants(invariants, document, plans)
