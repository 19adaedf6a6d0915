"""The engine's facts: the patient's course flattened into one ``patient`` fact and one
``candidate`` fact per candidate therapy.

durable_rules matches flat facts, so every value a rule tests is computed here from the
:class:`~mmsequence.course.PatientCourse`; nothing is derived again. The fields and their types are
:mod:`mmsequence.fact_fields`'s (the rule schema). Values a message only quotes
may be references (a line, an exposure, a last dose, a date, an event: see
:mod:`mmsequence.course`); no rule condition reads them, so they never reach the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .catalog import Agent
from .course import Anchor, Candidate, Clock, Exposure, PatientCourse, any_of, date_ref, event_ref, tri

#: Apheresis states that record a collection planned or done for a CAR-T still to come.
_CAR_T_UNDER_WAY = {"pending": "planned-apheresis", "collected": "collected-apheresis"}


@attrs.frozen
class Facts:
    """What the engine is given: the patient fact, and each candidate with its fact (by candidate id)."""

    patient: dict[str, Any]
    candidates: tuple[tuple[Candidate, dict[str, Any]], ...]


def _exposures(course: PatientCourse, exposures: Iterable[Exposure]) -> list[dict[str, Any]]:
    return [course.exposure_ref(e) for e in exposures]


def _left_open(exposures: Iterable[Exposure], refractory: str) -> list[Exposure]:
    """The exposures whose refractoriness a date known only to the month or year leaves open, while
    ``refractory`` (theirs together) is unknown: none is certain."""
    return [e for e in exposures if e.refractory_open is not None] if refractory == "unknown" else []


def _clock(name: str, clock: Clock, source: dict[str, Any] | None, length: tuple[str, int]) -> dict[str, Any]:
    if clock.status == "none" or clock.window is None:
        return {name: "none"}
    return {
        name: clock.status,
        f"{name}_from": source,
        f"{name}_exact": clock.exact,
        f"{name}_end": clock.window.latest.isoformat(),
        f"{name}_end_earliest": clock.window.earliest.isoformat(),
        length[0]: length[1],
    }


@attrs.define
class _Shared:
    """What candidates of one course with the same targets, or the same anchor, have in common:
    made for the first of them, reused for the others (read-only)."""

    course: PatientCourse
    _by_targets: dict[tuple[str, ...], tuple[tuple[Exposure, ...], dict[str, Any]]] = attrs.field(factory=dict)
    _before: dict[tuple[tuple[str, ...], Anchor], dict[str, Any]] = attrs.field(factory=dict)
    _clocks: dict[tuple[str, Anchor], dict[str, Any]] = attrs.field(factory=dict)

    def same_target(self, agent: Agent) -> tuple[tuple[Exposure, ...], dict[str, Any]]:
        """Earlier TCRTs against any target of ``agent``, and the facts that read only them."""
        found = self._by_targets.get(agent.targets)
        if found is None:
            course = self.course
            same = course.same_target(agent)
            found = self._by_targets[agent.targets] = same, {
                "same_target_tcrt": bool(same),
                "same_target_agents": _exposures(course, same),
                "same_target_count": len({e.line for e in same}),
                "same_target_car_t": any(e.agent.modality == "car-t" for e in same),
                "same_target_car_t_agents": _exposures(course, (e for e in same if e.agent.modality == "car-t")),
                "same_targets": ", ".join(t for t in agent.targets if any(t in e.agent.targets for e in same)) or "none",
            }
        return found

    def before(self, agent: Agent, same: tuple[Exposure, ...], anchor: Anchor) -> dict[str, Any]:
        """The same-target bsAbs given before the anchor: a bsAb given after the T cells were
        collected did not touch the cells the CAR-T is made of."""
        key = (agent.targets, anchor)
        found = self._before.get(key)
        if found is None:
            bsabs = tuple(e for e in same if e.agent.modality == "bsab" and e.start.after(anchor[0]) is not True)
            found = self._before[key] = {"same_target_bsab": bool(bsabs),
                                         "same_target_bsab_agents": _exposures(self.course, bsabs)}
        return found

    def clock(self, kind: str, anchor: Anchor) -> dict[str, Any]:
        """The facts of the interval or the washout clock up to ``anchor``."""
        key = (kind, anchor)
        found = self._clocks.get(key)
        if found is None:
            course, policy = self.course, self.course.policy
            if kind == "interval":
                clock = course.interval(anchor[0])
                source = None if clock.source is None else course.dose_ref(clock.source)
                found = _clock("interval", clock, source, ("interval_months", policy.interval_months))
            else:
                clock = course.washout(anchor[0])
                source = None if clock.source is None else {**course.dose_ref(clock.source), "agent": None}  # the line's last dose
                found = _clock("washout", clock, source, ("washout_days", policy.washout_days))
            self._clocks[key] = found
        return found


def _candidate_fact(cid: int, candidate: Candidate, course: PatientCourse, shared: _Shared) -> dict[str, Any]:
    agent = candidate.agent
    if agent is None:
        return {"t": "candidate", "cid": cid, "query": candidate.query, "known": False, "name": candidate.query,
                "modality": "unknown", "tcrt": False}
    targets = set(agent.targets)
    anchored = course.anchor(agent)
    anchor, anchor_kind = anchored
    same, same_facts = shared.same_target(agent)
    # a regimen is its agents: re-treatment is with the ones that are directed at a target (a TCRT,
    # an ADC), and the same target is another agent's
    if candidate.parts:
        parts = {a.name for a in candidate.parts}
        directed = {a.name for a in candidate.parts if a.is_tcrt or a.modality == "adc"}
    else:
        parts = directed = {agent.name}
    others = tuple(e for e in same if e.agent.name not in parts)
    itself = course.exposures_to(directed)
    refractory_to_agent = any_of(e.refractory for e in itself) if itself else "no"
    left_open = _left_open(itself, refractory_to_agent)
    same_target_refractory = any_of(e.refractory for e in others) if others else "no"
    others_open = _left_open(others, same_target_refractory)
    lost = course.lost
    reserve = course.reserve(agent)
    product = course.apheresis.product
    product_targets = set(product.targets) if product is not None else {"BCMA"}
    return {
        "t": "candidate",
        "cid": cid,
        "query": candidate.query,
        "known": True,
        "name": agent.name,
        "modality": agent.modality,
        "tcrt": agent.is_tcrt,
        "status": agent.status,
        "targets": ", ".join(agent.targets),
        "bcma": "BCMA" in targets,
        **same_facts,
        **shared.before(agent, same, anchored),
        "same_target_refractory": same_target_refractory,
        "same_target_refractory_agents": _exposures(course, (e for e in others if e.refractory == "yes")),
        "same_target_refractory_open": bool(others_open),
        "same_target_refractory_open_lines": _exposures(course, others_open),
        "refractory_to_agent": refractory_to_agent,
        "refractory_agent_lines": _exposures(course, (e for e in itself if e.refractory == "yes")),
        "refractory_open": bool(left_open),
        "refractory_open_lines": _exposures(course, left_open),
        "regimen": bool(candidate.parts),
        "bridging_same_target": bool(targets & product_targets),
        "antigen_lost": any(lost.get(t) is True for t in targets),
        "lost_targets": ", ".join(t for t in agent.targets if lost.get(t) is True),
        "reserve_left": len(reserve),
        "reserve_targets": ", ".join(reserve) or "none",
        "anchor": (event_ref("apheresis" if agent.modality == "car-t" else "first-dose", anchor) if anchor_kind == "as-of"
                   else event_ref(anchor_kind, anchor, course.apheresis_field)),
        "anchor_kind": anchor_kind,
        "available": agent.available_in(course.jurisdiction) if course.jurisdiction else True,
        **(shared.clock("interval", anchored) if agent.is_tcrt else {"interval": "none"}),
        **(shared.clock("washout", anchored) if agent.modality != "conventional" else {"washout": "none"}),
    }


def _car_t_option(course: PatientCourse) -> bool:
    """Whether an approved CAR-T on the market in the patient's jurisdiction targets no antigen the
    record says is lost (the review's CAR-T first applies where a CAR-T is an option)."""
    return any(a.modality == "car-t" and not any(course.lost.get(t) is True for t in a.targets)
               for a in course.catalog.approved_tcrts(course.jurisdiction))


def engine_facts(course: PatientCourse) -> Facts:
    """The patient fact and the candidate facts of one course."""
    soluble = course.history.biomarkers.soluble_bcma_ng_ml
    car_t = course.car_t
    apheresis = course.apheresis
    classes = course.class_facts()
    anti_cd38 = [e for e in course.exposures if e.agent.drug_class == "anti-cd38"]
    anti_cd38_open = _left_open(anti_cd38, classes["anti_cd38_refractory"])
    bendamustine = course.exposures_to({"bendamustine"})
    patient = {
        "t": "patient",
        "car_t_eligible": tri(course.history.car_t_eligible),
        "prior_lines": course.prior_lines,
        "tcrt_count": len(course.tcrt),
        "tcrt_agents": _exposures(course, course.tcrt),
        "prior_car_t": len(car_t),
        "prior_car_t_agents": _exposures(course, car_t),
        "apheresis": apheresis.state,
        "apheresis_date": None if apheresis.date is None else date_ref(apheresis.date),
        "apheresis_event": (event_ref(_CAR_T_UNDER_WAY[apheresis.state], apheresis.date, course.apheresis_field)
                            if apheresis.state in _CAR_T_UNDER_WAY else None),
        "unknown_agents": len(course.unknown),
        "unknown_agent_names": course.unknown_refs(),
        "jurisdiction": course.jurisdiction or "none",
        "soluble_bcma_known": soluble is not None,
        "soluble_bcma_ng_ml": soluble if soluble is not None else 0,
        "anti_cd38_refractory_agents": _exposures(course, (e for e in anti_cd38 if e.refractory == "yes")),
        "anti_cd38_refractory_open": bool(anti_cd38_open),
        "anti_cd38_refractory_open_lines": _exposures(course, anti_cd38_open),
        "bcma_agents": _exposures(course, course.bcma_directed),
        "car_t_option": _car_t_option(course),
        "bendamustine": bool(bendamustine),
        "bendamustine_agents": _exposures(course, bendamustine),
        **classes,
    }
    shared = _Shared(course)
    candidates = tuple((c, _candidate_fact(i, c, course, shared)) for i, c in enumerate(course.candidates))
    return Facts(patient=patient, candidates=candidates)
