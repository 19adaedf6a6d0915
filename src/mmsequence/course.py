"""A patient's course of therapy as of one day, derived once from a validated history.

The :class:`PatientCourse` is the one source of what happened: which agents were given in which
line, which are ongoing, each line's last dose, the apheresis state, and the T-cell recovery
interval and washout clocks. The engine's facts (:mod:`mmsequence._facts`), the ``derived``
summary of the output and the board's timeline are all read from it. Uncertain dates are
answered through :class:`~mmsequence.dates.PartialDate` alone; tri-state values are the strings
``yes``, ``no`` and ``unknown``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .catalog import ROLE_WORDS, Agent, Catalog
from .dates import PartialDate
from .errors import InputError
from .history import Line, PatientHistory
from .policy import Policy

TCRT_TARGETS = ("BCMA", "GPRC5D", "FcRH5")
#: Drug classes that count for the labels' "prior therapy including ..." clauses.
LABEL_CLASSES = {"pi": "proteasome-inhibitor", "imid": "imid", "anti_cd38": "anti-cd38"}
#: Conventional classes that do not start the washout clock before apheresis or a bsAb.
NO_WASHOUT_CLASSES = ("supportive", "corticosteroid")
#: Apheresis states: no record, a plan pending, T cells collected (and not yet infused), collected
#: and used by a later infusion, the last collection failed, the plan was cancelled.
APHERESIS_STATES = ("none", "pending", "collected", "used", "failed", "cancelled")

Tri = str
"""``yes``, ``no`` or ``unknown``."""


def tri(value: bool | None) -> Tri:
    return {True: "yes", False: "no", None: "unknown"}[value]


def any_of(values: Iterable[Tri]) -> Tri:
    """Tri-state OR: yes if any is yes, unknown if any is unknown, else no."""
    seen = list(values)
    return "yes" if "yes" in seen else "unknown" if "unknown" in seen else "no"


def all_of(values: Iterable[Tri]) -> Tri:
    """Tri-state AND."""
    seen = list(values)
    return "no" if "no" in seen else "unknown" if "unknown" in seen else "yes"


def line_refractory(line: Line, one_infusion: bool = False) -> Tri:
    """IMWG: refractory means progression on therapy (or within 60 days of the last dose).

    An explicit ``refractory`` flag wins. A continuous line that stopped for progression is
    refractory; a one-time CAR-T infusion is not "on therapy" later, so its progression says
    nothing without the flag. Anything else is unknown: progression soon after stopping
    cannot be ruled out.
    """
    if line.refractory is not None:
        return tri(line.refractory)
    return "yes" if line.stop_reason == "progression" and not one_infusion else "unknown"


@attrs.frozen
class Exposure:
    """One agent given in one line (``end`` None: still ongoing at ``as_of``, or a CAR-T infusion)."""

    agent: Agent
    line: int
    start: PartialDate
    end: PartialDate | None
    refractory: Tri

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
class NotTherapy:
    """A drug in the history that is not anti-myeloma therapy: its name, its role in words, where it is."""

    name: str
    role: str
    where: str

    def to_dict(self) -> dict[str, str]:
        return {"drug": self.name, "role": self.role, "record": self.where}


@attrs.frozen
class TherapyLineCourse:
    """A line of therapy as the rules count it: the history lines it is made of (a CAR-T line may be
    its bridging and its infusion), by index."""

    number: int
    indices: tuple[int, ...]
    start: PartialDate


@attrs.frozen
class Candidate:
    """A therapy to assess, as the input named it, and the catalog agent it names (None: unknown)."""

    query: str
    agent: Agent | None


@attrs.frozen
class ApheresisState:
    """The state of CAR-T apheresis (one of APHERESIS_STATES), the last record's date and product."""

    state: str
    date: PartialDate | None = None
    product: Agent | None = None


@attrs.frozen
class Clock:
    """Whether a candidate's anchor falls on or after the latest of the earlier last doses, shifted
    by the interval or washout.

    ``status`` is ``met``, ``unmet``, ``uncertain`` (an imprecise date) or ``none`` (nothing came
    earlier). ``window`` is the span of days on which the shifted latest last dose may fall, and
    ``source`` the exposure whose last dose gives its latest day.
    """

    status: str
    source: Exposure | None = None
    last_dose: PartialDate | None = None
    window: PartialDate | None = None


