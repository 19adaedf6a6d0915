"""Differential oracle: the review and safety packs, and extended.antigen-loss, in plain Python,
for single drugs and regimens alike (a regimen is judged by its targets and its TCRT together).

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

from ..catalog import load_catalog
from ..policy import Policy
from . import reference

#: From least to most restrictive (README, "How a verdict is made").
VERDICTS = ("preferred", "acceptable", "caution", "indeterminate", "wait", "avoid")

Finding = tuple[str, str, "datetime.date | None"]
"""(rule id, effect, date the wait ends)."""


Outcome = tuple[str, "str | None", "datetime.date | None"]
"""(verdict, what a wait becomes, the not-before date)."""


def assess(document: Mapping[str, Any], as_of: datetime.date, policy: Policy) -> dict[str, Outcome]:
    """The verdict, what a wait becomes and the not-before date of every candidate of a valid
    document, by the name it was asked as (drugs named through the policy's catalog: the shipped
    agents and the site's)."""
    catalog = policy.catalog(load_catalog())
    gifts = reference.given(document, catalog, as_of)
    patient = _Patient(document, gifts, reference.apheresis(document, gifts, as_of), as_of, policy)
    names = document.get("candidates")
    jurisdiction = document.get("jurisdiction") or policy.jurisdiction
    candidates = [(a.name, reference.therapy(a.name, catalog)) for a in catalog.approved_tcrts(jurisdiction)] if names is None else [
        (reference.query(name), reference.therapy(name, catalog)) for name in names
    ]
    return {query: _combine([f for f in patient.findings(agent) if patient.runs(f[0])]) for query, agent in candidates}


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
        if self.eligible is not False and not self.had_car_t and self.state.state != "collected":
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
        if effect == "wait" and self.unknown:  # an unidentified drug could move the clock: no confident wait
            return [(rule, "indeterminate", None)]
        return [(rule, effect, window.last if effect == "wait" else None)]

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
    whatever the verdict (a wait sets the not-before date even of an avoided therapy)."""
    verdict = _verdict([effect for _, effect, _ in found])
    then = _verdict([effect for _, effect, _ in found if effect != "wait"]) if verdict == "wait" else None
    return verdict, then, max((day for _, effect, day in found if effect == "wait" and day is not None), default=None)
