"""Differential oracle: the review and safety packs, and extended.antigen-loss, in plain Python,
for single drugs and regimens alike (a regimen is judged by its targets and its TCRT together),
and the rank the README's criteria give (:func:`ranks`).

Written from the guidance notes (section "The review's guidance") and the README's documented
defaults, not from the engine: no durable_rules, no course or facts modules, no rule files. It shares only the
agent catalog, and reads the document through :mod:`mmsequence.testing.reference`. The
informational ``review.reserve`` rule never changes a verdict, so it is left out.

Importable without hypothesis: the performance benchmark uses :func:`assess` as its baseline.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from ..catalog import TCRT_TARGETS, load_catalog
from ..policy import Policy
from . import reference

#: From least to most restrictive (README, "How a verdict is made").
VERDICTS = ("preferred", "acceptable", "caution", "indeterminate", "wait", "avoid")
#: Ranking tiers (README, "Rank"): an indeterminate only for a fact the record leaves unknown ranks
#: ahead of the cautions.
TIERS = ("preferred", "acceptable", "pending", "caution", "indeterminate", "wait", "avoid")
#: The criteria the oracle ranks by, in the README's order (not-refractory-target is left to the engine's tests).
CRITERIA = ("rank.approved", "rank.on-label", "rank.car-t-first", "rank.tcrt-before-adc", "rank.switch-target",
            "rank.keeps-car-t-target", "rank.reserve")

Finding = tuple[str, str, "datetime.date | None"]
"""(rule id, effect, date the wait ends)."""


Outcome = tuple[str, "str | None", "datetime.date | None"]
"""(verdict, what a wait becomes, the not-before date)."""


def assess(document: Mapping[str, Any], as_of: datetime.date, policy: Policy) -> dict[str, Outcome]:
    """The verdict, what a wait becomes and the not-before date of every candidate of a valid
    document, by the name it was asked as (drugs named through the policy's catalog: the shipped
    agents and the site's)."""
    patient, candidates = _read(document, as_of, policy)
    return {query: _combine(patient.live(agent)) for query, agent in candidates}


def ranks(document: Mapping[str, Any], as_of: datetime.date, policy: Policy) -> dict[str, int]:
    """The rank of every candidate (README, "Rank"): verdict tier, what a wait becomes, then each
    criterion of :data:`CRITERIA` the policy does not switch off; equals share a rank. The labels
    pack is not the oracle's: no candidate is off-label here."""
    patient, candidates = _read(document, as_of, policy)
    keys = {query: patient.standing(agent) for query, agent in candidates}
    return {query: 1 + sum(other < key for other in keys.values()) for query, key in keys.items()}


def _read(document: Mapping[str, Any], as_of: datetime.date, policy: Policy) -> tuple[_Patient, list[tuple[str, reference.Therapy | None]]]:
    catalog = policy.catalog(load_catalog())
    gifts = reference.given(document, catalog, as_of)
    patient = _Patient(document, gifts, reference.apheresis(document, gifts, as_of), as_of, policy)
    names = document.get("candidates")
    candidates = [(a.name, reference.therapy(a.name, catalog)) for a in catalog.approved_tcrts(patient.jurisdiction)] if names is None else [
        (reference.query(name), reference.therapy(name, catalog)) for name in names
    ]
    return patient, candidates


class _Patient:
    """What the rules read about one patient on one day, under one policy."""

    def __init__(self, document: Mapping[str, Any], gifts: list[reference.Given], state: reference.Apheresis,
                 as_of: datetime.date, policy: Policy) -> None:
        self.gifts, self.state, self.as_of, self.policy = gifts, state, as_of, policy
        self.eligible = document.get("car_t_eligible")
        self.had_car_t = any(g.modality == "car-t" for g in gifts)
        self.had_tcrt = any(g.modality in reference.TCRT for g in gifts)
        # recorded as not eligible, yet a CAR-T apheresis planned or T cells collected: a data conflict
        self.conflict = self.eligible is False and state.state in ("pending", "collected")
        self.unknown = any(g.agent is None for g in gifts)
        self.used = reference.used_targets(gifts)
        markers = document.get("biomarkers") or {}
        self.lost = {t for t, key in (("BCMA", "bcma_loss"), ("GPRC5D", "gprc5d_loss"), ("FcRH5", "fcrh5_loss")) if markers.get(key) is True}
        self.jurisdiction = document.get("jurisdiction") or policy.jurisdiction
        catalog = policy.catalog(load_catalog())
        # CAR-T first applies where a CAR-T is an option: an approved one here whose target is not lost
        self.car_t_option = any(a.modality == "car-t" and not self.lost & set(a.targets)
                                for a in catalog.approved_tcrts(self.jurisdiction))
        records = document.get("apheresis") or ()
        product = catalog.lookup(records[-1]["product"]) if records and records[-1].get("product") else None
        self.product_targets = set(product.targets) if product is not None else {"BCMA"}

    def live(self, agent: reference.Therapy | None) -> list[Finding]:
        return [f for f in self.findings(agent) if self.runs(f[0])]

    def standing(self, agent: reference.Therapy | None) -> tuple[int, ...]:
        """Tier, tier of what a wait becomes, then one score per criterion in force (lower first)."""
        found = self.live(agent)
        verdict, then, _ = _combine(found)
        first = self._tier(verdict, found)
        after = self._tier(then, [f for f in found if f[1] != "wait"]) if then else first
        targets = set(agent.targets) if agent else set()
        modality = agent.modality if agent else None
        scores = {
            "rank.approved": agent is None or agent.status != "approved",
            "rank.on-label": False,
            "rank.car-t-first": not any(effect == "preferred" for _, effect, _ in found),
            "rank.tcrt-before-adc": modality == "adc",
            "rank.switch-target": bool(self.used & targets) and agent is not None,
            "rank.keeps-car-t-target": (self.state.state in ("pending", "collected") and modality == "bsab"
                                        and bool(targets & self.product_targets)),
            "rank.reserve": -len([t for t in TCRT_TARGETS if t not in self.used | targets | self.lost]) if agent else 0,
        }
        return (first, after, *(int(scores[c]) for c in CRITERIA if c not in self.policy.disabled_rules))

    def _tier(self, verdict: str, found: list[Finding]) -> int:
        """An indeterminate whose restrictions all wait for CAR-T eligibility (not recorded) is ``pending``."""
        missing = {"review.car-t-eligibility-unknown"} | ({"review.car-t-first-bsab"} if self.eligible is None else set())
        restrictive = [rule for rule, effect, _ in found if VERDICTS.index(effect) >= VERDICTS.index("caution")]
        if verdict == "indeterminate" and all(rule in missing for rule in restrictive):
            return TIERS.index("pending")
        return TIERS.index(verdict)

    def runs(self, rule: str) -> bool:
        """Safety rules always run; others when their pack is on and the rule is not disabled."""
        pack = rule.split(".")[0]
        return pack == "safety" or (pack in self.policy.packs and rule not in self.policy.disabled_rules)

    def findings(self, agent: reference.Therapy | None) -> list[Finding]:
        if agent is None:
            return [("safety.unknown-candidate", "indeterminate", None)]
        found: list[Finding] = []
        if agent.modality not in reference.TCRT:
            # An antibody-drug conjugate is judged by the extended pack; anything else is out of scope.
            if agent.modality != "adc":
                return [("safety.out-of-scope", "indeterminate", None)]
            return [("extended.antigen-loss", "avoid", None)] if self.lost & set(agent.targets) else []
        if self.unknown:  # an unidentified drug could be a recent TCRT: no confident verdict
            found.append(("safety.unknown-agent", "indeterminate", None))
        if self.conflict:  # no confident verdict for a CAR-T or a bsAb until the record is resolved
            found.append(("safety.eligibility-conflict", "indeterminate", None))
        if self.lost & set(agent.targets):  # a lost antigen rules out agents against it
            found.append(("extended.antigen-loss", "avoid", None))
        if agent.modality == "bsab":
            found += self._bsab(agent)
        else:
            found += self._car_t(agent)
        return found + self._interval(agent)

    def _bsab(self, agent: reference.Therapy) -> list[Finding]:
        found: list[Finding] = []
        if self.state.state == "pending" and not self.conflict:  # no bsAb before CAR-T apheresis
            found.append(("review.no-bsab-before-apheresis", "avoid", None))
        # CAR-T first, where it is (or may be) an option and no T cells are collected yet
        if self.eligible is not False and not self.had_car_t and self.state.state != "collected" and self.car_t_option:
            found.append(("review.car-t-first-bsab", "caution", None))
        if self.used & set(agent.targets):  # switch targets rather than re-use one
            found.append(("review.switch-target", "caution", None))
        return found

    def _car_t(self, agent: reference.Therapy) -> list[Finding]:
        if self.eligible is False:
            return [] if self.conflict else [("review.car-t-ineligible", "avoid", None)]
        if self.eligible is None:
            return [("review.car-t-eligibility-unknown", "indeterminate", None)]
        # CAR-T first prefers an approved product (an investigational one only within a trial); after
        # a bsAb it is no longer the first TCRT, and preferring it before another bsAb is an interpretation.
        if self.had_car_t or agent.status != "approved":
            return []
        return [("review.car-t-before-another-bsab" if self.had_tcrt else "review.car-t-first", "preferred", None)]

    def _interval(self, agent: reference.Therapy) -> list[Finding]:
        """At least the interval between a bsAb's last dose and the next TCRT's start event."""
        kind, anchor = reference.anchor(agent.modality, self.state, self.as_of, self.policy.car_t_anchor)
        window = self._window(anchor)
        if window is None or _met(window, anchor):
            return []
        if kind == "collected":  # the T cells are already collected: waiting changes nothing
            return [("review.interval-collected", "caution", None)]
        # the imprecise-date rule whenever the day the interval ends is open
        rule = "review.interval" if window.first == window.last else "review.interval-uncertain"
        effect = self.policy.interval_effect
        if effect == "wait" and self.unknown:  # an unidentified drug could move the clock: no confident wait,
            # but one that came before every clock's last dose cannot end a clock: the date is a bound
            return [(rule, "indeterminate", window.last if self._bound_holds() else None)]
        return [(rule, effect, window.last if effect == "wait" else None)]

    def _bound_holds(self) -> bool:
        kinds = reference.TCRT if self.policy.interval_scope == "any-tcrt" else ("bsab",)
        doses = [g.last_dose(self.as_of).last for g in self.gifts if g.modality in kinds]  # imprecise: worst case
        return bool(doses) and all(g.start.first < min(doses) for g in self.gifts if g.agent is None)

    def _window(self, anchor: reference.Days) -> reference.Days | None:
        p = self.policy
        return reference.interval_window(self.gifts, self.as_of, p.interval_months, p.interval_scope, anchor,
                                         p.interval_consecutive)


def _met(window: reference.Days | None, anchor: reference.Days) -> bool:
    return window is None or anchor.first >= window.last


def _verdict(effects: list[str]) -> str:
    """The most restrictive effect; ``preferred`` only when nothing restricts."""
    restrictive = [e for e in effects if VERDICTS.index(e) >= VERDICTS.index("caution")]
    if restrictive:
        return max(restrictive, key=VERDICTS.index)
    return "preferred" if "preferred" in effects else "acceptable"


def _combine(found: list[Finding]) -> Outcome:
    """The verdict; for a wait, the verdict once the waits are over; the latest date of any wait,
    whatever the verdict (a wait sets the not-before date even of an avoided therapy), and of a wait
    an unknown drug made indeterminate that keeps its date as a certain bound."""
    verdict = _verdict([effect for _, effect, _ in found])
    then = _verdict([effect for _, effect, _ in found if effect != "wait"]) if verdict == "wait" else None
    return verdict, then, max((day for _, effect, day in found if effect in ("wait", "indeterminate") and day is not None),
                              default=None)


#: Where a plan places an unknown relapse after a step starts (README, "Sequence plans").
RELAPSE_MONTHS = 12


def planned(document: Mapping[str, Any], order: list[str], as_of: datetime.date, policy: Policy,
            months: list[int] | None = None) -> list[Outcome]:
    """The outcome of each step of a plan, as the README's assumption charts it: a step starts on its
    not-before date (else the plan's day; a CAR-T not before a planned collection's day), is given
    and stops for progression at the relapse ``months`` later (default :data:`RELAPSE_MONTHS`, or twice
    a longer interval of the policy; a
    CAR-T is collected and infused once, on its start day); the next step is judged on the day of
    that relapse. Lines still given on the plan's day stop on it."""
    catalog = policy.catalog(load_catalog())
    document = {**document, "lines": [dict(line) for line in document.get("lines", [])],
                "apheresis": [dict(a) for a in document.get("apheresis") or []], "overrides": []}
    for line in document["lines"]:
        if not line.get("end") and reference.Days.of(line["start"]).first <= as_of and not any(
                (agent := catalog.lookup(name)) is not None and agent.modality == "car-t" for name in line["agents"]):
            line["end"] = as_of.isoformat()
    outcomes: list[Outcome] = []
    day = as_of
    for k, name in enumerate(order):
        outcome = assess({**document, "candidates": [name]}, day, policy)[reference.query(name)]
        outcomes.append(outcome)
        if k == len(order) - 1:
            break
        therapy = reference.therapy(name, catalog)
        car_t = therapy is not None and therapy.modality == "car-t"
        start = outcome[2] or day
        records = document["apheresis"]
        if car_t and records and records[-1]["status"] == "planned" and records[-1].get("date"):
            start = max(start, reference.Days.of(records[-1]["date"]).first)
            records.pop()
        relapse = reference.add_months(start, months[k] if months else max(RELAPSE_MONTHS, 2 * policy.interval_months))
        agents = [a.name for a in therapy.agents] if therapy is not None else [name]
        document["lines"].append({"agents": agents, "start": start.isoformat(),
                                  "end": (start if car_t else relapse).isoformat(),
                                  "stop_reason": "progression", "progression": relapse.isoformat()})
        if car_t:
            records.append({"status": "done", "date": start.isoformat()})
        day = relapse
    return outcomes
