"""Derived facts, computed once in Python from a validated history.

The rule engine matches flat facts: one ``patient`` fact and one ``candidate`` fact per
candidate therapy. Every value a rule tests or a message quotes is computed here, with
uncertain dates answered through :class:`~mmsequence.dates.PartialDate` alone. Tri-state
values are the strings ``yes``, ``no`` and ``unknown``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import attrs

from .catalog import Agent, Catalog
from .dates import PartialDate
from .errors import InputError
from .history import Line, PatientHistory
from .policy import Policy

TCRT_TARGETS = ("BCMA", "GPRC5D", "FcRH5")
#: Drug classes that count for the labels' "prior therapy including ..." clauses.
LABEL_CLASSES = {"pi": "proteasome-inhibitor", "imid": "imid", "anti_cd38": "anti-cd38"}
#: Conventional classes that do not start the washout clock before apheresis or a bsAb.
NO_WASHOUT_CLASSES = ("supportive", "corticosteroid")

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


@attrs.frozen
class Exposure:
    """One agent given in one line (``end`` None: still ongoing at ``as_of``, or a CAR-T infusion)."""

    agent: Agent
    line: int
    start: PartialDate
    end: PartialDate | None
    refractory: str

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


def _any(values: Iterable[str]) -> str:
    """Tri-state OR: yes if any is yes, unknown if any is unknown, else no."""
    values = list(values)
    return "yes" if "yes" in values else "unknown" if "unknown" in values else "no"


def line_refractory(line: Line, one_infusion: bool = False) -> str:
    """IMWG: refractory means progression on therapy (or within 60 days of the last dose).

    An explicit ``refractory`` flag wins. A continuous line that stopped for progression is
    refractory; a one-time CAR-T infusion is not "on therapy" later, so its progression says
    nothing without the flag. Anything else is unknown: progression soon after stopping
    cannot be ruled out.
    """
    if line.refractory is not None:
        return _tri(line.refractory)
    return "yes" if line.stop_reason == "progression" and not one_infusion else "unknown"


def _exposures(history: PatientHistory, catalog: Catalog) -> tuple[list[Exposure], list[str]]:
    exposures, unknown = [], []
    for i, line in enumerate(history.lines):
        for name in line.agents:
            agent = catalog.lookup(name)
            if agent is None:
                unknown.append(f"{name} (lines[{i}])")
            else:
                refractory = line_refractory(line, one_infusion=agent.modality == "car-t")
                exposures.append(Exposure(agent, i, line.start, line.end, refractory))
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
    """(state, date): pending, collected, used, failed, cancelled or none, with the last record's date."""
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
        car_t = [e for e in exposures if e.agent.modality == "car-t"]
        unordered = [e for e in car_t if e.start.on_or_after(last.date) is None]
        if unordered:
            raise InputError([
                f"lines[{e.line}].start: '{e.start}' cannot be ordered against apheresis[{len(history.apheresis) - 1}]"
                f".date '{last.date}': give the day of the infusion or of the collection" for e in unordered
            ])
        return ("used" if any(e.start.on_or_after(last.date) for e in car_t) else "collected"), last.date
    return last.status, last.date


def _window(earlier: list[Exposure], as_of: datetime.date, shift) -> tuple[PartialDate, Exposure]:
    """The span of days on which the latest of ``earlier`` last doses, shifted, ends; and its exposure.

    Calendar shifts are monotone, so the latest possible end is the shift of the latest possible
    last dose (and likewise for the earliest): only the two extremes are shifted.
    """
    doses = [(e.last_dose(as_of), e) for e in earlier]
    latest, last = max(doses, key=lambda pair: (pair[0].latest, pair[0].earliest, pair[1].line))
    earliest = max(dose.earliest for dose, _ in doses)
    return PartialDate.between(shift(PartialDate.of(earliest)).earliest, shift(latest).latest), last


def _clock(name: str, earlier: list[Exposure], anchor: PartialDate, as_of: datetime.date, shift) -> dict[str, Any]:
    """Whether ``anchor`` falls on or after the latest of the ``earlier`` last doses, shifted.

    ``name`` is met, unmet or uncertain (an imprecise date), or none when nothing came earlier.
    """
    if not earlier:
        return {name: "none"}
    window, last = _window(earlier, as_of, shift)
    return {
        name: {True: "met", False: "unmet", None: "uncertain"}[anchor.on_or_after(window)],
        f"{name}_from": last.label,
        f"{name}_last_dose": "ongoing" if last.ongoing else str(last.last_dose(as_of)),
        f"{name}_end": window.latest.isoformat(),
        f"{name}_end_earliest": window.earliest.isoformat(),
    }