_NO_CLOCK = Clock("none")

Anchor = tuple[PartialDate, str]
"""When a candidate would take effect, and which event that is: ``as-of`` (the first dose, at the
earliest on the evaluation day), ``planned-apheresis`` or ``collected-apheresis``."""


@attrs.frozen
class LineCourse:
    """One line of therapy as drawn and summarised: its agents looked up, last dose and interval."""

    number: int  # 1-based, as a clinician counts lines
    line: Line
    agents: tuple[Agent | None, ...]
    one_infusion: bool  # the line holds a CAR-T: one infusion on its start
    ongoing: bool
    last_dose: PartialDate
    interval_end: PartialDate | None  # when the T-cell recovery interval after this line ends, if it starts one

    @property
    def targets(self) -> tuple[str, ...]:
        """Targets of the line's TCRTs, BCMA, GPRC5D, FcRH5 first, then any other alphabetically."""
        found = {t for a in self.agents if a is not None and a.is_tcrt for t in a.targets}
        return tuple(t for t in dict.fromkeys((*TCRT_TARGETS, *sorted(found))) if t in found)


def _window(earlier: list[Exposure], as_of: datetime.date,
            shift: Callable[[PartialDate], PartialDate]) -> tuple[PartialDate, Exposure]:
    """The span of days on which the latest of ``earlier`` last doses, shifted, ends; and its exposure.

    Calendar shifts are monotone, so the latest possible end is the shift of the latest possible
    last dose (and likewise for the earliest): only the two extremes are shifted.
    """
    doses = [(e.last_dose(as_of), e) for e in earlier]
    latest, last = max(doses, key=lambda pair: (pair[0].latest, pair[0].earliest, pair[1].line))
    earliest = max(dose.earliest for dose, _ in doses)
    return PartialDate.between(shift(PartialDate.of(earliest)).earliest, shift(latest).latest), last


