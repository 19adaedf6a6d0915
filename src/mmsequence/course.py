"""A patient's course of therapy as of one day, derived once from a validated history.

The :class:`PatientCourse` is the one source of what happened: which agents were given in which
line, which are ongoing, each line's last dose, the apheresis state, and the T-cell recovery
interval and washout clocks. The engine's facts (:mod:`mmsequence._facts`), the ``derived``
summary of the output and the board's timeline are all read from it. Uncertain dates are
answered through :class:`~mmsequence.dates.PartialDate` alone, each narrowed to the days the rest
of the record leaves possible (nothing recorded as given lies after the evaluation day, a line
ends on or after its start); tri-state values are the strings ``yes``, ``no`` and ``unknown``.

What a message or the ``derived`` summary quotes is a reference (:meth:`PatientCourse.line_ref`,
``exposure_ref``, ``dose_ref``, :func:`date_ref`, :func:`event_ref`): structured data with its
field path, which :mod:`mmsequence.messages` puts into words.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs

from .catalog import TCRT_TARGETS as TCRT_TARGETS  # the board colours lines by these
from .catalog import Agent, Catalog, Regimen, as_one_therapy
from .dates import PartialDate
from .errors import InputError
from .history import CandidateRegimen, Line, PatientHistory, candidate_query
from .messages import with_display
from .notices import Notice
from .policy import Policy
from .vocabulary import ApheresisState, ClockStatus, Tri

#: IMWG: refractory is progression on therapy or within this many days of the last dose.
REFRACTORY_DAYS = 60
#: Drug classes that count for the labels' "prior therapy including ..." clauses.
LABEL_CLASSES = {"pi": "proteasome-inhibitor", "imid": "imid", "anti_cd38": "anti-cd38"}
#: Conventional classes that do not start the washout clock before apheresis or a bsAb.
NO_WASHOUT_CLASSES = ("supportive", "corticosteroid")


_TRI: dict[bool | None, Tri] = {True: "yes", False: "no", None: "unknown"}
_CLOCK: dict[bool | None, ClockStatus] = {True: "met", False: "unmet", None: "uncertain"}


def tri(value: bool | None) -> Tri:
    return _TRI[value]


def any_of(values: Iterable[Tri]) -> Tri:
    """Tri-state OR: yes if any is yes, unknown if any is unknown, else no."""
    seen = list(values)
    return "yes" if "yes" in seen else "unknown" if "unknown" in seen else "no"


def all_of(values: Iterable[Tri]) -> Tri:
    """Tri-state AND."""
    seen = list(values)
    return "no" if "no" in seen else "unknown" if "unknown" in seen else "yes"


@attrs.frozen
class Refractoriness:
    """Whether the disease was refractory to a line's therapy (``yes``, ``no``, ``unknown``) and, when
    a date known only to the month or year leaves it open, which (``progression`` or ``last-dose``)."""

    value: Tri
    open_date: str | None = None


def refractory_by_date(progression: PartialDate, last_dose: PartialDate | None) -> bool | None:
    """IMWG, three-valued: progression on therapy (``last_dose`` None: still given) or within
    :data:`REFRACTORY_DAYS` days of the last dose; None when the recorded days leave it open."""
    if last_dose is None:
        return True
    return progression.on_or_before(last_dose.plus_days(REFRACTORY_DAYS))


def line_refractory(line: Line, last_dose: PartialDate | None, one_infusion: bool = False,
                    progression: PartialDate | None = None) -> Refractoriness:
    """IMWG: refractory means progression on therapy or within 60 days of the last dose.

    A recorded ``refractory`` flag wins. With a progression date (``progression``, narrowed by the
    caller; else the line's own) the definition decides, three-valued, from the last dose
    (``last_dose``: None while the line is still given; a CAR-T's is its infusion). Without one, a
    continuous line that stopped for progression is refractory, and a one-time CAR-T infusion is not
    "on therapy" later, so its progression says nothing; anything else is unknown.
    """
    if line.refractory is not None:
        return Refractoriness(tri(line.refractory))
    progression = progression or line.progression
    if progression is not None:
        within = refractory_by_date(progression, last_dose)
        if within is not None:
            return Refractoriness(tri(within))
        return Refractoriness("unknown", "progression" if not progression.is_exact else "last-dose")
    return Refractoriness("yes" if line.stop_reason == "progression" and not one_infusion else "unknown")


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class Exposure:
    """One agent given in one line (``end`` None: still ongoing at ``as_of``, or a CAR-T infusion)."""

    agent: Agent
    line: int
    start: PartialDate
    end: PartialDate | None
    refractory: Tri
    refractory_open: str | None = None  # the imprecise date (progression, last-dose) an unknown refractoriness rests on

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


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class CountedLine:
    """A line of therapy as the rules count it: the history lines it is made of (a CAR-T line may be
    its bridging and its infusion), by index."""

    number: int
    indices: tuple[int, ...]
    start: PartialDate


@attrs.frozen
class Candidate:
    """A therapy to assess, as the input named it, and what it is to the rules (None: unknown): one
    catalog agent, or a regimen as one therapy (:func:`~mmsequence.catalog.as_one_therapy`), whose
    agents are ``parts`` (empty for a single agent)."""

    query: str
    agent: Agent | None
    parts: tuple[Agent, ...] = ()

    @property
    def agents(self) -> tuple[Agent, ...]:
        """The catalog agents the candidate gives: its parts, or its one agent."""
        return self.parts or ((self.agent,) if self.agent is not None else ())


@attrs.frozen
class ApheresisCourse:
    """The course's CAR-T apheresis: its state, the last record's date and product."""

    state: ApheresisState
    date: PartialDate | None = None
    product: Agent | None = None


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class Clock:
    """Whether a candidate's anchor falls on or after the latest of the earlier last doses, shifted
    by the interval or washout.

    ``status`` is ``met``, ``unmet``, ``uncertain`` (an imprecise date) or ``none`` (nothing came
    earlier). ``window`` is the span of days on which the shifted latest last dose may fall, and
    ``source`` the exposure whose last dose gives its latest day.
    """

    status: ClockStatus
    source: Exposure | None = None
    last_dose: PartialDate | None = None
    window: PartialDate | None = None

    @property
    def exact(self) -> bool:
        """Whether the day it ends is known (else it depends on a day the record leaves open)."""
        return self.window is not None and self.window.is_exact


_NO_CLOCK = Clock("none")


def date_ref(date: PartialDate) -> dict[str, Any]:
    """A recorded date as data: as written, and the first and last day it can be."""
    return {"kind": "date", "recorded": date.text, "earliest": date.earliest.isoformat(), "latest": date.latest.isoformat()}


#: Agents of a line quoted in a reference to one of them: the line's whole list is in ``derived.lines``,
#: and quoting it in every agent's reference would make the output grow with the square of the line.
QUOTED_AGENTS = 8


def _quoted(line_ref: dict[str, Any]) -> dict[str, Any]:
    """A line reference as an agent's reference quotes it: its first QUOTED_AGENTS agents, and
    ``more_agents``, the count of the others, when there are more."""
    agents = line_ref["agents"]
    if len(agents) <= QUOTED_AGENTS:
        return line_ref
    return {**line_ref, "agents": agents[:QUOTED_AGENTS], "more_agents": len(agents) - QUOTED_AGENTS}


def event_ref(kind: str, date: PartialDate | None, field: str | None = None) -> dict[str, Any]:
    """An event as data: ``first-dose`` (of a bsAb, at the earliest on that day), ``apheresis`` (a
    CAR-T's T-cell collection, at the earliest on that day), ``planned-apheresis`` or
    ``collected-apheresis``; ``field`` is the record's path."""
    return {"kind": "event", "event": kind, "date": None if date is None else date_ref(date), "field": field}

Anchor = tuple[PartialDate, str]
"""When a candidate would take effect, and which event that is: ``as-of`` (the first dose, at the
earliest on the evaluation day), ``planned-apheresis`` or ``collected-apheresis``."""


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class ResolvedLine:
    """One line of therapy as drawn and summarised: its agents looked up, last dose and interval."""

    number: int  # 1-based, as a clinician counts lines
    line: Line
    agents: tuple[Agent | None, ...]
    regimen: Regimen | None  # the usual combination the line's agents make, if the catalog names one
    one_infusion: bool  # the line holds a CAR-T: one infusion on its start
    ongoing: bool
    start: PartialDate  # the first dose, narrowed to the days the record leaves possible
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
    unknown: tuple[tuple[str, int], ...]  # (name as written, line index) of each agent the catalog does not know
    apheresis: ApheresisCourse
    candidates: tuple[Candidate, ...]
    lines: tuple[ResolvedLine, ...]
    warnings: tuple[str, ...]
    not_therapy: tuple[NotTherapy, ...] = ()
    therapy_lines: tuple[CountedLine, ...] = ()
    tcrt: tuple[Exposure, ...] = attrs.field(init=False)
    exposed_targets: frozenset[str] = attrs.field(init=False)
    lost: dict[str, bool | None] = attrs.field(init=False)
    _clocks: dict[tuple[str, PartialDate], Clock] = attrs.field(init=False, factory=dict)
    _line_refs: dict[int, tuple[dict[str, Any], dict[str, Any]]] = attrs.field(init=False, factory=dict, eq=False, repr=False)
    _numbers: dict[int, int] | None = attrs.field(init=False, default=None, eq=False, repr=False)
    _class_facts: dict[str, Tri] | None = attrs.field(init=False, default=None, eq=False, repr=False)
    _exposure_refs: dict[tuple[int, str], dict[str, Any]] = attrs.field(init=False, factory=dict, eq=False, repr=False)
    _by_agent: dict[str, list[Exposure]] = attrs.field(init=False, factory=dict, eq=False, repr=False)
    _washed: list[Exposure] | None = attrs.field(init=False, default=None, eq=False, repr=False)  # what a washout follows

    def __attrs_post_init__(self) -> None:
        self.tcrt = tuple(e for e in self.exposures if e.agent.is_tcrt)
        for e in self.exposures:
            self._by_agent.setdefault(e.agent.name, []).append(e)
        self.exposed_targets = frozenset(t for e in self.tcrt for t in e.agent.targets)
        b = self.history.biomarkers
        self.lost = {"BCMA": b.bcma_loss, "GPRC5D": b.gprc5d_loss, "FcRH5": b.fcrh5_loss}

    @property
    def car_t(self) -> tuple[Exposure, ...]:
        return tuple(e for e in self.exposures if e.agent.modality == "car-t")

    @property
    def apheresis_field(self) -> str | None:
        """The path of the apheresis record that gives the state (None: no record)."""
        return f"apheresis[{len(self.history.apheresis) - 1}].date" if self.history.apheresis else None

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
                return date, "planned-apheresis"
        return PartialDate.of(self.as_of), "as-of"

    def interval(self, anchor: PartialDate) -> Clock:
        """The T-cell recovery interval between the last earlier TCRT (by the policy's scope) and ``anchor``.

        With ``interval.consecutive`` (the default) the interval runs between consecutive TCRTs: a
        TCRT certainly given after the last dose of an earlier one, and certainly before ``anchor``,
        ends the earlier one's clock (a bsAb bridging to a CAR-T no longer holds back what follows
        that CAR-T).
        """
        return self._clock("interval", anchor)

    def washout(self, anchor: PartialDate) -> Clock:
        """The washout from the last conventional anti-myeloma dose to ``anchor``."""
        return self._clock("washout", anchor)

    def _clock(self, kind: str, anchor: PartialDate) -> Clock:
        key = (kind, anchor)
        if key not in self._clocks:
            # an exposure counts unless it certainly started after the anchor
            if kind == "interval":
                starts = ("bsab", "car-t") if self.policy.interval_scope == "any-tcrt" else ("bsab",)
                earlier = [e for e in self.tcrt if e.agent.modality in starts and e.start.earliest <= anchor.latest
                           and not (self.policy.interval_consecutive and self._followed(e, anchor))]
                months = self.policy.interval_months
                self._clocks[key] = self._measure(earlier, anchor, lambda d: d.plus_months(months))
            else:
                if self._washed is None:
                    # the conventional drugs of a line share its first and last dose: its first one stands for them
                    first: dict[int, Exposure] = {}
                    for e in self.exposures:
                        if e.agent.modality == "conventional" and e.agent.drug_class not in NO_WASHOUT_CLASSES:
                            first.setdefault(e.line, e)
                    self._washed = list(first.values())
                earlier = [e for e in self._washed if e.start.earliest <= anchor.latest]
                days = self.policy.washout_days
                self._clocks[key] = self._measure(earlier, anchor, lambda d: d.plus_days(days))
        return self._clocks[key]

    def _followed(self, earlier: Exposure, anchor: PartialDate) -> bool:
        """Whether a TCRT of another line certainly came after ``earlier``'s last dose and before ``anchor``."""
        if earlier.ongoing:
            return False
        last = earlier.last_dose(self.as_of)
        return any(t.line != earlier.line and t.start.on_or_after(last) is True and t.start.on_or_before(anchor) is True
                   for t in self.tcrt)

    def _measure(self, earlier: list[Exposure], anchor: PartialDate,
                 shift: Callable[[PartialDate], PartialDate]) -> Clock:
        if not earlier:
            return _NO_CLOCK
        window, last = _window(earlier, self.as_of, shift)
        status = _CLOCK[anchor.on_or_after(window)]
        return Clock(status, last, None if last.ongoing else last.last_dose(self.as_of), window)

    def exposures_to(self, names: set[str]) -> list[Exposure]:
        """The exposures to the agents named, in the course's order."""
        if len(names) == 1:
            return list(self._by_agent.get(next(iter(names)), ()))
        return [e for e in self.exposures if e.agent.name in names]

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
        if self._class_facts is None:
            self._class_facts = self._classes()
        return dict(self._class_facts)

    def _classes(self) -> dict[str, Tri]:
        facts: dict[str, Tri] = {}
        given = {e.agent.drug_class for e in self.exposures}
        for key, drug_class in LABEL_CLASSES.items():
            facts[f"exposed_{key}"] = "yes" if drug_class in given else "unknown" if self.unknown else "no"
        facts["triple_class_exposed"] = all_of(facts[f"exposed_{k}"] for k in LABEL_CLASSES)
        lenalidomide = [e.refractory for e in self._by_agent.get("lenalidomide", ())]
        facts["lenalidomide_refractory"] = any_of(lenalidomide) if lenalidomide else "unknown" if self.unknown else "no"
        anti_cd38 = [e.refractory for e in self.exposures if e.agent.drug_class == LABEL_CLASSES["anti_cd38"]]
        facts["anti_cd38_refractory"] = any_of(anti_cd38) if anti_cd38 else "unknown" if self.unknown else "no"
        facts["exposed_bcma"] = "yes" if self.bcma_directed else "unknown" if self.unknown else "no"
        facts["progression_on_last"] = self.progression_on_last()
        return facts

    @property
    def bcma_directed(self) -> tuple[Exposure, ...]:
        """Earlier BCMA-directed therapy of any modality: bsAb, CAR-T or antibody-drug conjugate."""
        return tuple(e for e in self.exposures if "BCMA" in e.agent.targets)

    def open_refractoriness(self) -> list[tuple[int, str]]:
        """(line index, ``progression`` or ``last-dose``) of each line whose refractoriness a date
        known only to the month or year leaves open, in line order."""
        return sorted({(e.line, e.refractory_open) for e in self.exposures if e.refractory_open is not None})

    @property
    def prior_lines(self) -> int:
        """Lines of therapy so far: a line with no anti-myeloma drug counts for nothing."""
        return len(self.therapy_lines)

    def progression_on_last(self) -> Tri:
        """Whether the disease progressed on the last line of therapy (its latest part decides).

        Lines that may each be the last (tied in time, or with dates too imprecise to order them)
        and disagree leave it unknown: which came last is not recorded.
        """
        if not self.therapy_lines:
            return "no"
        lines = [[self.history.lines[i] for i in line.indices] for line in self.therapy_lines]
        parts = [part for k in _maybe_last([_span(line) for line in lines]) for part in lines[k]]
        if len(parts) > 1:
            parts = [parts[k] for k in _maybe_last([_span([part]) for part in parts])]
        found = {_progressed(part) for part in parts}
        return found.pop() if len(found) == 1 else "unknown"

    def not_therapy_by_drug(self) -> list[dict[str, Any]]:
        """The drugs that are not anti-myeloma therapy, one entry per drug and role, with their records."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for n in self.not_therapy:
            grouped.setdefault((n.name, n.role), []).append(n.where)
        return [{"drug": name, "role": role, "records": records} for (name, role), records in grouped.items()]

    def line_summaries(self) -> list[Notice]:
        """Each line of therapy in words: number, dates, drugs, and how it was formed or why it ended."""
        out = []
        for line in self.therapy_lines:
            parts = [self.history.lines[i] for i in line.indices]
            agents = list(dict.fromkeys(a for part in parts for a in part.agents))
            ends = [part.end for part in parts if part.end is not None]
            # a CAR-T line is one infusion on its start, not an ongoing therapy
            infusions = sum(1 for i in line.indices if self.history.lines[i].end is None and self.lines[i].one_infusion)
            names = tuple(agents)
            if len(ends) + infusions < len(parts):
                summary = Notice("summary.ongoing", number=line.number, start=line.start, agents=names)
            elif ends:
                summary = Notice("summary.line", number=line.number, start=line.start, agents=names,
                                 end=max(ends, key=lambda d: (d.latest, d.earliest)))
            else:
                summary = Notice("summary.infusion", number=line.number, start=line.start, agents=names)
            last = max(parts, key=chronological)
            if last.stop_reason:
                summary = Notice("summary.stopped", summary=summary, stop=Notice(f"stop.{last.stop_reason}"))
            if last.progression is not None and last.origin is None:
                summary = Notice("summary.progression", summary=summary, date=last.progression)
            why = parts[0].origin.reason if parts[0].origin is not None else None
            out.append(Notice("summary.why", summary=summary, why=why) if why else summary)
        return out

    # --- references: what messages and the derived summary quote, as data with its field path

    def line_ref(self, index: int) -> dict[str, Any]:
        """A line as a clinician names it: its number, its regimen (if the catalog names one) and agents
        (built once per course; treat it as read-only)."""
        return self._refs(index)[0]

    def _refs(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """A line's reference, and the reference as an agent's reference quotes it: made when first asked for."""
        refs = self._line_refs.get(index)
        if refs is None:
            # a line is named by its number as a line of therapy (several records may form one line);
            # a record not counted as a line has no number
            if self._numbers is None:
                self._numbers = {i: line.number for line in self.therapy_lines for i in line.indices}
            info = self.lines[index]
            ref = {"kind": "line", "number": self._numbers.get(index) if self._numbers else info.number,
                   "regimen": info.regimen.abbreviation if info.regimen else None,
                   "agents": [a.name if a else raw for a, raw in zip(info.agents, info.line.agents)],
                   "field": f"lines[{index}]"}
            refs = self._line_refs[index] = (ref, _quoted(ref))
        return refs

    def exposure_ref(self, exposure: Exposure) -> dict[str, Any]:
        """One agent given in one line (the line quoted with at most its first few agents; built once
        per course; treat it as read-only)."""
        key = (exposure.line, exposure.agent.name)
        ref = self._exposure_refs.get(key)
        if ref is None:
            ref = self._exposure_refs[key] = {**self._refs(exposure.line)[1], "kind": "exposure", "agent": key[1]}
        return ref

    def dose_ref(self, exposure: Exposure) -> dict[str, Any]:
        """The last dose of an exposure: the line's end (or its infusion), ``date`` None while ongoing."""
        info = self.lines[exposure.line]
        field = f"lines[{exposure.line}].{'start' if info.one_infusion else 'end'}"
        return {**self.exposure_ref(exposure), "kind": "dose", "field": field,
                "date": None if exposure.ongoing else date_ref(exposure.last_dose(self.as_of)), "ongoing": exposure.ongoing}

    def unknown_refs(self) -> list[dict[str, Any]]:
        """Each agent the catalog does not know, with its line."""
        return [{**self._refs(index)[1], "kind": "exposure", "agent": name} for name, index in self.unknown]

    def last_tcrt_dose(self) -> dict[str, Any] | None:
        """The latest last dose of any TCRT, with its exposure (None: no TCRT so far)."""
        if not self.tcrt:
            return None
        window, last = _window(list(self.tcrt), self.as_of, lambda d: d)
        return {**self.dose_ref(last), "latest_possible": window.latest.isoformat()}

    def summary(self) -> dict[str, Any]:
        """The ``derived`` section of the output: what the rules read, as data, each reference with the
        form a reader sees beside it (``display``)."""
        classes = self.class_facts()
        refs = {id(e): with_display(self.exposure_ref(e)) for e in self.exposures}
        by_target = {
            t: [refs[id(e)] for e in self.exposures if e.agent.modality in ("bsab", "car-t", "adc") and t in e.agent.targets]
            for t in TCRT_TARGETS
        }
        last = self.last_tcrt_dose()
        return {
            "prior_lines": self.prior_lines,
            "lines": [with_display(self.line_ref(i)) for i in range(len(self.lines))],
            "jurisdiction": self.jurisdiction or "none",
            "car_t_eligible": tri(self.history.car_t_eligible),
            "tcrt_count": len(self.tcrt),
            "tcrt_exposures": [refs[id(e)] for e in self.tcrt],
            "last_tcrt_dose": None if last is None else with_display(last),
            "exposures_by_target": {t: found for t, found in by_target.items() if found},
            "triple_class_exposed": classes["triple_class_exposed"],
            "triple_class_refractory": all_of(
                any_of(e.refractory for e in self.exposures if e.agent.drug_class == c)
                if classes[f"exposed_{k}"] == "yes" else "no"
                for k, c in LABEL_CLASSES.items()
            ),
            "lenalidomide_refractory": classes["lenalidomide_refractory"],
            "anti_cd38_refractory": classes["anti_cd38_refractory"],
            "exposed_bcma": classes["exposed_bcma"],
            "progression_on_last": classes["progression_on_last"],
            "apheresis": self.apheresis.state,
            "apheresis_date": None if self.apheresis.date is None else with_display(date_ref(self.apheresis.date)),
            "unknown_agents": [with_display(ref) for ref in self.unknown_refs()],
            "not_anti_myeloma_therapy": self.not_therapy_by_drug(),
        }


def chronological(line: Line) -> tuple[Any, ...]:
    """The order of lines, whatever order the record lists them in: by start, then by end (an ongoing
    line last), then by their drugs and what is recorded of their outcome, so that only identical
    lines keep the record's order."""
    end = line.end.latest if line.end is not None else datetime.date.max
    progression = (line.progression.earliest, line.progression.latest) if line.progression is not None else ()
    return (line.start.earliest, line.start.latest, end, tuple(sorted(line.agents)), progression,
            line.stop_reason or "", _TRI[line.refractory], line.best_response or "", line.comment or "")


#: When lines ran: the first and last possible day of their start, and of their end (ongoing: none).
_Span = tuple[datetime.date, datetime.date, datetime.date, datetime.date]


def _span(lines: list[Line]) -> _Span:
    if len(lines) == 1:  # the most common: a line of therapy that is one history line
        start, end = lines[0].start, lines[0].end
        if end is None:
            return start.earliest, start.latest, datetime.date.max, datetime.date.max
        return start.earliest, start.latest, end.earliest, end.latest
    spans = [_span([line]) for line in lines]
    return (min(s[0] for s in spans), min(s[1] for s in spans), max(s[2] for s in spans),
            max(s[3] for s in spans))


def _maybe_last(spans: list[_Span]) -> list[int]:
    """The indices of the spans that may be the last in time: no other certainly starts later, nor
    starts on the same known day and certainly ends later (in linear time: a record may be long)."""
    latest_start = max(span[0] for span in spans)
    kept = [k for k, span in enumerate(spans) if span[1] >= latest_start]
    ends: dict[datetime.date, datetime.date] = {}
    for k in kept:
        if spans[k][0] == spans[k][1]:
            ends[spans[k][0]] = max(ends.get(spans[k][0], datetime.date.min), spans[k][2])
    return [k for k in kept if not (spans[k][0] == spans[k][1] and spans[k][3] < ends[spans[k][0]])]


def _progressed(line: Line) -> Tri:
    if line.stop_reason == "progression" or line.progression is not None:
        return "yes"
    return tri(line.refractory)


def line_role(agent: Agent, line_agents: Iterable[Agent | None]) -> str:
    """The role an agent plays in a document line: its own, or lymphodepletion beside a CAR-T."""
    if agent.may_be("lymphodepletion") and agent.modality != "car-t" and any(
        a is not None and a.modality == "car-t" for a in line_agents
    ):
        return "lymphodepletion"
    return agent.role


#: Each line's agents as the catalog knows them (None: unknown), in the order the line names them.
_Looked = list[tuple[Agent | None, ...]]
#: Each line's first and last dose as the record leaves them possible (see :func:`_dates`).
_Dated = list[tuple[PartialDate, PartialDate | None]]


def _exposures(history: PatientHistory, looked: _Looked, dated: _Dated, as_of: datetime.date,
               warnings: list[Notice]) -> tuple[list[Exposure], list[tuple[str, int]], list[NotTherapy]]:
    """Exposures to anti-myeloma therapy (dates as the record leaves them possible, each with its
    refractoriness), unknown agents (name as written, line index), and the other drugs the lines name."""
    exposures: list[Exposure] = []
    unknown: list[tuple[str, int]] = []
    others: list[NotTherapy] = []
    for i, line in enumerate(history.lines):
        start, end = dated[i]
        progression = None if line.progression is None else line.progression.bounded(start.earliest, as_of)
        agents = looked[i]
        refractoriness: dict[bool, Refractoriness] = {}  # of a CAR-T's infusion, and of the line's other agents
        for name, agent in dict(zip(line.agents, agents)).items():  # a name written twice is one exposure
            if agent is None:
                unknown.append((name, i))
                continue
            role = line_role(agent, agents)
            if role != "anti-myeloma":
                others.append(NotTherapy(agent.name, Notice(f"role.{role}"), f"lines[{i}]"))
                continue
            car_t = agent.modality == "car-t"
            found = refractoriness.get(car_t)
            if found is None:
                found = refractoriness[car_t] = line_refractory(line, start if car_t else end, one_infusion=car_t,
                                                                progression=progression)
            exposures.append(Exposure(agent, i, start, end, found.value, found.open_date))
        if progression is not None:
            car_t = any(a is not None and a.modality == "car-t" for a in agents)
            warnings += _refractory_conflicts(line, i, progression, start if car_t else end, car_t)
    return exposures, unknown, others


def _refractory_conflicts(line: Line, index: int, progression: PartialDate, last_dose: PartialDate | None,
                          one_infusion: bool = False) -> list[Notice]:
    """A recorded flag that the line's progression date contradicts (the flag still wins), and a stop
    for progression that the IMWG definition counts as a relapse (not after a CAR-T's one infusion,
    whose ordinary relapse that is)."""
    dated = refractory_by_date(progression, last_dose)
    if dated is None:
        return []
    when = (Notice("when.given") if last_dose is None else
            Notice("when.within" if dated else "when.more-than", days=REFRACTORY_DAYS, date=last_dose))
    if line.refractory is not None and line.refractory != dated:
        return [Notice("course.refractory-conflict", f"lines[{index}].refractory",
                       recorded=Notice(f"recorded.{str(line.refractory).lower()}"), date=line.progression, when=when,
                       verdict=Notice(f"refractory.{str(dated).lower()}"))]
    if line.refractory is None and line.stop_reason == "progression" and not dated and not one_infusion:
        return [Notice("course.relapsed", f"lines[{index}]", date=line.progression, when=when)]
    return []


def _check_consistency(history: PatientHistory, looked: _Looked, as_of: datetime.date) -> None:
    problems: list[str] = []
    for i, line in enumerate(history.lines):
        for key, date in (("start", line.start), ("end", line.end)):
            if date is not None and date.after(as_of):
                problems.append(Notice("input.after-as-of", f"lines[{i}].{key}", date=date, field=Notice("field.as_of"),
                                       as_of=as_of))
        car_t = any(agent is not None and agent.modality == "car-t" for agent in looked[i])
        if car_t and line.end is not None and line.end != line.start:
            problems.append(Notice("input.car-t-end", f"lines[{i}].end", start=line.start))
        if line.progression is not None and line.progression.after(as_of):
            problems.append(Notice("input.after-as-of", f"lines[{i}].progression", date=line.progression,
                                   field=Notice("field.as_of"), as_of=as_of))
    for i, record in enumerate(history.apheresis):
        if record.status in ("done", "failed") and record.date is not None and record.date.after(as_of):
            problems.append(Notice("input.apheresis-after-as-of", f"apheresis[{i}].date", date=record.date,
                                   field=Notice("field.as_of"), as_of=as_of, status=record.status))
    if problems:
        raise InputError(sorted(set(problems)))


def _dates(line: Line, as_of: datetime.date) -> tuple[PartialDate, PartialDate | None]:
    """A line's first and last dose as the record leaves them possible: never after ``as_of``, the
    end never before the start (nor the start after the end)."""
    end = line.end.bounded(line.start.earliest, as_of) if line.end is not None else None
    return line.start.bounded(None, min(as_of, end.latest) if end is not None else as_of), end


def _apheresis_state(history: PatientHistory, exposures: list[Exposure], catalog: Catalog, as_of: datetime.date,
                     warnings: list[Notice]) -> ApheresisCourse:
    """The last record decides: pending, collected, used, failed, cancelled (none without a record).

    A plan cannot happen before ``as_of``, a collection not after it.
    """
    if not history.apheresis:
        return ApheresisCourse("none")
    last = history.apheresis[-1]
    product = catalog.lookup(last.product) if last.product else None
    if last.status == "planned":
        if last.date is not None and last.date.before(as_of):
            warnings.append(Notice("course.planned-apheresis-past", f"apheresis[{len(history.apheresis) - 1}].date",
                                   date=last.date, field=Notice("field.as_of"), as_of=as_of))
            return ApheresisCourse("pending", None, product)
        return ApheresisCourse("pending", None if last.date is None else last.date.bounded(as_of), product)
    date = None if last.date is None else last.date.bounded(None, as_of)
    if last.status == "done" and date is not None:
        car_t = [e for e in exposures if e.agent.modality == "car-t"]
        unordered = [e for e in car_t if e.start.on_or_after(date) is None]
        if unordered:
            raise InputError([
                Notice("input.unordered-infusion", f"lines[{e.line}].start", date=e.start,
                       apheresis=f"apheresis[{len(history.apheresis) - 1}].date", apheresis_date=last.date)
                for e in unordered
            ])
        used = any(e.start.on_or_after(date) for e in car_t)
        return ApheresisCourse("used" if used else "collected", date, product)
    # failed or cancelled: the reader refuses a done record without its date
    return ApheresisCourse(cast(ApheresisState, last.status), date, product)


def _candidates(history: PatientHistory, catalog: Catalog, jurisdiction: str | None) -> tuple[Candidate, ...]:
    if history.candidates is None:
        return tuple(Candidate(a.name, a) for a in catalog.approved_tcrts(jurisdiction))
    seen: dict[str, int] = {}
    problems: list[str] = []
    result = []
    for i, given in enumerate(history.candidates):
        candidate = _candidate(given, catalog, f"candidates[{i}]", problems)
        key = candidate.agent.name if candidate.agent else candidate.query.casefold()
        if key in seen:
            problems.append(Notice("input.same-candidate", f"candidates[{i}]", query=candidate.query,
                                   other=f"candidates[{seen[key]}]"))
        seen[key] = i
        result.append(candidate)
    if problems:
        raise InputError(problems)
    return tuple(result)


def _candidate(given: str | CandidateRegimen, catalog: Catalog, path: str, problems: list[str]) -> Candidate:
    """A drug by any of its names; or a regimen: by a name or abbreviation the catalog knows (Tec-Dara),
    as drugs joined by '+', or as its agents. A regimen with a drug the catalog does not know is an
    unknown candidate; a CAR-T is given on its own, never in a regimen."""
    query = candidate_query(given)
    if isinstance(given, CandidateRegimen):
        names: tuple[str, ...] = given.agents
    elif "+" in given:
        names = tuple(part.strip() for part in given.split("+"))
    else:
        agent = catalog.lookup(given)
        regimen = None if agent is not None else catalog.regimen_named(given)
        if regimen is None:
            return Candidate(query, agent)
        names = tuple(sorted(regimen.agents))
    if any(not name for name in names):
        problems.append(Notice("input.empty-drug-name", path, query=query))
        return Candidate(query, None)
    looked = [catalog.lookup(name) for name in names]
    if any(agent is None for agent in looked):
        return Candidate(query, None)
    order = {agent.name: k for k, agent in enumerate(catalog.agents)}
    parts = sorted({a.name: a for a in looked if a is not None}.values(), key=lambda a: order[a.name])
    if len(parts) < len(looked):
        problems.append(Notice("input.drug-twice", path, query=query))
    if any(a.modality == "car-t" for a in parts) and len(parts) > 1:
        problems.append(Notice("input.car-t-in-regimen", path, query=query))
    regimen = catalog.regimen(parts)
    if isinstance(given, CandidateRegimen) and given.name:
        named = catalog.regimen_named(given.name)
        if named is not None and named is not regimen:
            problems.append(Notice("input.regimen-name", f"{path}.name", name=given.name, regimen=named.name,
                                   agents=repr(list(names))))
    if len(parts) == 1:
        return Candidate(query, parts[0])
    name = regimen.name if regimen is not None else _and([a.name for a in parts])
    return Candidate(query, as_one_therapy(name, parts, catalog.regimen_status(parts)), tuple(parts))


def _and(names: list[str]) -> str:
    """'a and b', 'a, b and c'."""
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _lines(history: PatientHistory, looked: _Looked, dated: _Dated, exposures: list[Exposure], catalog: Catalog,
           policy: Policy, as_of: datetime.date) -> tuple[ResolvedLine, ...]:
    clock = ("bsab", "car-t") if policy.interval_scope == "any-tcrt" else ("bsab",)
    result = []
    by_line: dict[int, list[Exposure]] = {}
    for e in exposures:
        by_line.setdefault(e.line, []).append(e)
    for i, line in enumerate(history.lines):
        agents = looked[i]
        mine = by_line.get(i, [])
        one_infusion = any(e.agent.modality == "car-t" for e in mine)
        ongoing = line.end is None and not one_infusion
        start, end = dated[i]
        last = start if one_infusion else PartialDate.of(as_of) if end is None else end
        starts = any(e.agent.modality in clock for e in mine)
        regimen = catalog.regimen(cast("tuple[Agent, ...]", agents)) if all(agents) else None
        result.append(ResolvedLine(i + 1, line, agents, regimen, one_infusion, ongoing, start, last,
                                 last.plus_months(policy.interval_months) if starts else None))
    return tuple(result)


def derive_course(history: PatientHistory, catalog: Catalog, policy: Policy, as_of: datetime.date) -> PatientCourse:
    """The course of ``history`` as of ``as_of``; raises :class:`InputError` for an inconsistent history."""
    looked = [tuple(map(catalog.lookup, line.agents)) for line in history.lines]
    _check_consistency(history, looked, as_of)
    dated = [_dates(line, as_of) for line in history.lines]
    conflicts: list[Notice] = []
    exposures, unknown, others = _exposures(history, looked, dated, as_of, conflicts)
    warnings = [Notice("course.not-in-catalog", f"lines[{index}]",
                       subject=Notice("subject.line-agent", f"lines[{index}]", drug=name)) for name, index in unknown]
    warnings += conflicts
    therapy_lines = _therapy_lines(history, exposures, unknown, warnings)
    others += [NotTherapy(name, role, where) for name, role, where in history.not_therapy]
    apheresis = _apheresis_state(history, exposures, catalog, as_of, warnings)
    candidates = _candidates(history, catalog, history.jurisdiction or policy.jurisdiction)
    warnings += [Notice("course.not-in-catalog", subject=Notice("subject.candidate", drug=c.query))
                 for c in candidates if c.agent is None]
    return PatientCourse(
        history=history, catalog=catalog, policy=policy, as_of=as_of, exposures=tuple(exposures),
        unknown=tuple(unknown), apheresis=apheresis, candidates=candidates,
        lines=_lines(history, looked, dated, exposures, catalog, policy, as_of), warnings=tuple(warnings),
        not_therapy=tuple(others), therapy_lines=therapy_lines,
    )


def _therapy_lines(history: PatientHistory, exposures: list[Exposure], unknown: list[tuple[str, int]],
                   warnings: list[Notice]) -> tuple[CountedLine, ...]:
    """History lines grouped into lines of therapy (by their origin's number, else one each); a line
    without an anti-myeloma drug, known or not, or with only a corticosteroid (a pulse, premedication)
    is a warning and counts for nothing."""
    counting = {e.line for e in exposures if e.agent.drug_class != "corticosteroid"} | {
        i for _, i in unknown}
    groups: dict[object, list[int]] = {}
    for i, line in enumerate(history.lines):
        if i not in counting:
            held = "course.steroid-not-a-line" if any(e.line == i for e in exposures) else "course.not-a-line"
            warnings.append(Notice(held, f"lines[{i}]", agents=tuple(line.agents)))
            continue
        key = ("origin", line.origin.number) if line.origin is not None and line.origin.number else ("line", i)
        groups.setdefault(key, []).append(i)
    order = {i: chronological(history.lines[i]) for idx in groups.values() for i in idx}
    ordered = sorted(groups.values(), key=lambda idx: min(map(order.__getitem__, idx)))
    return tuple(
        CountedLine(n, tuple(idx), min((history.lines[i].start for i in idx), key=lambda d: (d.earliest, d.latest)))
        for n, idx in enumerate(ordered, 1)
    )
