"""Derived facts, computed once in Python from a validated history.

The rule engine matches flat facts: one ``patient`` fact and one ``candidate`` fact per
candidate therapy. Every value a rule tests or a message quotes is computed here, with
uncertain dates answered through :class:`~mmsequence.dates.PartialDate` alone.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from .catalog import Agent, Catalog
from .dates import PartialDate
from .errors import InputError
from .history import PatientHistory
from .policy import Policy

TCRT_TARGETS = ("BCMA", "GPRC5D", "FcRH5")

#: The fields of the facts the engine matches; rule files may name only these.
PATIENT_FIELDS = (
    "t", "sid", "car_t_eligible", "prior_lines", "tcrt_count", "tcrt_agents", "prior_car_t",
    "prior_car_t_agents", "apheresis", "apheresis_date", "unknown_agents", "unknown_agent_names",
)
CANDIDATE_FIELDS = (
    "t", "sid", "cid", "query", "known", "name", "modality", "tcrt", "status", "targets",
    "same_target_tcrt", "same_target_agents", "same_target_any", "same_target_any_agents",
    "antigen_lost", "lost_targets", "reserve_left", "reserve_targets", "anchor", "anchor_kind", "anchor_event",
    "interval", "interval_from", "interval_from_modality", "interval_last_dose", "interval_end",
    "interval_end_earliest", "interval_months",
)


@attrs.frozen
class Exposure:
    """One agent given in one line (``end`` None: still ongoing at ``as_of``, or a CAR-T infusion)."""

    agent: Agent
    line: int
    start: PartialDate
    end: PartialDate | None

    @property
    def label(self) -> str:
        return f"{self.agent.name} (lines[{self.line}])"

    @property
    def ongoing(self) -> bool:
        """A line without an end is ongoing, unless it is a CAR-T: one infusion, on its start."""
        return self.end is None and self.agent.modality != "car-t"

    def last_dose(self, as_of: datetime.date) -> PartialDate:
        """The last dose; for an ongoing line, ``as_of`` (the earliest it can be)."""
        if self.ongoing:
            return PartialDate.of(as_of)
        return self.end or self.start


@attrs.frozen
class Candidate:
    query: str
    agent: Agent | None


@attrs.frozen
class Facts:
    """What the engine is given, plus the summary shown under ``derived`` in the output."""

    patient: dict[str, Any]
    candidates: tuple[tuple[Candidate, dict[str, Any]], ...]
    derived: dict[str, Any]
    warnings: tuple[str, ...]


def _tri(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def _exposures(history: PatientHistory, catalog: Catalog) -> tuple[list[Exposure], list[str]]:
    exposures, unknown = [], []
    for i, line in enumerate(history.lines):
        for name in line.agents:
            agent = catalog.lookup(name)
            if agent is None:
                unknown.append(f"{name} (lines[{i}])")
            else:
                exposures.append(Exposure(agent, i, line.start, line.end))
    return exposures, unknown


def _check_consistency(history: PatientHistory, exposures: list[Exposure], as_of: datetime.date) -> None:
    problems = []
    for i, line in enumerate(history.lines):
        for key, date in (("start", line.start), ("end", line.end)):
            if date is not None and date.after(as_of):
                problems.append(f"lines[{i}].{key}: '{date}' is after as_of {as_of}")
    for e in exposures:
        if e.agent.modality == "car-t" and e.end is not None and e.end != e.start:
            problems.append(f"lines[{e.line}].end: a CAR-T line is one infusion, so end must equal start '{e.start}'")
    for i, record in enumerate(history.apheresis):
        if record.status in ("done", "failed") and record.date is not None and record.date.after(as_of):
            problems.append(f"apheresis[{i}].date: '{record.date}' is after as_of {as_of} but status is {record.status!r}")
    if problems:
        raise InputError(sorted(set(problems)))


def _apheresis_state(history: PatientHistory, exposures: list[Exposure], as_of: datetime.date, warnings: list[str]):
    """(state, date): pending, collected, possibly-used, used, failed, cancelled or none, with the record's date.

    Collected T cells are used once a CAR-T infusion followed the collection; possibly used when
    an imprecise date leaves that open.
    """
    if not history.apheresis:
        return "none", None
    last = history.apheresis[-1]
    if last.status == "planned":
        if last.date is not None and last.date.before(as_of):
            warnings.append(f"apheresis[{len(history.apheresis) - 1}].date: planned for '{last.date}', "
                            f"before as_of {as_of}; treated as pending with no date")
            return "pending", None
        return "pending", last.date
    if last.status == "done":
        after = {e.start.on_or_after(last.date) for e in exposures if e.agent.modality == "car-t"}
        return ("used" if True in after else "possibly-used" if None in after else "collected"), last.date
    return last.status, last.date


def _interval(
    candidate: Agent, anchor: PartialDate, exposures: list[Exposure], policy: Policy, as_of: datetime.date
) -> dict[str, Any]:
    """The T-cell recovery interval between the last earlier TCRT and the candidate's anchor."""
    starts_clock = ("bsab", "car-t") if policy.interval_scope == "any-tcrt" else ("bsab",)
    earlier = [e for e in exposures if e.agent.modality in starts_clock and e.start.after(anchor) is not True]
    if not earlier:
        return {"interval": "none"}
    ends = [(e.last_dose(as_of).plus_months(policy.interval_months), e) for e in earlier]
    _, last = max(ends, key=lambda pair: (pair[0].latest, pair[0].earliest, pair[1].line))
    earliest, latest = max(end.earliest for end, _ in ends), max(end.latest for end, _ in ends)
    window = PartialDate(earliest, latest, earliest.isoformat() if earliest == latest else f"{earliest}..{latest}")
    met = anchor.on_or_after(window)
    return {
        "interval": {True: "met", False: "unmet", None: "uncertain"}[met],
        "interval_from": last.label,
        "interval_from_modality": last.agent.modality,
        "interval_last_dose": "ongoing" if last.ongoing else str(last.last_dose(as_of)),
        "interval_end": window.latest.isoformat(),
        "interval_end_earliest": window.earliest.isoformat(),
        "interval_months": policy.interval_months,
    }


