"""Plan vignettes: patient histories with a pinned date and the sequence plans a clinician expects.

A plan vignette file (JSON, under ``examples/plan-vignettes``) holds ``rationale``, ``document`` (a
patient-history document with ``as_of``), optional ``steps`` (2 or 3, default 3), ``candidates``,
``months`` (assumed durations) and ``policy`` (policy keys layered over the policy in use), and
``expected``:

- ``best``: a plan of rank 1 must match: ``steps``, each ``therapy`` (the step's therapy or one of
  its alternatives, by any name the catalog knows) and ``verdict``, optionally ``then``,
  ``not_before`` (as the JSON writes it: a day, or ``relapse 1 + 6 months``) and
  ``not_before_rules``; optionally the plan's ``car_t_first`` (true, false or null);
- ``plans``: orders of therapies (``order``) with, for the offered plan of that order, its
  ``verdicts``, ``rank`` or ``car_t_first``; ``offered: false`` says no offered plan begins so;
- ``never``: therapies no offered plan holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..documents import load_json
from ..errors import InputError, MmsequenceError
from ..evaluator import evaluator_for
from ..plans import Plan, Plans, PlanStep, When
from ..policy import Policy, load_policy, policy_from_mapping
from .vignettes import VignetteResult, vignette_paths

_KEYS = ("rationale", "document", "steps", "candidates", "months", "policy", "expected")
_EXPECTED = ("best", "plans", "never")


def _load(path: Path) -> dict[str, Any]:
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError([f"{path}: expected a JSON object"])
    problems = [f"{path}: {key}: unknown field" for key in data if key not in _KEYS]
    problems += [f"{path}: {key}: is required" for key in ("rationale", "document", "expected") if key not in data]
    problems += [f"{path}: expected.{key}: unknown field" for key in data.get("expected", {}) if key not in _EXPECTED]
    if problems:
        raise InputError(problems)
    return data


def when_text(when: When | None) -> str | None:
    """A step's day as a vignette writes it: the day, or 'relapse 1 + 6 months'."""
    if when is None:
        return None
    return when.day.isoformat() if when.relapse == 0 or when.assumed else when.words()


def _names(step: PlanStep) -> set[str]:
    return {step.therapy, *step.alternatives}


def _canonical(name: str, catalog: Catalog) -> str:
    agent = catalog.lookup(name)
    if agent is not None:
        return agent.name
    regimen = catalog.regimen_named(name)
    return regimen.name if regimen is not None else name


def _follows(plan: Plan, order: Sequence[str]) -> bool:
    return len(plan.steps) >= len(order) and all(name in _names(s) for s, name in zip(plan.steps, order))


def _step_mismatches(step: PlanStep, wanted: dict[str, Any], catalog: Catalog) -> list[str]:
    actual = {"therapy": _canonical(wanted["therapy"], catalog) if _canonical(wanted["therapy"], catalog) in _names(step)
              else step.therapy, "verdict": step.verdict, "then": step.then, "not_before": when_text(step.not_before),
              "not_before_rules": list(step.not_before_rules)}
    return [f"step {step.number}: {key} {actual[key]!r}, expected {value!r}" for key, value in wanted.items()
            if (_canonical(value, catalog) if key == "therapy" else value) != actual[key]]


def _best_mismatches(plan: Plan, best: dict[str, Any], catalog: Catalog) -> list[str]:
    if len(plan.steps) != len(best["steps"]):
        return [f"{len(plan.steps)} steps, expected {len(best['steps'])}"]
    found = [m for s, w in zip(plan.steps, best["steps"]) for m in _step_mismatches(s, w, catalog)]
    if "car_t_first" in best and plan.car_t_first != best["car_t_first"]:
        found.append(f"car_t_first {plan.car_t_first!r}, expected {best['car_t_first']!r}")
    return found


def plan_mismatches(plans: Plans, expected: dict[str, Any], catalog: Catalog) -> list[str]:
    """Every way the plans differ from what the vignette expects."""
    mismatches = []
    if "best" in expected:
        best = expected["best"]
        tries = [_best_mismatches(p, best, catalog) for p in plans.plans if p.rank == 1]
        if not tries:
            mismatches.append("best: no plan is offered")
        elif all(tries):
            closest: list[str] = min(tries, key=len)
            mismatches.append(f"best: no plan of rank 1 matches; the closest: {'; '.join(closest)}")
    for wanted in expected.get("plans", []):
        order = [_canonical(n, catalog) for n in wanted["order"]]
        found = [p for p in plans.plans if _follows(p, order)]
        if not wanted.get("offered", True):
            mismatches += [f"{' → '.join(order)}: offered as plan {p.number}, expected not offered" for p in found[:1]]
            continue
        exact = [p for p in found if len(p.steps) == len(order)]
        if not exact:
            mismatches.append(f"{' → '.join(order)}: not offered")
            continue
        plan = exact[0]
        if "verdicts" in wanted and [s.verdict for s in plan.steps] != wanted["verdicts"]:
            mismatches.append(f"{' → '.join(order)}: verdicts {[s.verdict for s in plan.steps]!r}, expected {wanted['verdicts']!r}")
        for key in ("rank", "car_t_first"):
            if key in wanted and getattr(plan, key) != wanted[key]:
                mismatches.append(f"{' → '.join(order)}: {key} {getattr(plan, key)!r}, expected {wanted[key]!r}")
    for name in expected.get("never", []):
        holding = [p for p in plans.plans if any(_canonical(name, catalog) in _names(s) for s in p.steps)]
        mismatches += [f"{name}: in plan {p.number}, expected in no plan" for p in holding[:1]]
    return mismatches


def run_plan_vignette(path: Path, base: Policy) -> VignetteResult:
    """Make the plans of one vignette and compare them with what it expects."""
    data = _load(path)
    policy = policy_from_mapping(data["policy"], f"{path.name}: policy", base) if "policy" in data else base
    evaluator = evaluator_for(policy)
    try:
        plans = evaluator.plan(data["document"], steps=data.get("steps", 3), candidates=data.get("candidates"),
                               months=data.get("months"))
    except MmsequenceError as error:
        return VignetteResult(path.stem, data["rationale"], tuple(f"not planned: {p}" for p in error.problems))
    return VignetteResult(path.stem, data["rationale"], tuple(plan_mismatches(plans, data["expected"], evaluator.catalog)))


def run_plan_vignettes(sources: list[Path], policy_path: str | Path | None = None) -> list[VignetteResult]:
    base = load_policy(policy_path)
    return [run_plan_vignette(path, base) for path in vignette_paths(sources)]