def _interval(anchor: PartialDate, exposures: list[Exposure], policy: Policy, as_of: datetime.date) -> dict[str, Any]:
    """The T-cell recovery interval between the last earlier TCRT and the candidate's anchor."""
    starts_clock = ("bsab", "car-t") if policy.interval_scope == "any-tcrt" else ("bsab",)
    earlier = [e for e in exposures if e.agent.modality in starts_clock and e.start.after(anchor) is not True]
    fact = _clock("interval", earlier, anchor, as_of, lambda d: d.plus_months(policy.interval_months))
    return fact | ({"interval_months": policy.interval_months} if earlier else {})


def _washout(anchor: PartialDate, exposures: list[Exposure], policy: Policy, as_of: datetime.date) -> dict[str, Any]:
    """The washout from the last conventional anti-myeloma dose to the candidate's anchor."""
    earlier = [
        e for e in exposures
        if e.agent.modality == "conventional" and e.agent.drug_class not in NO_WASHOUT_CLASSES
        and e.start.after(anchor) is not True
    ]
    fact = _clock("washout", earlier, anchor, as_of, lambda d: d.plus_days(policy.washout_days))
    return fact | ({"washout_days": policy.washout_days} if earlier else {})


_ANCHOR_EVENTS = {
    "as-of": "the first dose, at the earliest on the evaluation date",
    "planned-apheresis": "the planned apheresis",
    "collected-apheresis": "the apheresis that collected the T cells",
}


def _anchor(agent: Agent, aph_state: str, aph_date: PartialDate | None, policy: Policy, as_of: datetime.date):
    """When the candidate would take effect: the first bsAb dose, or the T-cell collection for a CAR-T.

    A pending plan cannot happen before ``as_of``: of a plan known to the month, only the days from
    ``as_of`` on remain.
    """
    if agent.modality == "car-t" and aph_date is not None:
        if aph_state == "collected":
            return aph_date, "collected-apheresis"
        if aph_state == "pending" and policy.car_t_anchor == "planned-apheresis":
            if aph_date.earliest < as_of:
                aph_date = PartialDate.between(as_of, aph_date.latest)
            return aph_date, "planned-apheresis"
    return PartialDate.of(as_of), "as-of"


def _lost(history: PatientHistory) -> dict[str, bool | None]:
    b = history.biomarkers
    return {"BCMA": b.bcma_loss, "GPRC5D": b.gprc5d_loss, "FcRH5": b.fcrh5_loss}


def _labels(exposures: Iterable[Exposure]) -> str:
    return ", ".join(e.label for e in exposures)


@attrs.define
class _Context:
    """What every candidate fact is computed from; clocks are kept per anchor, which candidates share."""

    history: PatientHistory
    exposures: list[Exposure]
    policy: Policy
    as_of: datetime.date
    apheresis: tuple[str, PartialDate | None]
    product: Agent | None
    tcrt: list[Exposure] = attrs.field(init=False)
    exposed: set[str] = attrs.field(init=False)
    lost: dict[str, bool | None] = attrs.field(init=False)
    _clocks: dict[tuple[str, PartialDate], dict[str, Any]] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.tcrt = [e for e in self.exposures if e.agent.is_tcrt]
        self.exposed = {t for e in self.tcrt for t in e.agent.targets}
        self.lost = _lost(self.history)

    def clock(self, kind: str, anchor: PartialDate) -> dict[str, Any]:
        """The interval or washout facts for a candidate that takes effect at ``anchor``."""
        if (kind, anchor) not in self._clocks:
            compute = _interval if kind == "interval" else _washout
            self._clocks[kind, anchor] = compute(anchor, self.exposures, self.policy, self.as_of)
        return self._clocks[kind, anchor]


def _candidate_fact(cid: int, candidate: Candidate, ctx: _Context) -> dict[str, Any]:
    agent = candidate.agent
    fact: dict[str, Any] = {"t": "candidate", "cid": cid, "query": candidate.query}
    if agent is None:
        return {**fact, "known": False, "name": candidate.query, "modality": "unknown", "tcrt": False}
    targets = set(agent.targets)
    same = [e for e in ctx.tcrt if targets & set(e.agent.targets)]
    lost = ctx.lost
    reserve = [t for t in TCRT_TARGETS if t not in ctx.exposed and t not in targets and lost[t] is not True]
    anchor, anchor_kind = _anchor(agent, *ctx.apheresis, ctx.policy, ctx.as_of)
    product_targets = set(ctx.product.targets) if ctx.product is not None else {"BCMA"}
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
        same_target_refractory=_any(e.refractory for e in same) if same else "no",
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
    fact.update(ctx.clock("interval", anchor) if agent.is_tcrt else {"interval": "none"})
    fact.update(ctx.clock("washout", anchor) if agent.modality != "conventional" else {"washout": "none"})
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


