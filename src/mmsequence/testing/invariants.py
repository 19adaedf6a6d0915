"""Named safety invariants: each is ``(document, assessment) -> list of violations``.

A violation is one sentence naming the candidate and what is wrong; an empty list means the
property holds. Each invariant follows the policy in effect (``assessment.policy``) and reads the
document through :mod:`mmsequence.testing.reference` with the policy's catalog, never through the
engine's facts. Invariants that re-evaluate the document freeze its history first:
an ongoing line stops on the original ``as_of``, as if nothing were given after it.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs

from ..assessment import Assessment, CandidateAssessment
from ..catalog import Catalog
from ..errors import InputError
from ..evaluator import evaluate
from ..messages import timing_words
from ..policy import Policy
from ..render import to_json
from ..vocabulary import TIMING_EFFECTS, is_restrictive, severity
from . import reference

_S = TypeVar("_S")

Invariant = Callable[[Mapping[str, Any], Assessment], list[str]]

CONFIDENT = ("preferred", "acceptable", "caution")
INTERVAL_RULES = ("review.interval", "review.interval-uncertain")
RETREATMENT_RULES = ("extended.refractory-retreatment", "extended.refractory-retreatment-uncertain")
WASHOUT_RULES = ("extended.washout", "extended.washout-apheresis")
#: Each rule for an exact date beside its twin for a date known only to the month or year (the worst
#: case); and the washout to the first dose beside the washout to a planned apheresis, since a plan
#: known to the month may be overdue on some of its days (its date dropped, the washout measured to
#: the first dose) and due on the others.
WORST_CASE_TWINS = (
    INTERVAL_RULES,
    RETREATMENT_RULES,
    ("extended.same-target-refractory", "extended.same-target-refractory-uncertain"),
    ("extended.tec-dara-anti-cd38-refractory", "extended.tec-dara-anti-cd38-refractory-uncertain"),
    WASHOUT_RULES,
)
#: Washout lengths invariant 11 tries: none, and the longest a policy allows.
WASHOUT_DAYS = (0, 90)
#: How far invariant 4 moves as_of: the next day, and past a 6-month interval.
LATER_DAYS = (1, 183)


def rule_runs(assessment: Assessment, rule: str) -> bool:
    """Whether the policy in effect runs a rule: safety always, others if their pack is on and they are not disabled."""
    pack = rule.split(".")[0]
    policy = assessment.policy
    return pack == "safety" or (pack in policy.packs and rule not in policy.disabled_rules)


def _overridden(candidate: CandidateAssessment, rule: str) -> bool:
    return any(f.rule == rule and f.overridden is not None for f in candidate.findings)


def _controls(assessment: Assessment, candidate: CandidateAssessment, rule: str) -> bool:
    """Whether ``rule`` is in force for this candidate: the policy runs it and no clinician overrode it."""
    return rule_runs(assessment, rule) and not _overridden(candidate, rule)


def _shown(candidate: CandidateAssessment) -> str:
    return timing_words(candidate.verdict, candidate.then, candidate.earliest_date)


def _is_car_t(line: Mapping[str, Any], catalog: Catalog) -> bool:
    return any((agent := catalog.lookup(name)) is not None and agent.modality == "car-t" for name in line["agents"])


def frozen(document: Mapping[str, Any], as_of: datetime.date, catalog: Catalog) -> dict[str, Any]:
    """The document with every ongoing line stopped on ``as_of`` (a CAR-T infusion ends on its start),
    and every recorded date that could lie after ``as_of`` (a dose written '2026-03' on 2026-03-20)
    written as ``as_of``, the latest day it could be: seen from a later day, nothing was given after it."""
    copied = copy.deepcopy(dict(document))
    day = as_of.isoformat()

    def known(text: str, limit: datetime.date = as_of) -> str:
        return limit.isoformat() if reference.Days.of(text).last > limit else text

    for line in copied["lines"]:
        if not line.get("end"):
            line["end"] = line["start"] if _is_car_t(line, catalog) else day
        if line["end"] == line["start"]:  # one date written twice (a CAR-T infusion, a one-day line)
            # that day is no later than a progression recorded after it
            limit = min(as_of, reference.Days.of(line["progression"]).last) if line.get("progression") else as_of
            line["start"] = line["end"] = known(line["start"], limit)
        line["end"] = known(line["end"])  # a start is bounded by its end
    for record in copied.get("apheresis") or ():
        if record.get("date") and record["status"] in ("done", "failed"):
            record["date"] = known(record["date"])
    return copied


def _again(document: Mapping[str, Any], assessment: Assessment, as_of: datetime.date | None = None) -> Assessment:
    """Re-evaluate under the same policy; on a later day, with the history frozen at the original as_of."""
    if as_of is not None:
        document = frozen(document, assessment.as_of, assessment.catalog)
    return evaluate(copy.deepcopy(dict(document)), as_of=as_of or assessment.as_of, policy=assessment.policy)


def no_bsab_while_apheresis_pending(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """1. No bsAb is preferred, acceptable or caution while a CAR-T apheresis is pending.

    Review: avoid bsAbs before apheresis, so as not to compromise CAR-T manufacturing. Pending:
    the last apheresis record is 'planned'. In force while review.no-bsab-before-apheresis runs.
    """
    rule = "review.no-bsab-before-apheresis"
    records = document.get("apheresis") or ()
    if not records or records[-1].get("status") != "planned":
        return []
    return [f"{c.query}: {c.verdict} while an apheresis is pending" for c in assessment.candidates
            if c.modality == "bsab" and c.verdict in CONFIDENT and _controls(assessment, c, rule)]


def no_tcrt_inside_interval(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """2. No TCRT is preferred or acceptable inside the interval after a bsAb; with interval effect
    'wait' (the default) none is 'caution' either, and its wait lasts to the interval's end.

    Review: at least 6 months between the two treatments for T-cell recovery. By the policy's
    months and scope, from the last bsAb dose (an ongoing one: as_of) to the next bsAb's first
    dose (at the earliest as_of), or to a CAR-T's apheresis (planned, else as_of); imprecise
    dates count by their worst case. T cells already collected inside the interval give at
    least 'caution' (review.interval-collected).
    """
    policy = assessment.policy
    gifts = reference.given(document, assessment.catalog, assessment.as_of)
    state = reference.apheresis(document, gifts, assessment.as_of)
    violations = []
    for c in assessment.candidates:
        if c.modality not in reference.TCRT:
            continue
        kind, anchor = reference.anchor(c.modality, state, assessment.as_of, policy.car_t_anchor)
        window = reference.interval_window(gifts, assessment.as_of, policy.interval_months, policy.interval_scope, anchor,
                                           policy.interval_consecutive)
        if window is None or anchor.first >= window.last:
            continue
        if kind == "collected":
            rule, hold = "review.interval-collected", False
        else:
            rule = "review.interval" if window.first == window.last else "review.interval-uncertain"
            hold = policy.interval_effect == "wait"
        if not _controls(assessment, c, rule):
            continue
        if c.verdict in ("preferred", "acceptable") or (hold and c.verdict == "caution"):
            violations.append(f"{c.query}: {c.verdict}, but the interval after the last dose ends {window.last} "
                              f"and {kind} ({anchor.first}..{anchor.last}) may fall inside it")
        elif hold and c.verdict == "wait" and c.earliest_date is not None and c.earliest_date < window.last:
            violations.append(f"{c.query}: waits until {c.earliest_date}, but the interval ends {window.last}")
    return violations


def every_wait_ends(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """3. Every 'wait' ends after as_of, and on its earliest_date the same rules no longer wait.

    A wait is a promise: on that date, with nothing given in between, the reason is gone.
    """
    violations: list[str] = []
    by_day: dict[datetime.date, list[CandidateAssessment]] = {}
    for c in assessment.candidates:
        if c.verdict != "wait":
            continue
        if c.earliest_date is None or c.earliest_date <= assessment.as_of:
            violations.append(f"{c.query}: wait until {c.earliest_date}, not after as_of {assessment.as_of}")
        else:
            by_day.setdefault(c.earliest_date, []).append(c)
    for day, waiting in sorted(by_day.items()):
        later = _again(document, assessment, day)
        for c in waiting:
            rules = {f.rule for f in c.findings if f.effect == "wait" and f.overridden is None}
            still = sorted(f.rule for f in later.candidate(c.query).findings if f.effect == "wait" and f.rule in rules)
            if still:
                violations.append(f"{c.query}: wait until {day}, but on {day} {', '.join(still)} still waits")
    return violations


def interval_monotone_in_time(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """4. Moving as_of later never makes a satisfied interval unsatisfied.

    Time only lengthens the interval since the last dose (the history frozen at as_of). Judged
    where both interval rules are in force: otherwise no finding does not mean the interval is met.
    """
    met = [c for c in assessment.candidates if c.modality in reference.TCRT
           and all(_controls(assessment, c, rule) for rule in INTERVAL_RULES)
           and not any(f.rule in INTERVAL_RULES for f in c.findings)]
    violations = []
    for days in LATER_DAYS if met else ():
        day = assessment.as_of + datetime.timedelta(days=days)
        later = _again(document, assessment, day)
        for c in met:
            fired = sorted(f.rule for f in later.candidate(c.query).findings if f.rule in INTERVAL_RULES)
            if fired:
                violations.append(f"{c.query}: interval met on {assessment.as_of}, not on {day} ({', '.join(fired)})")
    return violations


def switch_target_ranks_first(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """5. A candidate re-using a target of an earlier TCRT never ranks above an otherwise equal one
    (same verdict, same modality, equally preferred by a rule such as CAR-T first) that switches
    to an untouched target.

    Review: when bsAbs must be sequenced, rotating targets beats re-using one; CAR-T first comes
    before the target switch in the review's order of preferences. A candidate that only waits for
    a missing fact is not equal to one with a caution as well.
    """
    if "rank.switch-target" in assessment.policy.disabled_rules:
        return []
    used = reference.used_targets(reference.given(document, assessment.catalog, assessment.as_of))
    named = _named(document)
    tcrts = [c for c in assessment.candidates if c.modality in reference.TCRT]
    same = [c for c in tcrts if used & set(c.target)]
    switch = [c for c in tcrts if not used & set(c.target)]
    return [f"{a.query} (re-uses {', '.join(sorted(used & set(a.target)))}) ranks {a.rank}, above {b.query} (switches) at {b.rank}"
            for a in same for b in switch
            if _standing(a, named, assessment.catalog) == _standing(b, named, assessment.catalog) and a.rank < b.rank]


def _standing(candidate: CandidateAssessment, named: Mapping[str, Any], catalog: Catalog) -> tuple[Any, ...]:
    """What ranks before the target switch (README, "Rank"): verdict, whether an indeterminate only
    waits for facts the record leaves unknown (it ranks ahead of the cautions), what a wait becomes,
    approval, whether a label rule cautions it, modality, and whether a live rule prefers it."""
    live = [f for f in candidate.findings if f.overridden is None]
    restrictive = [f for f in live if is_restrictive(f.effect)]
    pending = candidate.verdict == "indeterminate" and all(f.missing for f in restrictive)
    preferred = any(f.effect == "preferred" for f in live)
    therapy = reference.therapy(named.get(candidate.query, candidate.query), catalog)
    approved = therapy is not None and therapy.status == "approved"
    off_label = any(f.rule.startswith("labels.") for f in live)
    return candidate.verdict, pending, candidate.then, approved, off_label, candidate.modality, preferred


def partial_dates_are_worst_case(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """6. The verdict for an imprecise date is never less restrictive than for an exact date inside it.

    An EHR date known to the month or year counts as its worst case. Tried: each end of the range
    and the days around the interval boundaries; a day that would make the history impossible is
    skipped. Not in force under a policy that runs a rule but not its twin for imprecise dates
    (:data:`WORST_CASE_TWINS`, such as review.interval without review.interval-uncertain): the site
    gave up the worst case.
    """
    if any(rule_runs(assessment, exact) and not rule_runs(assessment, twin) for exact, twin in WORST_CASE_TWINS):
        return []
    violations = []
    for where, written, days in _imprecise_dates(document, assessment):
        for day in days:
            try:
                exact = _again(_with_date(document, where, written, day), assessment)
            except InputError:
                continue
            for c in assessment.candidates:
                other = exact.candidate(c.query)
                if _less_restrictive(c, other):
                    violations.append(f"{c.query}: {_shown(c)} with {where} '{written}', "
                                      f"but {_shown(other)} with {day}")
    return violations


def _less_restrictive(a: CandidateAssessment, b: CandidateAssessment) -> bool:
    """A less restrictive verdict, or the same verdict with an earlier not-before date."""
    if a.verdict == b.verdict:
        return b.earliest_date is not None and (a.earliest_date is None or a.earliest_date < b.earliest_date)
    return severity(a.verdict) < severity(b.verdict)


def _imprecise_dates(document: Mapping[str, Any], assessment: Assessment) -> Iterator[tuple[str, str, list[datetime.date]]]:
    """(where, the date as written, exact days inside it to try) for each imprecise date."""
    months = assessment.policy.interval_months
    exact = [reference.Days.of(t).first for t in _written_dates(document) if len(t) == 10]
    anchors = [assessment.as_of, *exact]
    boundaries = {d for a in anchors for d in (a, reference.add_months(a, -months), reference.add_months(a, months))}
    for i, line in enumerate(document["lines"]):
        for key in ("start", "end"):
            if key == "end" and line.get("end") == line["start"]:
                continue  # one date written twice (a CAR-T infusion): tried with the start
            if line.get(key) and len(line[key]) < 10:
                yield f"lines[{i}].{key}", line[key], _inside(reference.Days.of(line[key]), boundaries)
    for i, record in enumerate(document.get("apheresis") or ()):
        if record.get("date") and len(record["date"]) < 10:
            yield f"apheresis[{i}].date", record["date"], _inside(reference.Days.of(record["date"]), boundaries)


def _written_dates(document: Mapping[str, Any]) -> list[str]:
    lines = [line.get(k) for line in document["lines"] for k in ("start", "end")]
    return [t for t in lines + [r.get("date") for r in document.get("apheresis") or ()] if t]


def _inside(days: reference.Days, boundaries: set[datetime.date]) -> list[datetime.date]:
    one = datetime.timedelta(days=1)
    near = {b + k * one for b in boundaries for k in (-1, 0, 1)}
    return sorted({days.first, days.last} | {d for d in near if days.first <= d <= days.last})


def _with_date(document: Mapping[str, Any], where: str, written: str, day: datetime.date) -> dict[str, Any]:
    """The document with one imprecise date made exact (a line's end written the same way too)."""
    changed = copy.deepcopy(dict(document))
    head, key = where.rsplit(".", 1)
    name, index = head.rstrip("]").split("[")
    item = changed[name][int(index)]
    item[key] = day.isoformat()
    if name == "lines" and item.get("end") == written:
        item["end"] = day.isoformat()
    return changed


def deterministic_and_order_independent(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """7. The same document gives the same assessment, byte for byte; reversing the order of the
    lines, of the agents in each line and of the candidates changes no verdict, date, rank or rule.
    """
    violations = []
    if to_json(_again(document, assessment)) != to_json(assessment):
        violations.append("evaluating the same document again gave a different assessment")
    reordered = copy.deepcopy(dict(document))
    reordered["lines"] = [{**line, "agents": line["agents"][::-1]} for line in reordered["lines"][::-1]]
    if reordered.get("candidates"):
        reordered["candidates"] = reordered["candidates"][::-1]
    before, after = _outcome(assessment), _outcome(_again(reordered, assessment))
    violations += [f"{b[0]}: {b[1:]} becomes {a[1:]} when lines, agents and candidates are reversed"
                   for b, a in zip(before, after) if a != b]
    return violations


def _outcome(assessment: Assessment) -> list[tuple[Any, ...]]:
    """By the name asked: equals share a rank and are listed in the order they were asked in."""
    return sorted((c.query, c.verdict, c.earliest_date, c.rank, tuple(sorted(f.rule for f in c.findings)))
                  for c in assessment.candidates)


def every_verdict_explained(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """8. Every verdict other than 'acceptable' is explained by a finding with that effect, a rule
    id and a citation; the not-before date is the latest date of the live wait and scheduling
    findings (and of a wait an unknown drug made indeterminate that keeps its bound), and names them; a wait, and only a wait, says what it becomes; every finding's
    rule is one the policy in effect runs.
    """
    violations = []
    for c in assessment.candidates:
        live = [f for f in c.findings if f.overridden is None]
        reasons = [f for f in live if f.effect == c.verdict and f.rule and f.citation.strip()]
        if c.verdict != "acceptable" and not reasons:
            violations.append(f"{c.query}: {c.verdict} without a finding that gives it, with rule id and citation")
        kept = [f for f in live if f.effect == "indeterminate" and f.timing == "wait"]  # a bound an unknown drug left
        timed = [f for f in live if (f.effect in TIMING_EFFECTS or f in kept) and f.earliest_date]
        latest = max((f.earliest_date for f in timed if f.earliest_date), default=None)
        if c.earliest_date != latest or set(c.earliest_date_set_by) != {f.rule for f in timed if f.earliest_date == latest}:
            violations.append(f"{c.query}: not before {c.earliest_date} (set by {', '.join(c.earliest_date_set_by)}), "
                              f"not the latest date of its timing findings ({latest})")
        if (c.then is None) != (c.verdict != "wait"):
            violations.append(f"{c.query}: {c.verdict} with then {c.then!r}")
        violations += [f"{c.query}: {f.rule} fired, but the policy does not run it"
                       for f in c.findings if not rule_runs(assessment, f.rule)]
    return violations


def unknown_agents_never_confident(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """9. An agent the catalog does not know never yields a confident verdict for a rule it could change.

    An unidentified drug in the history could be a recent or same-target TCRT, or a CAR-T, so no
    TCRT candidate is preferred, acceptable or caution; an unidentified candidate never is.
    """
    unknown = [g.name for g in reference.given(document, assessment.catalog, assessment.as_of) if g.agent is None]
    named = _named(document)
    violations = []
    for c in assessment.candidates:
        if c.verdict not in CONFIDENT:
            continue
        if c.query in named and reference.therapy(named[c.query], assessment.catalog) is None:
            violations.append(f"{c.query}: {c.verdict}, but the candidate is not in the catalog")
        elif unknown and c.modality in reference.TCRT:
            violations.append(f"{c.query}: {c.verdict}, but the history holds {', '.join(unknown)}, not in the catalog")
    return violations


def waits_never_overshoot(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """10. A wait never ends later than the interval after the latest possible true date of the dose
    that starts it, and a scheduling constraint never later than the washout after the latest
    possible last conventional dose; that date is itself never after ``as_of``.

    Nothing recorded as given lies after the evaluation day: a dose written as '2026-03' and
    evaluated on 2026-03-20 lies on 2026-03-20 at the latest, so the wait ends 6 months after that
    day at the latest. Bounds are taken over every TCRT in the policy's scope and every conventional
    drug, as written, so they hold whichever of them the clock runs from.
    """
    policy, as_of = assessment.policy, assessment.as_of
    scope = reference.TCRT if policy.interval_scope == "any-tcrt" else ("bsab",)
    latest: dict[str, datetime.date] = {}
    for line in document["lines"]:
        written = line.get("end") or (line["start"] if _is_car_t(line, assessment.catalog) else None)
        last = min(reference.Days.of(written).last, as_of) if written else as_of  # an ongoing line: as_of
        for name in line["agents"]:
            agent = assessment.catalog.lookup(name)
            kind = "interval" if agent and agent.modality in scope else "washout" if agent and agent.modality == "conventional" else None
            if kind:
                latest[kind] = max(latest.get(kind, datetime.date.min), min(last, as_of))
    limits = {rule: reference.add_months(latest["interval"], policy.interval_months) for rule in INTERVAL_RULES if "interval" in latest}
    limits.update({rule: latest["washout"] + datetime.timedelta(days=policy.washout_days) for rule in WASHOUT_RULES if "washout" in latest})
    violations = []
    for c in assessment.candidates:
        for f in c.findings:
            if f.effect in TIMING_EFFECTS and f.earliest_date is not None and f.rule in limits and f.earliest_date > limits[f.rule]:
                violations.append(f"{c.query}: {f.rule} holds until {f.earliest_date}, later than {limits[f.rule]}")
            dose = (f.anchors or {}).get("from") or {}
            if dose.get("date") and datetime.date.fromisoformat(dose["date"]["latest"]) > as_of:
                violations.append(f"{c.query}: {f.rule} counts from a last dose that may lie after as_of ({dose['date']})")
    return violations


def verdict_ignores_scheduling(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """11. A verdict, and what a wait becomes, never change when only a scheduling constraint
    changes: with no washout at all, or the longest one a policy allows.

    The washout after conventional therapy decides when a therapy can start, not which therapy
    the sequencing guidance prefers.
    """
    violations = []
    for days in WASHOUT_DAYS:
        other = evaluate(copy.deepcopy(dict(document)), as_of=assessment.as_of,
                         policy=attrs.evolve(assessment.policy, washout_days=days))
        violations += [f"{c.query}: {c.verdict} (then {c.then}) becomes {o.verdict} (then {o.then}) with a {days}-day washout"
                       for c in assessment.candidates if ((o := other.candidate(c.query)).verdict, o.then) != (c.verdict, c.then)]
    return violations


def car_t_ranks_first_when_only_eligibility_is_missing(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """12. A CAR-T-first patient with CAR-T eligibility unknown never has a bsAb ranked first: no
    bsAb whose caution depends on the missing eligibility ranks above a CAR-T whose only problem
    is that missing fact.

    The review warns against a bsAb before CAR-T where CAR-T may be an option; with eligibility
    unrecorded the board must see the CAR-T first, and record eligibility.
    """
    if document.get("car_t_eligible") is not None:
        return []
    if any(g.modality == "car-t" for g in reference.given(document, assessment.catalog, assessment.as_of)):
        return []

    def live(c: CandidateAssessment) -> list[str]:
        return [f.rule for f in c.findings if f.overridden is None and is_restrictive(f.effect)]

    waiting = [c for c in assessment.candidates if c.modality == "car-t" and live(c) == ["review.car-t-eligibility-unknown"]]
    cautioned = [c for c in assessment.candidates if c.modality == "bsab" and "review.car-t-first-bsab" in live(c)]
    return [f"{b.query} (a bsAb, CAR-T first caution) ranks {b.rank}, above {a.query} (eligibility unknown) at {a.rank}"
            for a in waiting for b in cautioned if b.rank < a.rank]


def _named(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document's candidates as written, by the name each is reported under."""
    return {reference.query(c): c for c in document.get("candidates") or ()}


def regimen_never_less_restrictive_than_its_tcrts(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """13. A regimen is never less restrictive than any T-cell redirecting drug in it given alone: its
    verdict is at least as restrictive, its not-before date no earlier, and where the reserve rule
    lowers the drug's rank it lowers the regimen's too.

    A regimen's targets are all its drugs' targets and it is a TCRT when one of them is, so every
    sequencing rule (CAR-T first, interval, switch target, apheresis, reserve, antigen loss) that
    holds a drug back holds back a regimen that holds it. The drugs alone are judged without the
    labels pack (a combination has a label of its own; a label only adds a caution) and without
    overrides (they name the candidates as asked).
    """
    named = _named(document)
    regimens = [(c, t) for c in assessment.candidates if c.query in named
                and (t := reference.therapy(named[c.query], assessment.catalog)) is not None and len(t.agents) > 1]
    if not regimens:
        return []
    policy = attrs.evolve(assessment.policy, packs=tuple(p for p in assessment.policy.packs if p != "labels"))
    base = {k: v for k, v in copy.deepcopy(dict(document)).items() if k != "overrides"}
    drugs = sorted({a.name for _, t in regimens for a in t.agents if a.modality in reference.TCRT})
    alone = evaluate({**base, "candidates": drugs}, as_of=assessment.as_of, policy=policy)
    violations = []
    for regimen, t in regimens:
        if any(f.overridden is not None for f in regimen.findings):
            continue  # a clinician set a finding of the regimen aside
        for drug in (a.name for a in t.agents if a.modality in reference.TCRT):
            single = alone.candidate(drug)
            if _less_restrictive(regimen, single):
                violations.append(f"{regimen.query}: {_shown(regimen)}, but {drug} alone is {_shown(single)}")
            rules = {f.rule for f in regimen.findings}
            if any(f.rule == "review.reserve" for f in single.findings) and "review.reserve" not in rules:
                violations.append(f"{regimen.query}: keeps a target in reserve, but {drug} alone already uses the last one")
    return violations



def imprecise_progression_is_worst_case_for_retreatment(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """14. A progression date known only to the month or year never lets a drug be given again that
    the disease may have been refractory to: wherever an exact day inside it avoids re-treatment
    (extended.refractory-retreatment), the imprecise date avoids it too.

    IMWG: refractory is progression on therapy or within 60 days of the last dose; an imprecise date
    counts as its worst case. Tried: each end of the range and the days around the 60th day after
    the last dose. In force while both re-treatment rules run.
    """
    if not all(rule_runs(assessment, rule) for rule in RETREATMENT_RULES):
        return []
    violations = []
    for i, line in enumerate(document["lines"]):
        written = line.get("progression")
        if not written or len(written) == 10:
            continue
        days = reference.Days.of(written)
        last = line.get("end") or (line["start"] if _is_car_t(line, assessment.catalog) else None)
        window = [] if last is None else [reference.Days.of(last).first, reference.Days.of(last).last]
        near = {d + datetime.timedelta(days=60 + k) for d in window for k in (-1, 0, 1)}
        for day in sorted({days.first, days.last} | {d for d in near if days.first <= d <= days.last}):
            changed = copy.deepcopy(dict(document))
            changed["lines"][i]["progression"] = day.isoformat()
            try:
                exact = _again(changed, assessment)
            except InputError:
                continue
            for c in assessment.candidates:
                avoided = any(f.rule == RETREATMENT_RULES[0] and f.overridden is None for f in exact.candidate(c.query).findings)
                if avoided and c.verdict != "avoid" and _controls(assessment, c, RETREATMENT_RULES[1]):
                    violations.append(f"{c.query}: {_shown(c)} with lines[{i}].progression '{written}', "
                                      f"but re-treatment is avoided with {day}")
    return violations


def ranks_ignore_names_and_order(document: Mapping[str, Any], assessment: Assessment) -> list[str]:
    """15. Permuting the candidate list, or naming each candidate by a synonym the catalog gives it,
    never changes a rank (README, "Rank": a name never orders candidates)."""
    asked = list(document.get("candidates") or ())
    if len(asked) < 2:
        return []
    renamed = [_synonym(c, assessment.catalog) for c in asked]
    turned = copy.deepcopy(dict(document))
    turned["candidates"] = renamed[1:] + renamed[:1]
    try:
        other = _again(turned, assessment)
    except InputError:  # a synonym that names a candidate twice: nothing to compare
        return []
    violations = []
    for before, after in zip(asked, renamed):
        old, new = assessment.candidate(reference.query(before)), other.candidate(reference.query(after))
        if old.rank != new.rank:
            violations.append(f"{old.query}: rank {old.rank} becomes {new.rank} as {new.query}, with the candidates turned round")
    return violations


def _synonym(candidate: Any, catalog: Catalog) -> Any:
    """The candidate named by another name of each of its drugs, where the catalog gives one."""
    def other(name: str) -> str:
        agent = catalog.lookup(name)
        names = [s for s in (agent.synonyms if agent else ()) if catalog.lookup(s) == agent and s.strip() != name.strip()]
        return names[0] if names else name

    if isinstance(candidate, str):
        return " + ".join(other(n) for n in candidate.split("+")) if "+" in candidate else other(candidate)
    return {"agents": [other(n) for n in candidate["agents"]]}


INVARIANTS: tuple[Invariant, ...] = (
    no_bsab_while_apheresis_pending,
    no_tcrt_inside_interval,
    every_wait_ends,
    interval_monotone_in_time,
    switch_target_ranks_first,
    partial_dates_are_worst_case,
    deterministic_and_order_independent,
    every_verdict_explained,
    unknown_agents_never_confident,
    waits_never_overshoot,
    verdict_ignores_scheduling,
    car_t_ranks_first_when_only_eligibility_is_missing,
    regimen_never_less_restrictive_than_its_tcrts,
    imprecise_progression_is_worst_case_for_retreatment,
    ranks_ignore_names_and_order,
)


def check(document: Mapping[str, Any], policy: Policy | None = None,
          invariants: tuple[Invariant, ...] = INVARIANTS) -> list[str]:
    """Evaluate a document and run every invariant on it; each violation is prefixed by its invariant.

    An evaluation that raises anything is a violation too (an invalid document, ``InputError``,
    is reported as such: the document, not the engine, is then at fault).
    """
    try:
        assessment = evaluate(copy.deepcopy(dict(document)), policy=policy)
    except Exception as error:  # noqa: BLE001 - a crash is what this looks for
        return [f"evaluate: raised {type(error).__name__}: {error}"]
    return run_invariants(invariants, document, assessment)


def run_invariants(invariants: Iterable[Callable[[Mapping[str, Any], _S], list[str]]], document: Mapping[str, Any],
                   subject: _S) -> list[str]:
    """Every invariant's violations on ``subject`` (an assessment, or plans) of ``document``, each
    prefixed by its invariant; an invariant that raises is a violation too."""
    violations = []
    for invariant in invariants:
        try:
            found = invariant(document, subject)
        except Exception as error:  # noqa: BLE001 - a crash is what this looks for
            found = [f"raised {type(error).__name__}: {error}"]
        violations += [f"{invariant.__name__}: {v}" for v in found]
    return violations
