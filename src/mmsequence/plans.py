"""Sequence plans: orders of the next two or three therapies, each step judged by the evaluator.

A plan's first step is the evaluator's own assessment of the history. Each later step is judged on
the history extended with the earlier steps as they would be charted (the assumption, stated in
every output): a step starts on its earliest date (the plan's day if nothing holds it back), is
given, and stops for progression at a relapse whose day is unknown; a CAR-T is collected and
infused on that start day, one infusion. The next step is judged on the day of that relapse.

The relapse is a symbolic anchor: the evaluation places it :data:`PLACEHOLDER_MONTHS` after the
step starts, longer than every clock the rules run (the six-month interval, the 60-day refractory
window, the washout), and every date after it is written relative to it ("relapse 1 + 6 months").
With assumed durations (``months``) the relapses fall on real dates, printed with the assumption.

Interchangeable therapies (single agents of the same targets and modality, with the same verdict,
date and rules at that step, that no other candidate holds) are folded into one step with the
alternatives named; the plan's later steps are judged after the first of them by name (the rules
read an earlier therapy by its target, modality and dates, and by name only to see the same drug
given again, which folding rules out). Plans are ranked by the criteria of
``rules/plans.yaml``; no outcome figure (response rate, PFS) enters a plan or its rank.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import _yaml as yaml
from ._paths import rules_dir
from .assessment import Assessment, CandidateAssessment, Finding
from .catalog import TCRT_TARGETS, Catalog
from .dates import PartialDate, add_months
from .errors import InputError
from .history import Apheresis, CandidateInput, Line, PatientHistory, candidate_query
from .i18n import ENGLISH, format_date, translations
from .vocabulary import TCRT_MODALITIES

if TYPE_CHECKING:
    from .evaluator import Evaluator

#: Where the evaluation places an unknown relapse after a step starts: longer than every clock the
#: default rules run; a policy with a longer interval gets twice its interval.
PLACEHOLDER_MONTHS = 12
#: The file beside the rule packs that holds the plans' ranking criteria.
PLANS_FILE = "plans.yaml"
#: Verdicts a plan counts as restrictions, most restrictive first (an ``avoid`` step is never offered).
RESTRICTIONS = ("indeterminate", "wait", "caution")
STEPS = (2, 3)
NO_PREDICTION = ("Plans do not predict outcomes: no response rate or survival figure is combined into a plan "
                 "or its rank; trial figures appear only where a finding cites them.")


@attrs.frozen
class PlanCriterion:
    """One criterion of ``rules/plans.yaml``: its id, title, evidence, citation, the rank criteria it
    derives from, and the words a plan ranked above another by it gives (English and zh-CN)."""

    id: str
    title: str
    evidence: str
    citation: str
    derived_from: tuple[str, ...]
    reason: str
    translations: tuple[tuple[str, str, str], ...] = ()

    def reason_in(self, language: str) -> str:
        return next((r for lang, _, r in self.translations if lang == language), self.reason)


@functools.cache
def plan_criteria(path: Path | None = None) -> tuple[PlanCriterion, ...]:
    """The criteria of ``rules/plans.yaml``, in order of precedence."""
    source = path or rules_dir() / PLANS_FILE
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    out = []
    for entry in data["criteria"]:
        zh = entry.get("zh-CN", {})
        out.append(PlanCriterion(entry["id"], entry["title"], entry["evidence"], entry["citation"],
                                 tuple(entry["derived_from"]), entry["reason"],
                                 (("zh-CN", zh["title"], zh["reason"]),) if zh else ()))
    if [c.id for c in out] != list(_KEYS):
        raise ValueError(f"{source}: criteria {[c.id for c in out]} differ from those implemented: {list(_KEYS)}")
    return tuple(out)


@attrs.frozen
class When:
    """A day in a plan: the day the evaluation used (``day``), and which relapse it follows
    (``relapse`` 0: the plan's own day, k: the relapse after step k) with its offset, in months
    when it is a whole number of calendar months after it, else in days."""

    day: datetime.date
    relapse: int
    months: int | None
    days: int | None
    assumed: bool = False  # the relapses fall on the days assumed durations give

    def words(self, language: str = ENGLISH) -> str:
        """'relapse 1 + 6 months' (symbolic), or the day, with the assumption beside it, in ``language``."""
        _ = translations(language).gettext
        if self.relapse == 0:
            return format_date(self.day, language)
        if self.assumed:
            return _("{date} (assumed durations)").format(date=format_date(self.day, language))
        if self.months == 0 or self.days == 0:
            return _("relapse {number}").format(number=self.relapse)
        if self.months:
            return _("relapse {number} + {months} months").format(number=self.relapse, months=self.months)
        return _("relapse {number} + {days} days").format(number=self.relapse, days=self.days)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"relapse": self.relapse}
        if self.relapse == 0 or self.assumed:
            out["date"] = self.day.isoformat()
        if self.months is not None:
            out["months"] = self.months
        if self.days is not None:
            out["days"] = self.days
        return out


@attrs.frozen
class PlanStep:
    """One step: the therapy (and the interchangeable ``alternatives``), its verdict on the extended
    history, when it can start (``starts``: the plan's day or a relapse; ``not_before``: the
    not-before date the rules in ``not_before_rules`` set), the findings that shaped it, and
    ``reused_target`` and ``passed_over``: the target it re-uses and the untouched targets it passes
    over, whose candidates had an equal verdict at that step (both empty otherwise)."""

    number: int
    therapy: str
    alternatives: tuple[str, ...]
    target: tuple[str, ...]
    modality: str
    verdict: str
    then: str | None
    starts: When
    not_before: When | None
    not_before_rules: tuple[str, ...]
    findings: tuple[Finding, ...]
    reused_target: tuple[str, ...] = ()
    passed_over: tuple[str, ...] = ()
    #: Its rank among the candidates not yet in the plan, evaluated at its step (rules/rank.yaml).
    rank: int = 0
    #: The therapy's assessment as the evaluator gave it (findings with the evaluation's own dates),
    #: and the days the evaluation placed the relapses before it on (for messages in another language).
    assessed: CandidateAssessment | None = attrs.field(default=None, eq=False, repr=False)
    relapses: tuple[datetime.date, ...] = attrs.field(default=(), eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.number, "rank_at_step": self.rank, "therapy": self.therapy, "alternatives": list(self.alternatives),
            "target": list(self.target), "modality": self.modality, "verdict": self.verdict, "then": self.then,
            "starts": self.starts.to_dict(), "not_before": None if self.not_before is None else self.not_before.to_dict(),
            "not_before_rules": list(self.not_before_rules),
            "findings": [{"rule": f.rule, "effect": f.effect, "message": f.message} for f in self.findings],
        }
        if self.reused_target:
            out["reuses_target"] = {"target": list(self.reused_target), "untouched_with_equal_verdict": list(self.passed_over)}
        return out


@attrs.frozen
class Plan:
    """An order of therapies, its standing, its place in the list (``number``) and its rank: plans of
    equal rank are ties (``tied_with``: their numbers); ``ranked_above_by`` is the criterion that puts
    it above the plans of the next rank."""

    steps: tuple[PlanStep, ...]
    restrictions: tuple[tuple[int, str, tuple[str, ...]], ...]  # (step, verdict, rules)
    reserve_targets: tuple[str, ...]
    reserve_modalities: tuple[str, ...]
    car_t_first: bool | None
    key: tuple[Any, ...] = attrs.field(eq=False, repr=False)
    number: int = 0  # its place in the list of plans, best first
    rank: int = 0
    tied_with: tuple[int, ...] = ()
    ranked_above_by: str | None = None

    @property
    def name(self) -> str:
        return " → ".join(s.therapy for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.number, "rank": self.rank, "tied_with": list(self.tied_with), "ranked_above_next_by": self.ranked_above_by,
            "steps": [s.to_dict() for s in self.steps],
            "restrictions": [{"step": n, "verdict": v, "rules": list(r)} for n, v, r in self.restrictions],
            "reserve": {"targets": list(self.reserve_targets), "modalities": list(self.reserve_modalities)},
            "car_t_first": self.car_t_first,
        }


@attrs.frozen
class Plans:
    """Every plan offered for one patient, best first, with what they were made from: the first
    assessment, the number of extended histories evaluated, and the plans not offered (a step to avoid)."""

    patient_id: str
    as_of: datetime.date
    steps: int
    months: tuple[int, ...] | None
    plans: tuple[Plan, ...]
    not_offered: int
    evaluations: int
    first: Assessment = attrs.field(eq=False, repr=False)

    @property
    def assumption(self) -> str:
        if self.months:
            said = ", ".join(f"step {i + 1} {m} months" for i, m in enumerate(self.months))
            return (f"Each step starts on its earliest date, is given until progression and is stopped at relapse; "
                    f"assumed durations from start to relapse: {said}. Dates after step 1 rest on them.")
        return ("Each step starts on its earliest date, is given until progression and is stopped at a relapse whose "
                "day is unknown (a CAR-T: collected and infused once on its start day); the next step is judged at that "
                "relapse. Dates after step 1 are written relative to it: 'relapse 1 + 6 months'.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id, "as_of": self.as_of.isoformat(), "steps": self.steps,
            "assumption": self.assumption, "assumed_months": list(self.months) if self.months else None,
            "no_prediction": NO_PREDICTION, "evaluations": self.evaluations, "not_offered": self.not_offered,
            "criteria": [c.id for c in plan_criteria()],
            "plans": [p.to_dict() for p in self.plans],
            "ruleset": self.first.ruleset.to_dict(),
        }


def default_candidates(catalog: Catalog, jurisdiction: str | None) -> tuple[str, ...]:
    """Every approved T-cell redirecting therapy on the market in the jurisdiction, and every approved
    regimen holding one whose T-cell redirecting agents are all on the market there."""
    agents = [a.name for a in catalog.approved_tcrts(jurisdiction)]
    regimens = []
    for regimen in catalog.regimens:
        parts = [catalog.lookup(name) for name in sorted(regimen.agents)]
        tcrts = [a for a in parts if a is not None and a.is_tcrt]
        if regimen.status == "approved" and tcrts and all(a.name in agents for a in tcrts):
            regimens.append(regimen.name)
    return (*agents, *regimens)


def make_plans(evaluator: Evaluator, history: PatientHistory, steps: int = 3, as_of: datetime.date | str | None = None,
               candidates: Sequence[CandidateInput] | None = None, months: Sequence[int] | None = None) -> Plans:
    """The plans of ``steps`` steps for ``history``; see :meth:`mmsequence.evaluator.Evaluator.plan`."""
    if steps not in STEPS:
        raise InputError([f"steps: {steps!r} must be 2 or 3"])
    if months is not None and (len(months) != steps - 1 or any(m < 1 for m in months)):
        raise InputError([f"months: {list(months)!r} must give {steps - 1} whole numbers of months (≥1), one per step "
                          "before the last"])
    chosen = tuple(candidates) if candidates is not None else history.candidates
    if chosen is None:
        chosen = default_candidates(evaluator.catalog, history.jurisdiction)
    history = attrs.evolve(history, candidates=chosen)
    first = evaluator.evaluate(history, as_of)
    walk = _Walk(evaluator, steps, tuple(months) if months else None, first)
    found = list(walk.plans(history, first, (), ()))
    longest = max((len(p.steps) for p in found), default=0)
    offered = _ranked([p for p in found if len(p.steps) == longest])
    return Plans(first.patient_id, first.as_of, steps, tuple(months) if months else None, offered,
                 walk.not_offered, walk.evaluations, first)


class _Walk:
    """The enumeration: depth first over folded steps, one evaluation per extended history."""

    def __init__(self, evaluator: Evaluator, steps: int, months: tuple[int, ...] | None, first: Assessment) -> None:
        self.evaluator, self.steps, self.months, self.first = evaluator, steps, months, first
        self.evaluations = 1
        self.placeholder = max(PLACEHOLDER_MONTHS, 2 * evaluator.policy.interval_months)
        self.not_offered = 0
        self.frozen_as_of = first.as_of
        used = [e.agent for e in first.course.exposures]
        self.history_targets = tuple(t for t in TCRT_TARGETS if any(t in a.targets for a in used if a.modality != "conventional"))
        self.history_modalities = tuple(m for m in TCRT_MODALITIES if any(a.modality == m for a in used))
        self.car_t_option = any(c.modality == "car-t" and c.verdict != "avoid" and any(
            f.effect == "preferred" and f.overridden is None for f in c.findings) for c in first.candidates)

    def plans(self, history: PatientHistory, assessment: Assessment, prefix: tuple[PlanStep, ...],
              relapses: tuple[datetime.date, ...]) -> Iterator[Plan]:
        number = len(prefix) + 1
        given = {s.therapy for s in prefix} | {a for s in prefix for a in s.alternatives}
        open_ = [c for c in assessment.candidates if c.therapy not in given and c.query not in given]
        touched = set(self.history_targets) | {t for s in prefix for t in s.target if t in TCRT_TARGETS}
        groups = _groups(open_)
        if prefix and not any(g[0].verdict != "avoid" for g in groups):
            yield self._plan(prefix)
            return
        for group in groups:
            lead = group[0]
            if lead.verdict == "avoid":
                self.not_offered += 1
                continue
            step = self._step(number, group, groups, touched, relapses)
            if number == self.steps:
                yield self._plan((*prefix, step))
                continue
            start = step_start(lead, history, assessment.as_of)
            duration = self.months[number - 1] if self.months else self.placeholder
            relapse = add_months(start, duration)
            extended = extend(history, lead, start, relapse, self.frozen_as_of, self.evaluator.catalog)
            left = {c.query for c in open_} - {c.query for c in group}
            extended = attrs.evolve(extended, candidates=tuple(c for c in history.candidates or () if candidate_query(c) in left))
            self.evaluations += 1
            yield from self.plans(extended, self.evaluator.evaluate(extended, relapse), (*prefix, step), (*relapses, relapse))

    def _step(self, number: int, group: list[CandidateAssessment], groups: list[list[CandidateAssessment]],
              touched: set[str], relapses: tuple[datetime.date, ...]) -> PlanStep:
        lead = group[0]
        targets = tuple(t for t in lead.target if t in TCRT_TARGETS)
        reused = tuple(t for t in targets if t in touched)
        passed_over: tuple[str, ...] = ()
        if reused:
            passed_over = tuple(sorted({t for g in groups for t in g[0].target if t in TCRT_TARGETS and t not in touched
                                        and (g[0].verdict, g[0].then) == (lead.verdict, lead.then)}))
        assumed = self.months is not None
        starts = _when(relapses[-1], relapses, assumed) if relapses else When(self.first.as_of, 0, None, None)
        not_before = _when(lead.earliest_date, relapses, assumed) if lead.earliest_date else None
        return PlanStep(
            number=number, therapy=lead.therapy, alternatives=tuple(c.therapy for c in group[1:]),
            target=lead.target, modality=lead.modality, verdict=lead.verdict, then=lead.then,
            starts=starts, not_before=not_before, not_before_rules=lead.earliest_date_set_by,
            findings=tuple(attrs.evolve(f, message=relative_text(f.message, relapses, bool(self.months)))
                           for f in lead.findings if f.overridden is None),
            reused_target=reused if passed_over else (), passed_over=passed_over, assessed=lead, relapses=relapses,
            rank=lead.rank,
        )

    def _plan(self, steps: tuple[PlanStep, ...]) -> Plan:
        restrictions = tuple((s.number, s.verdict, tuple(sorted({f.rule for f in s.findings if f.effect == s.verdict})))
                             for s in steps if s.verdict in RESTRICTIONS)
        targets = set(self.history_targets) | {t for s in steps for t in s.target}
        modalities = set(self.history_modalities) | {s.modality for s in steps}
        reserve_targets = tuple(t for t in TCRT_TARGETS if t not in targets)
        reserve_modalities = tuple(m for m in TCRT_MODALITIES if m not in modalities)
        car_t_first = (steps[0].modality == "car-t") if self.car_t_option else None
        first_rank = next(c.rank for c in self.first.candidates if c.therapy == steps[0].therapy)
        counts = tuple(sum(1 for _, v, _ in restrictions if v == verdict) for verdict in RESTRICTIONS)
        reuses = sum(1 for s in steps if any(t in self.history_targets or any(t in p.target for p in steps[: s.number - 1])
                                              for t in s.target if t in TCRT_TARGETS))
        key = (first_rank, 1 if car_t_first is False else 0, counts, tuple(s.rank for s in steps[1:]), reuses,
               (-len(reserve_targets), -len(reserve_modalities)))
        return Plan(steps, restrictions, reserve_targets, reserve_modalities, car_t_first, key)


#: The criteria of ``rules/plans.yaml`` in the order of a plan's key.
_KEYS = ("plan.first-step", "plan.car-t-first", "plan.verdicts", "plan.later-steps", "plan.switch-target", "plan.reserve")


def _groups(candidates: list[CandidateAssessment]) -> list[list[CandidateAssessment]]:
    """Candidates folded by what makes them interchangeable at this step: targets, modality, verdict,
    what a wait becomes, not-before date, and the rules that fired with their effects. A regimen
    folds with none, nor does a drug another candidate holds (teclistamab, in Tec-Dara): a later
    step could re-use that very drug, which the rules judge by name. Each group is led by the first
    of its therapies by name; groups are ordered by their lead."""
    held = {a for c in candidates for a in c.agents}
    by_key: dict[tuple[Any, ...], list[CandidateAssessment]] = {}
    for c in candidates:
        alone = c.therapy if c.agents or c.therapy in held else None
        key = (c.target, c.modality, alone, c.verdict, c.then, c.earliest_date,
               tuple(sorted((f.rule, f.effect) for f in c.findings if f.overridden is None)))
        by_key.setdefault(key, []).append(c)
    groups = [sorted(g, key=lambda c: c.therapy) for g in by_key.values()]
    return sorted(groups, key=lambda g: g[0].therapy)


def step_start(step: CandidateAssessment, history: PatientHistory, as_of: datetime.date) -> datetime.date:
    """The day a step starts: its not-before date, else ``as_of``; a CAR-T not before the collection
    the history plans (its first possible day)."""
    start = step.earliest_date or as_of
    planned = history.apheresis[-1] if history.apheresis and history.apheresis[-1].status == "planned" else None
    if step.modality == "car-t" and planned is not None and planned.date is not None:
        start = max(start, planned.date.earliest)
    return start


def extend(history: PatientHistory, step: CandidateAssessment, start: datetime.date, relapse: datetime.date,
           as_of: datetime.date, catalog: Catalog) -> PatientHistory:
    """The history with one more line: ``step`` from ``start``, given until progression at ``relapse``
    (a CAR-T: collected and infused on ``start``, the collection a planned one becomes). A line still given on the plan's day (``as_of``)
    stops that day (a CAR-T line is one infusion and has no later dose); overrides are the first step's only."""
    lines = tuple(attrs.evolve(line, end=PartialDate.of(as_of)) if line.end is None and line.start.earliest <= as_of
                  and not _car_t(line, catalog) else line for line in history.lines)
    car_t = step.modality == "car-t"
    added = Line(agents=step.agents or (step.therapy,), start=PartialDate.of(start),
                 end=PartialDate.of(start if car_t else relapse), stop_reason="progression",
                 progression=PartialDate.of(relapse))
    apheresis = history.apheresis
    if car_t:
        kept = apheresis[:-1] if apheresis and apheresis[-1].status == "planned" else apheresis
        apheresis = (*kept, Apheresis("done", PartialDate.of(start)))
    return attrs.evolve(history, lines=(*lines, added), apheresis=apheresis, overrides=(), as_of=relapse)


def _car_t(line: Line, catalog: Catalog) -> bool:
    return any((agent := catalog.lookup(name)) is not None and agent.modality == "car-t" for name in line.agents)


def _when(day: datetime.date, relapses: tuple[datetime.date, ...], assumed: bool = False) -> When:
    """``day`` relative to the latest relapse on or before it (0: before every relapse)."""
    k = max((i + 1 for i, r in enumerate(relapses) if r <= day), default=0)
    if k == 0:
        return When(day, 0, None, None)
    relapse = relapses[k - 1]
    # Whole months as the rules count them (end-of-month clipping: a relapse on 31 August + 6 months
    # is 28 February), so that the words do not depend on the day the relapse is placed on.
    months = next((m for m in range(121) if add_months(relapse, m) == day), None)
    if months is not None:
        return When(day, k, months, None, assumed)
    return When(day, k, None, (day - relapse).days, assumed)


#: How a day is written in a message, by language (ISO in English, CLDR long in Chinese).
_DAY_PATTERNS = {ENGLISH: re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "zh-CN": re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")}


def relative_text(text: str, relapses: tuple[datetime.date, ...], assumed: bool, language: str = ENGLISH) -> str:
    """A finding's message with each day on or after the first relapse written as its relapse offset
    (with assumed durations: the day, marked as resting on them)."""
    if not relapses:
        return text

    def replace(match: re.Match[str]) -> str:
        try:
            day = datetime.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return _when(day, relapses, assumed).words(language) if day >= relapses[0] else match[0]

    return _DAY_PATTERNS[language].sub(replace, text)


def _ranked(plans: list[Plan]) -> tuple[Plan, ...]:
    """Plans best first by their key; equal keys share a rank (ties shown as ties), listed by name."""
    ordered = sorted(plans, key=lambda p: (p.key, p.name, p.steps[0].alternatives))
    out: list[Plan] = []
    rank = 0
    for i, plan in enumerate(ordered):
        if i == 0 or plan.key != ordered[i - 1].key:
            rank = i + 1
        out.append(attrs.evolve(plan, rank=rank))
    final = []
    for i, plan in enumerate(out):
        tied = tuple(j + 1 for j, other in enumerate(out) if other.rank == plan.rank and j != i)  # their numbers
        below = next((o for o in out[i + 1:] if o.rank > plan.rank), None)
        by = None
        if below is not None:
            by = next(cid for cid, a, b in zip(_KEYS, plan.key, below.key) if a != b)
        final.append(attrs.evolve(plan, number=i + 1, tied_with=tied, ranked_above_by=by))
    return tuple(final)