def _class_facts(history: PatientHistory, exposures: list[Exposure], unknown: list[str]) -> dict[str, str]:
    """Prior-therapy facts the labels read: class exposure, lenalidomide refractoriness, last-line progression."""
    facts = {}
    for key, drug_class in LABEL_CLASSES.items():
        hit = any(e.agent.drug_class == drug_class for e in exposures)
        facts[f"exposed_{key}"] = "yes" if hit else "unknown" if unknown else "no"
    facts["triple_class_exposed"] = _all(facts[f"exposed_{k}"] for k in LABEL_CLASSES)
    lenalidomide = [e.refractory for e in exposures if e.agent.name == "lenalidomide"]
    facts["lenalidomide_refractory"] = _any(lenalidomide) if lenalidomide else "unknown" if unknown else "no"
    last = max(history.lines, key=lambda line: (line.start.earliest, line.start.latest), default=None)
    facts["progression_on_last"] = "no" if last is None else "yes" if last.stop_reason == "progression" else line_refractory(last)
    return facts


def _all(values: Iterable[str]) -> str:
    """Tri-state AND."""
    values = list(values)
    return "no" if "no" in values else "unknown" if "unknown" in values else "yes"


def derive(history: PatientHistory, catalog: Catalog, policy: Policy, as_of: datetime.date) -> Facts:
    """Compute every fact the rules read; raises :class:`InputError` for an inconsistent history."""
    exposures, unknown = _exposures(history, catalog)
    _check_consistency(history, exposures, as_of)
    warnings = [f"{name}: not in the agent catalog" for name in unknown]
    aph = _apheresis_state(history, exposures, as_of, warnings)
    product_name = history.apheresis[-1].product if history.apheresis else None
    product = catalog.lookup(product_name) if product_name else None
    tcrt = [e for e in exposures if e.agent.is_tcrt]
    car_t = [e for e in exposures if e.agent.modality == "car-t"]
    soluble = history.biomarkers.soluble_bcma_ng_ml
    patient = {
        "t": "patient",
        "car_t_eligible": _tri(history.car_t_eligible),
        "prior_lines": len(history.lines),
        "tcrt_count": len(tcrt),
        "tcrt_agents": _labels(tcrt) or "none",
        "prior_car_t": len(car_t),
        "prior_car_t_agents": _labels(car_t) or "none",
        "apheresis": aph[0],
        "apheresis_date": str(aph[1]) if aph[1] is not None else "not set",
        "unknown_agents": len(unknown),
        "unknown_agent_names": ", ".join(unknown) or "none",
        "jurisdiction": history.jurisdiction or policy.jurisdiction or "none",
        "soluble_bcma_known": soluble is not None,
        "soluble_bcma_ng_ml": soluble if soluble is not None else 0,
        **_class_facts(history, exposures, unknown),
    }
    candidates = _candidates(history, catalog)
    warnings += [f"candidate {c.query}: not in the agent catalog" for c in candidates if c.agent is None]
    ctx = _Context(history, exposures, policy, as_of, aph, product)
    facts = tuple((c, _candidate_fact(i, c, ctx)) for i, c in enumerate(candidates))
    by_target = {
        t: [e.label for e in exposures if e.agent.modality in ("bsab", "car-t", "adc") and t in e.agent.targets]
        for t in TCRT_TARGETS
    }
    derived = {
        "prior_lines": patient["prior_lines"],
        "jurisdiction": patient["jurisdiction"],
        "car_t_eligible": patient["car_t_eligible"],
        "tcrt_count": len(tcrt),
        "tcrt_exposures": [e.label for e in tcrt],
        "last_tcrt_dose": _last_tcrt_dose(tcrt, as_of),
        "exposures_by_target": {t: labels for t, labels in by_target.items() if labels},
        "triple_class_exposed": patient["triple_class_exposed"],
        "triple_class_refractory": _all(
            _any(e.refractory for e in exposures if e.agent.drug_class == c) if patient[f"exposed_{k}"] == "yes" else "no"
            for k, c in LABEL_CLASSES.items()
        ),
        "lenalidomide_refractory": patient["lenalidomide_refractory"],
        "progression_on_last": patient["progression_on_last"],
        "apheresis": aph[0],
        "apheresis_date": None if aph[1] is None else str(aph[1]),
        "unknown_agents": unknown,
    }
    return Facts(patient=patient, candidates=facts, derived=derived, warnings=tuple(warnings))


def _last_tcrt_dose(tcrt: list[Exposure], as_of: datetime.date) -> str | None:
    if not tcrt:
        return None
    window, last = _window(tcrt, as_of, lambda d: d)
    return f"{window.text} ({last.label}{', ongoing' if last.ongoing else ''})"