_ANCHOR_EVENTS = {
    "as-of": "the first dose, at the earliest on the evaluation date",
    "planned-apheresis": "the planned apheresis",
    "collected-apheresis": "the apheresis that collected the T cells",
}


def _anchor(agent: Agent, aph_state: str, aph_date: PartialDate | None, as_of: datetime.date):
    """When the candidate would take effect: the first bsAb dose, or the T-cell collection for a CAR-T.

    A pending plan cannot happen before ``as_of``: of a plan known to the month, only the days from
    ``as_of`` on remain.
    """
    if agent.modality == "car-t" and aph_date is not None and aph_state in ("pending", "collected"):
        if aph_state == "pending" and aph_date.earliest < as_of:
            aph_date = PartialDate(as_of, aph_date.latest, f"{as_of.isoformat()}..{aph_date.latest.isoformat()}")
        return aph_date, f"{'planned' if aph_state == 'pending' else 'collected'}-apheresis"
    return PartialDate.of(as_of), "as-of"


def _lost(history: PatientHistory) -> dict[str, bool | None]:
    b = history.biomarkers
    return {"BCMA": b.bcma_loss, "GPRC5D": b.gprc5d_loss, "FcRH5": b.fcrh5_loss}


def _candidate_fact(
    cid: int, candidate: Candidate, exposures: list[Exposure], history: PatientHistory,
    policy: Policy, as_of: datetime.date, aph_state: str, aph_date: PartialDate | None,
) -> dict[str, Any]:
    agent = candidate.agent
    fact: dict[str, Any] = {"t": "candidate", "cid": cid, "query": candidate.query}
    if agent is None:
        return {**fact, "known": False, "name": candidate.query, "modality": "unknown", "tcrt": False}
    targets = set(agent.targets)
    same = [e.label for e in exposures if e.agent.is_tcrt and targets & set(e.agent.targets)]
    same_any = [e.label for e in exposures if e.agent.modality in ("bsab", "car-t", "adc") and targets & set(e.agent.targets)]
    lost = _lost(history)
    exposed = {t for e in exposures if e.agent.is_tcrt for t in e.agent.targets}
    reserve = [t for t in TCRT_TARGETS if t not in exposed and t not in targets and lost[t] is not True]
    anchor, anchor_kind = _anchor(agent, aph_state, aph_date, as_of)
    interval = _interval(agent, anchor, exposures, policy, as_of) if agent.is_tcrt else {"interval": "none"}
    if agent.modality == "car-t" and aph_state == "possibly-used" and interval["interval"] == "met":
        # Met if the T cells were used; if they are still stored, they may come from inside the interval.
        anchor, anchor_kind = aph_date, "collected-apheresis"
        interval = _interval(agent, anchor, exposures, policy, as_of)
    fact.update(
        known=True,
        name=agent.name,
        modality=agent.modality,
        tcrt=agent.is_tcrt,
        status=agent.status,
        targets=", ".join(agent.targets),
        same_target_tcrt=bool(same),
        same_target_agents=", ".join(same),
        same_target_any=bool(same_any),
        same_target_any_agents=", ".join(same_any),
        antigen_lost=any(lost.get(t) is True for t in targets),
        lost_targets=", ".join(t for t in agent.targets if lost.get(t) is True),
        reserve_left=len(reserve),
        reserve_targets=", ".join(reserve) or "none",
        anchor=str(anchor),
        anchor_kind=anchor_kind,
        anchor_event=_ANCHOR_EVENTS[anchor_kind],
        **interval,
    )
    return fact


