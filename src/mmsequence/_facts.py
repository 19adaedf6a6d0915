"""The engine's facts: the patient's course flattened into one ``patient`` fact and one
``candidate`` fact per candidate therapy.

durable_rules matches flat facts, so every value a rule tests or a message quotes is computed
here from the :class:`~mmsequence.course.PatientCourse`; nothing is derived again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .course import Candidate, Clock, Exposure, PatientCourse, any_of, tri

#: The fields of the facts the engine matches; rule files may name only these.
PATIENT_FIELDS = (
    "t", "sid", "car_t_eligible", "prior_lines", "tcrt_count", "tcrt_agents", "prior_car_t",
    "prior_car_t_agents", "apheresis", "apheresis_date", "unknown_agents", "unknown_agent_names",
    "jurisdiction", "exposed_pi", "exposed_imid", "exposed_anti_cd38", "triple_class_exposed",
    "lenalidomide_refractory", "progression_on_last", "soluble_bcma_known", "soluble_bcma_ng_ml",
)
CANDIDATE_FIELDS = (
    "t", "sid", "cid", "query", "known", "name", "modality", "tcrt", "status", "targets",
    "same_target_tcrt", "same_target_agents", "same_target_count", "same_target_bsab",
    "same_target_bsab_agents", "same_target_refractory", "same_target_refractory_agents",
    "same_target_car_t", "same_target_car_t_agents", "bcma", "bridging_same_target",
    "antigen_lost", "lost_targets", "reserve_left", "reserve_targets",
    "anchor", "anchor_kind", "anchor_event",
    "interval", "interval_from", "interval_last_dose", "interval_end",
    "interval_end_earliest", "interval_months",
    "washout", "washout_from", "washout_last_dose", "washout_end", "washout_end_earliest", "washout_days",
)


_ANCHOR_EVENTS = {
    "as-of": "the first dose, at the earliest on the evaluation date",
    "planned-apheresis": "the planned apheresis",
    "collected-apheresis": "the apheresis that collected the T cells",
}


@attrs.frozen
class Facts:
    """What the engine is given: the patient fact, and each candidate with its fact (by candidate id)."""

    patient: dict[str, Any]
    candidates: tuple[tuple[Candidate, dict[str, Any]], ...]


def _labels(exposures: Iterable[Exposure]) -> str:
    return ", ".join(e.label for e in exposures)


def _clock(name: str, clock: Clock, length: tuple[str, int]) -> dict[str, Any]:
    if clock.status == "none" or clock.source is None or clock.window is None:
        return {name: "none"}
    return {
        name: clock.status,
        f"{name}_from": clock.source.label,
        f"{name}_last_dose": "ongoing" if clock.last_dose is None else str(clock.last_dose),
        f"{name}_end": clock.window.latest.isoformat(),
        f"{name}_end_earliest": clock.window.earliest.isoformat(),
        length[0]: length[1],
    }


def _candidate_fact(cid: int, candidate: Candidate, course: PatientCourse) -> dict[str, Any]:
    agent = candidate.agent
    fact: dict[str, Any] = {"t": "candidate", "cid": cid, "query": candidate.query}
    if agent is None:
        return {**fact, "known": False, "name": candidate.query, "modality": "unknown", "tcrt": False}
    targets = set(agent.targets)
    same = course.same_target(agent)
    lost = course.lost
    reserve = course.reserve(agent)
    anchor, anchor_kind = course.anchor(agent)
    product = course.apheresis.product
    product_targets = set(product.targets) if product is not None else {"BCMA"}
    fact.update(
        known=True,
        name=agent.name,
        modality=agent.modality,
        tcrt=agent.is_tcrt,
        status=agent.status,
        targets=", ".join(agent.targets),
        bcma="BCMA" in targets,
        same_target_tcrt=bool(same),
        same_target_agents=_labels(same),
        same_target_count=len({e.line for e in same}),
        same_target_bsab=any(e.agent.modality == "bsab" for e in same),
        same_target_bsab_agents=_labels(e for e in same if e.agent.modality == "bsab"),
        same_target_refractory=any_of(e.refractory for e in same) if same else "no",
        same_target_refractory_agents=_labels(e for e in same if e.refractory == "yes"),
        same_target_car_t=any(e.agent.modality == "car-t" for e in same),
        same_target_car_t_agents=_labels(e for e in same if e.agent.modality == "car-t"),
        bridging_same_target=bool(targets & product_targets),
        antigen_lost=any(lost.get(t) is True for t in targets),
        lost_targets=", ".join(t for t in agent.targets if lost.get(t) is True),
        reserve_left=len(reserve),
        reserve_targets=", ".join(reserve) or "none",
        anchor=str(anchor),
        anchor_kind=anchor_kind,
        anchor_event=_ANCHOR_EVENTS[anchor_kind],
    )
    policy = course.policy
    fact.update(_clock("interval", course.interval(anchor), ("interval_months", policy.interval_months))
                if agent.is_tcrt else {"interval": "none"})
    fact.update(_clock("washout", course.washout(anchor), ("washout_days", policy.washout_days))
                if agent.modality != "conventional" else {"washout": "none"})
    return fact


def engine_facts(course: PatientCourse) -> Facts:
    """The patient fact and the candidate facts of one course."""
    soluble = course.history.biomarkers.soluble_bcma_ng_ml
    car_t = course.car_t
    patient = {
        "t": "patient",
        "car_t_eligible": tri(course.history.car_t_eligible),
        "prior_lines": course.prior_lines,
        "tcrt_count": len(course.tcrt),
        "tcrt_agents": _labels(course.tcrt) or "none",
        "prior_car_t": len(car_t),
        "prior_car_t_agents": _labels(car_t) or "none",
        "apheresis": course.apheresis.state,
        "apheresis_date": str(course.apheresis.date) if course.apheresis.date is not None else "not set",
        "unknown_agents": len(course.unknown),
        "unknown_agent_names": ", ".join(course.unknown) or "none",
        "jurisdiction": course.jurisdiction or "none",
        "soluble_bcma_known": soluble is not None,
        "soluble_bcma_ng_ml": soluble if soluble is not None else 0,
        **course.class_facts(),
    }
    candidates = tuple((c, _candidate_fact(i, c, course)) for i, c in enumerate(course.candidates))
    return Facts(patient=patient, candidates=candidates)