@attrs.define
class PatientCourse:
    """What the history says happened, as of ``as_of`` under ``policy``; build with :func:`derive_course`."""

    history: PatientHistory
    catalog: Catalog
    policy: Policy
    as_of: datetime.date
    exposures: tuple[Exposure, ...]
    unknown: tuple[str, ...]  # "name (lines[i])" of each agent the catalog does not know
    apheresis: ApheresisState
    candidates: tuple[Candidate, ...]
    lines: tuple[LineCourse, ...]
    warnings: tuple[str, ...]
    not_therapy: tuple[NotTherapy, ...] = ()
    therapy_lines: tuple[TherapyLineCourse, ...] = ()
    tcrt: tuple[Exposure, ...] = attrs.field(init=False)
    exposed_targets: frozenset[str] = attrs.field(init=False)
    lost: dict[str, bool | None] = attrs.field(init=False)
    _clocks: dict[tuple[str, PartialDate], Clock] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.tcrt = tuple(e for e in self.exposures if e.agent.is_tcrt)
        self.exposed_targets = frozenset(t for e in self.tcrt for t in e.agent.targets)
        b = self.history.biomarkers
        self.lost = {"BCMA": b.bcma_loss, "GPRC5D": b.gprc5d_loss, "FcRH5": b.fcrh5_loss}

    @property
    def car_t(self) -> tuple[Exposure, ...]:
        return tuple(e for e in self.exposures if e.agent.modality == "car-t")

    @property
    def jurisdiction(self) -> str | None:
        return self.history.jurisdiction or self.policy.jurisdiction

    def anchor(self, agent: Agent) -> Anchor:
        """When the candidate would take effect: the first bsAb dose, or the T-cell collection for a CAR-T.

        A pending plan cannot happen before ``as_of``: of a plan known to the month, only the days
        from ``as_of`` on remain.
        """
        state, date = self.apheresis.state, self.apheresis.date
        if agent.modality == "car-t" and date is not None:
            if state == "collected":
                return date, "collected-apheresis"
            if state == "pending" and self.policy.car_t_anchor == "planned-apheresis":
                if date.earliest < self.as_of:
                    date = PartialDate.between(self.as_of, date.latest)
                return date, "planned-apheresis"
        return PartialDate.of(self.as_of), "as-of"

    def interval(self, anchor: PartialDate) -> Clock:
        """The T-cell recovery interval between the last earlier TCRT (by the policy's scope) and ``anchor``."""
        return self._clock("interval", anchor)

    def washout(self, anchor: PartialDate) -> Clock:
        """The washout from the last conventional anti-myeloma dose to ``anchor``."""
        return self._clock("washout", anchor)

    def _clock(self, kind: str, anchor: PartialDate) -> Clock:
        key = (kind, anchor)
        if key not in self._clocks:
            if kind == "interval":
                starts = ("bsab", "car-t") if self.policy.interval_scope == "any-tcrt" else ("bsab",)
                earlier = [e for e in self.exposures if e.agent.modality in starts and e.start.after(anchor) is not True]
                months = self.policy.interval_months
                self._clocks[key] = self._measure(earlier, anchor, lambda d: d.plus_months(months))
            else:
                earlier = [
                    e for e in self.exposures
                    if e.agent.modality == "conventional" and e.agent.drug_class not in NO_WASHOUT_CLASSES
                    and e.start.after(anchor) is not True
                ]
                days = self.policy.washout_days
                self._clocks[key] = self._measure(earlier, anchor, lambda d: d.plus_days(days))
        return self._clocks[key]

    def _measure(self, earlier: list[Exposure], anchor: PartialDate,
                 shift: Callable[[PartialDate], PartialDate]) -> Clock:
        if not earlier:
            return _NO_CLOCK
        window, last = _window(earlier, self.as_of, shift)
        status = {True: "met", False: "unmet", None: "uncertain"}[anchor.on_or_after(window)]
        return Clock(status, last, None if last.ongoing else last.last_dose(self.as_of), window)

    def same_target(self, agent: Agent) -> tuple[Exposure, ...]:
        """Earlier TCRTs against any target of ``agent``."""
        targets = set(agent.targets)
        return tuple(e for e in self.tcrt if targets & set(e.agent.targets))

    def reserve(self, agent: Agent) -> tuple[str, ...]:
        """Targets still untouched by any TCRT, not used by ``agent`` and not known to be lost."""
        return tuple(t for t in TCRT_TARGETS
                     if t not in self.exposed_targets and t not in agent.targets and self.lost[t] is not True)

    def class_facts(self) -> dict[str, Tri]:
        """Prior-therapy facts the labels read: class exposure, lenalidomide refractoriness, last-line progression."""
        facts = {}
        for key, drug_class in LABEL_CLASSES.items():
            hit = any(e.agent.drug_class == drug_class for e in self.exposures)
            facts[f"exposed_{key}"] = "yes" if hit else "unknown" if self.unknown else "no"
        facts["triple_class_exposed"] = all_of(facts[f"exposed_{k}"] for k in LABEL_CLASSES)
        lenalidomide = [e.refractory for e in self.exposures if e.agent.name == "lenalidomide"]
        facts["lenalidomide_refractory"] = any_of(lenalidomide) if lenalidomide else "unknown" if self.unknown else "no"
        facts["progression_on_last"] = self.progression_on_last()
        return facts

    @property
    def prior_lines(self) -> int:
        """Lines of therapy so far: a line with no anti-myeloma drug counts for nothing."""
        return len(self.therapy_lines)

    def progression_on_last(self) -> Tri:
        """Whether the disease progressed on the last line of therapy (its latest part decides)."""
        if not self.therapy_lines:
            return "no"
        last = self.therapy_lines[-1]
        parts = [self.history.lines[i] for i in last.indices]
        latest = max(parts, key=lambda line: (line.start.earliest, line.start.latest))
        return "yes" if latest.stop_reason == "progression" else line_refractory(latest)

    def not_therapy_by_drug(self) -> list[dict[str, Any]]:
        """The drugs that are not anti-myeloma therapy, one entry per drug and role, with their records."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for n in self.not_therapy:
            grouped.setdefault((n.name, n.role), []).append(n.where)
        return [{"drug": name, "role": role, "records": records} for (name, role), records in grouped.items()]

    def line_summaries(self) -> list[str]:
        """Each line of therapy in words: number, dates, drugs, and how it was formed or why it ended."""
        out = []
        for line in self.therapy_lines:
            parts = [self.history.lines[i] for i in line.indices]
            agents = list(dict.fromkeys(a for part in parts for a in part.agents))
            ends = [part.end for part in parts if part.end is not None]
            end = "ongoing" if len(ends) < len(parts) else str(max(ends, key=lambda d: (d.latest, d.earliest)))
            last = max(parts, key=lambda part: (part.start.earliest, part.start.latest))
            stop = f"; stopped for {last.stop_reason}" if last.stop_reason else ""
            why = parts[0].origin.reason if parts[0].origin is not None else None
            out.append(f"{line.number}. {line.start} to {end}: {', '.join(agents)}{stop}" + (f" ({why})" if why else ""))
        return out

    def last_tcrt_dose(self) -> str | None:
        """The latest last dose of any TCRT, as text with its line (None: no TCRT so far)."""
        if not self.tcrt:
            return None
        window, last = _window(list(self.tcrt), self.as_of, lambda d: d)
        return f"{window.text} ({last.label}{', ongoing' if last.ongoing else ''})"

    def summary(self) -> dict[str, Any]:
        """The ``derived`` section of the output: what the rules read, for a reader to check."""
        classes = self.class_facts()
        by_target = {
            t: [e.label for e in self.exposures if e.agent.modality in ("bsab", "car-t", "adc") and t in e.agent.targets]
            for t in TCRT_TARGETS
        }
        return {
            "prior_lines": self.prior_lines,
            "jurisdiction": self.jurisdiction or "none",
            "car_t_eligible": tri(self.history.car_t_eligible),
            "tcrt_count": len(self.tcrt),
            "tcrt_exposures": [e.label for e in self.tcrt],
            "last_tcrt_dose": self.last_tcrt_dose(),
            "exposures_by_target": {t: labels for t, labels in by_target.items() if labels},
            "triple_class_exposed": classes["triple_class_exposed"],
            "triple_class_refractory": all_of(
                any_of(e.refractory for e in self.exposures if e.agent.drug_class == c)
                if classes[f"exposed_{k}"] == "yes" else "no"
                for k, c in LABEL_CLASSES.items()
            ),
            "lenalidomide_refractory": classes["lenalidomide_refractory"],
            "progression_on_last": classes["progression_on_last"],
            "apheresis": self.apheresis.state,
            "apheresis_date": None if self.apheresis.date is None else str(self.apheresis.date),
            "unknown_agents": list(self.unknown),
            "not_anti_myeloma_therapy": self.not_therapy_by_drug(),
        }


def line_role(agent: Agent, line_agents: Iterable[Agent | None]) -> str:
    """The role an agent plays in a document line: its own, or lymphodepletion beside a CAR-T."""
    if agent.may_be("lymphodepletion") and agent.modality != "car-t" and any(
        a is not None and a.modality == "car-t" for a in line_agents
    ):
        return "lymphodepletion"
    return agent.role


def _exposures(history: PatientHistory, catalog: Catalog) -> tuple[list[Exposure], list[str], list[NotTherapy]]:
    """Exposures to anti-myeloma therapy, unknown agents, and the other drugs the lines name."""
    exposures, unknown, others = [], [], []
    for i, line in enumerate(history.lines):
        agents = [catalog.lookup(name) for name in line.agents]
        for name, agent in zip(line.agents, agents):
            if agent is None:
                unknown.append(f"{name} (lines[{i}])")
                continue
            role = line_role(agent, agents)
            if role != "anti-myeloma":
                others.append(NotTherapy(agent.name, ROLE_WORDS[role], f"lines[{i}]"))
                continue
            refractory = line_refractory(line, one_infusion=agent.modality == "car-t")
            exposures.append(Exposure(agent, i, line.start, line.end, refractory))
    return exposures, unknown, others


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


def _apheresis_state(history: PatientHistory, exposures: list[Exposure], catalog: Catalog, as_of: datetime.date,
                     warnings: list[str]) -> ApheresisState:
    """The last record decides: pending, collected, used, failed, cancelled (none without a record)."""
    if not history.apheresis:
        return ApheresisState("none")
    last = history.apheresis[-1]
    product = catalog.lookup(last.product) if last.product else None
    if last.status == "planned":
        if last.date is not None and last.date.before(as_of):
            warnings.append(f"apheresis[{len(history.apheresis) - 1}].date: planned for '{last.date}', "
                            f"before as_of {as_of}; treated as pending with no date")
            return ApheresisState("pending", None, product)
        return ApheresisState("pending", last.date, product)
    if last.status == "done" and last.date is not None:
        car_t = [e for e in exposures if e.agent.modality == "car-t"]
        unordered = [e for e in car_t if e.start.on_or_after(last.date) is None]
        if unordered:
            raise InputError([
                f"lines[{e.line}].start: '{e.start}' cannot be ordered against apheresis[{len(history.apheresis) - 1}]"
                f".date '{last.date}': give the day of the infusion or of the collection" for e in unordered
            ])
        used = any(e.start.on_or_after(last.date) for e in car_t)
        return ApheresisState("used" if used else "collected", last.date, product)
    return ApheresisState(last.status, last.date, product)


def _candidates(history: PatientHistory, catalog: Catalog) -> tuple[Candidate, ...]:
    if history.candidates is None:
        return tuple(Candidate(a.name, a) for a in catalog.approved_tcrts())
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
    return tuple(result)


def _lines(history: PatientHistory, exposures: list[Exposure], catalog: Catalog, policy: Policy,
           as_of: datetime.date) -> tuple[LineCourse, ...]:
    clock = ("bsab", "car-t") if policy.interval_scope == "any-tcrt" else ("bsab",)
    result = []
    for i, line in enumerate(history.lines):
        agents = tuple(map(catalog.lookup, line.agents))
        mine = [e for e in exposures if e.line == i]
        one_infusion = any(e.agent.modality == "car-t" for e in mine)
        ongoing = line.end is None and not one_infusion
        last = line.start if one_infusion else PartialDate.of(as_of) if line.end is None else line.end
        starts = any(e.agent.modality in clock for e in mine)
        result.append(LineCourse(i + 1, line, agents, one_infusion, ongoing, last,
                                 last.plus_months(policy.interval_months) if starts else None))
    return tuple(result)


def derive_course(history: PatientHistory, catalog: Catalog, policy: Policy, as_of: datetime.date) -> PatientCourse:
    """The course of ``history`` as of ``as_of``; raises :class:`InputError` for an inconsistent history."""
    exposures, unknown, others = _exposures(history, catalog)
    _check_consistency(history, exposures, as_of)
    warnings = [f"{name}: not in the agent catalog" for name in unknown]
    therapy_lines = _therapy_lines(history, exposures, unknown, warnings)
    others += [NotTherapy(name, role, where) for name, role, where in history.not_therapy]
    apheresis = _apheresis_state(history, exposures, catalog, as_of, warnings)
    candidates = _candidates(history, catalog)
    warnings += [f"candidate {c.query}: not in the agent catalog" for c in candidates if c.agent is None]
    return PatientCourse(
        history=history, catalog=catalog, policy=policy, as_of=as_of, exposures=tuple(exposures),
        unknown=tuple(unknown), apheresis=apheresis, candidates=candidates,
        lines=_lines(history, exposures, catalog, policy, as_of), warnings=tuple(warnings),
        not_therapy=tuple(others), therapy_lines=therapy_lines,
    )


def _therapy_lines(history: PatientHistory, exposures: list[Exposure], unknown: list[str],
                   warnings: list[str]) -> tuple[TherapyLineCourse, ...]:
    """History lines grouped into lines of therapy (by their origin's number, else one each); a line
    without an anti-myeloma drug, known or not, or with only a corticosteroid (a pulse, premedication)
    is a warning and counts for nothing."""
    counting = {e.line for e in exposures if e.agent.drug_class != "corticosteroid"} | {
        i for i, line in enumerate(history.lines) if any(u.endswith(f"(lines[{i}])") for u in unknown)}
    groups: dict[object, list[int]] = {}
    for i, line in enumerate(history.lines):
        if i not in counting:
            held = "only a corticosteroid" if any(e.line == i for e in exposures) else "no anti-myeloma drug"
            warnings.append(f"lines[{i}]: holds {held} ({', '.join(line.agents)}); not counted as a line")
            continue
        key = ("origin", line.origin.number) if line.origin is not None and line.origin.number else ("line", i)
        groups.setdefault(key, []).append(i)
    ordered = sorted(groups.values(), key=lambda idx: min((history.lines[i].start.earliest for i in idx)))
    return tuple(
        TherapyLineCourse(n, tuple(idx), min((history.lines[i].start for i in idx), key=lambda d: (d.earliest, d.latest)))
        for n, idx in enumerate(ordered, 1)
    )