def _candidates(history: PatientHistory, catalog: Catalog) -> list[Candidate]:
    if history.candidates is None:
        return [Candidate(a.name, a) for a in catalog.approved_tcrts()]
    seen: dict[str, int] = {}
    problems, result = [], []
    for i, query in enumerate(history.candidates):
        agent = catalog.lookup(query)
        key = agent.name if agent else query.casefold()
        if key in seen:
            problems.append(f"candidates[{i}]: {query!r} names the same therapy as candidates[{seen[key]}]")
        seen[key] = i
        result.append(Candidate(query, agent))
    if problems:
        raise InputError(problems)
    return result


def derive(history: PatientHistory, catalog: Catalog, policy: Policy, as_of: datetime.date) -> Facts:
    """Compute every fact the rules read; raises :class:`InputError` for an inconsistent history."""
    exposures, unknown = _exposures(history, catalog)
    _check_consistency(history, exposures, as_of)
    warnings = [f"{name}: not in the agent catalog" for name in unknown]
    aph_state, aph_date = _apheresis_state(history, exposures, as_of, warnings)
    tcrt = [e for e in exposures if e.agent.is_tcrt]
    car_t = [e for e in exposures if e.agent.modality == "car-t"]
    eligible = history.car_t_eligible
    patient = {
        "t": "patient",
        "car_t_eligible": _tri(eligible),
        "prior_lines": len(history.lines),
        "tcrt_count": len(tcrt),
        "tcrt_agents": ", ".join(e.label for e in tcrt) or "none",
        "prior_car_t": len(car_t),
        "prior_car_t_agents": ", ".join(e.label for e in car_t) or "none",
        "apheresis": aph_state,
        "apheresis_date": str(aph_date) if aph_date is not None else "not set",
        "unknown_agents": len(unknown),
        "unknown_agent_names": ", ".join(unknown) or "none",
    }
    candidates = _candidates(history, catalog)
    for c in candidates:
        if c.agent is None:
            warnings.append(f"candidate {c.query}: not in the agent catalog")
    facts = tuple(
        (c, _candidate_fact(i, c, exposures, history, policy, as_of, aph_state, aph_date))
        for i, c in enumerate(candidates)
    )
    exposed_targets = sorted({t for e in exposures if e.agent.modality in ("bsab", "car-t", "adc") for t in e.agent.targets})
    derived = {
        "prior_lines": len(history.lines),
        "tcrt_count": len(tcrt),
        "tcrt_exposures": [e.label for e in tcrt],
        "exposed_targets": exposed_targets,
        "car_t_eligible": patient["car_t_eligible"],
        "apheresis": aph_state,
        "apheresis_date": None if aph_date is None else str(aph_date),
        "unknown_agents": unknown,
    }
    return Facts(patient=patient, candidates=facts, derived=derived, warnings=tuple(warnings))
