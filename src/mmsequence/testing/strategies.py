"""Hypothesis strategies for patient histories a clinic could have, partial dates and policies.

Every knob narrows what is drawn; the defaults cover the whole document. Histories are built
in time order from day offsets that shrink to zero, so a failing case shrinks to few lines, the
first agent of each list and exact dates. ``partial_dates``, ``unknown_agents``, ``ongoing`` and
``antigen_loss`` are rough probabilities (Hypothesis does not draw uniformly).
"""

from __future__ import annotations

import datetime
import functools
import itertools
from collections.abc import Sequence
from typing import Any

import attrs
import hypothesis.strategies as st

from ..catalog import Agent, Catalog, Regimen, load_catalog
from ..policy import CAR_T_ANCHORS, INTERVAL_EFFECTS, INTERVAL_SCOPES, Policy
from ..rulebook import load_rulebook
from . import reference
from .reference import add_months

TARGETS = ("BCMA", "GPRC5D", "FcRH5")
MODALITIES = ("bsab", "car-t")
APHERESIS_STATES = ("none", "pending", "pending-undated", "stale-plan", "collected", "failed", "cancelled")
JURISDICTIONS = (None, "US", "EU")
#: Drugs of non-TCRT lines; belantamab is a BCMA ADC, which is not a TCRT exposure.
OTHER_AGENTS = ("dexamethasone", "lenalidomide", "bortezomib", "daratumumab", "pomalidomide", "carfilzomib",
                "cyclophosphamide", "belantamab mafodotin")
#: Names no catalog knows, for histories with an unidentified drug and for unknown candidates.
UNKNOWN_NAMES = ("ZX-9001", "fooximab")
#: Combinations with a TCRT that the catalog does not name, as candidates write them.
OTHER_REGIMENS = ("elranatamab + daratumumab", "teclistamab + pomalidomide")
#: A site's own agents, as a policy adds them (``policies(site_agents=True)``); histories name them
#: now and then, so that a reader that ignores the policy's catalog is caught.
SITE_AGENTS = (
    Agent("sitamab", ("BCMA",), "bsab", "t-cell-engager", "approved", ("SITE-BCMA-1",)),
    Agent("gprc5d site car-t", ("GPRC5D",), "car-t", "car-t", "investigational", ("SITE-CART-7",)),
)
#: A site's own name for a catalog agent.
SITE_SYNONYMS = (("HOSP-TAL-2", "talquetamab"),)
_ONE_DAY = datetime.timedelta(days=1)


@functools.lru_cache(maxsize=1)
def _catalog() -> Catalog:
    """The shipped catalog with the site's agents and names: every name a history may be drawn with."""
    return load_catalog().extended(SITE_AGENTS, dict(SITE_SYNONYMS))


def partial_dates(
    min_value: datetime.date = datetime.date(2000, 1, 1),
    max_value: datetime.date = datetime.date(2030, 12, 31),
    precisions: Sequence[str] = ("day", "month", "year"),
) -> st.SearchStrategy[str]:
    """Dates as an EHR writes them: 'YYYY-MM-DD', 'YYYY-MM' or 'YYYY', containing a day in range."""
    return st.builds(_write, st.dates(min_value, max_value), st.sampled_from(list(precisions)))


def _write(day: datetime.date, precision: str) -> str:
    return day.isoformat()[: {"day": 10, "month": 7, "year": 4}[precision]]


def policies(
    packs: Sequence[str] = ("safety", "review", "extended", "labels"),
    months: tuple[int, int] = (1, 36),
    scopes: Sequence[str] = INTERVAL_SCOPES,
    effects: Sequence[str] = INTERVAL_EFFECTS,
    disabled_rules: Sequence[str] | None = None,
    jurisdictions: Sequence[str | None] = JURISDICTIONS,
    site_agents: bool = True,
) -> st.SearchStrategy[Policy]:
    """Site policies: any subset of ``packs`` (all first), interval and washout settings (the
    defaults first), up to three of ``disabled_rules`` (default: every rule a site may switch
    off, i.e. all but the safety rules, and the ranking criteria), and, with ``site_agents``, now and then the site's own
    agents and names (:data:`SITE_AGENTS`, :data:`SITE_SYNONYMS`)."""
    book = load_rulebook()
    rule_ids = (sorted([*(r.id for r in book.rules if r.pack != "safety"), *(c.id for c in book.criteria)])
                if disabled_rules is None else list(disabled_rules))
    subsets = [c for n in range(len(packs), -1, -1) for c in itertools.combinations(packs, n)]
    default_months = 6 if months[0] <= 6 <= months[1] else months[0]
    return st.builds(
        Policy,
        packs=st.sampled_from(subsets),
        interval_months=st.one_of(st.just(default_months), st.integers(*months)),
        interval_scope=st.sampled_from(list(scopes)),
        interval_effect=st.sampled_from(list(effects)),
        car_t_anchor=st.sampled_from(CAR_T_ANCHORS),
        interval_consecutive=st.one_of(st.just(True), st.booleans()),
        washout_days=st.one_of(st.just(14), st.integers(0, 90)),
        disabled_rules=st.lists(st.sampled_from(rule_ids), unique=True, max_size=3).map(lambda ids: tuple(sorted(ids)))
        if rule_ids else st.just(()),
        jurisdiction=st.sampled_from(list(jurisdictions)),
        agents=st.sampled_from([(), SITE_AGENTS] if site_agents else [()]),
        synonyms=st.sampled_from([(), SITE_SYNONYMS] if site_agents else [()]),
        source=st.just("generated"),
    )


_GAP = st.integers(0, 400)  # days from one line's end to the next line's start
_DURATION = st.integers(0, 800)  # days from a line's first to its last dose
_MONTHS_AFTER = st.integers(0, 18)
_JITTER = st.integers(-3, 3)
_LEAD = st.integers(14, 60)  # days from a collection to its CAR-T infusion
_AHEAD = st.one_of(st.integers(0, 31), st.integers(0, 240))  # days from as_of to a planned apheresis
_BACK = st.integers(0, 1000)  # per mille of the time available for a past record
_PERCENT = st.integers(0, 99)
_BOOL = st.booleans()
_FLAG = st.sampled_from([None, False, True])
_COARSE = st.sampled_from(["month", "year"])
_FIRST_DAY = st.dates(datetime.date(2016, 1, 1), datetime.date(2024, 12, 31))
_OTHER = st.lists(st.sampled_from(OTHER_AGENTS), min_size=1, max_size=3, unique=True)
_PARTNER = st.sampled_from(OTHER_AGENTS[:4])  # given with a bsAb, e.g. teclistamab with daratumumab


def _chance(draw: st.DrawFn, p: float) -> bool:
    """True with roughly probability p; shrinks to False."""
    return p > 0 and draw(_PERCENT) >= 100 - round(p * 100)


def _spellings(name: str, synonyms: bool) -> st.SearchStrategy[Any]:
    """The canonical name or, sometimes, a brand, code or other synonym; a regimen by its name, an
    abbreviation, its drugs joined by '+', or ``{"agents": [...]}`` with or without a name."""
    agent = _catalog().lookup(name)
    if agent is not None:
        return st.sampled_from([agent.name, *agent.synonyms]) if synonyms else st.just(name)
    regimen = _catalog().regimen_named(name)
    drugs = sorted(regimen.agents) if regimen is not None else [part.strip() for part in name.split("+")]
    if len(drugs) < 2:
        return st.just(name)
    forms: list[Any] = [name, " + ".join(drugs), {"agents": drugs}]
    if regimen is not None:
        forms += [*regimen.abbreviations, *({"agents": drugs, "name": a} for a in regimen.abbreviations)]
    return st.sampled_from(forms) if synonyms else st.just(name)


def _tcrt_regimens(catalog: Catalog) -> list[Regimen]:
    """The catalog's combinations that hold a T-cell redirecting therapy."""
    return [r for r in catalog.regimens if any((a := catalog.lookup(n)) is not None and a.is_tcrt for n in r.agents)]


@attrs.frozen
class _Drawn:
    """A line as drawn, before its dates are written (``end`` None: ongoing)."""

    modality: str
    agents: list[str]
    start: datetime.date
    end: datetime.date | None


class _Plan:
    """The strategies one set of knobs draws from, built once (building them per draw is slow)."""

    def __init__(self, knobs: dict[str, Any]) -> None:
        self.knobs = knobs
        catalog = _catalog() if knobs["site_agents"] else load_catalog()
        tcrts = sorted((a for a in catalog.agents if a.is_tcrt), key=lambda a: a.status != "approved")
        chosen = [a for a in tcrts if a.modality in knobs["modalities"] and set(a.targets) & set(knobs["targets"])]
        self.modality = st.sampled_from(sorted({a.modality for a in chosen})) if chosen else None
        self.agents = {m: st.sampled_from([a.name for a in chosen if a.modality == m]) for m in MODALITIES}
        names = {a.name for a in chosen} | set(knobs["candidates"] or ())
        combinations = [r.name for r in _tcrt_regimens(catalog)] + list(OTHER_REGIMENS) if knobs["regimens"] else []
        pool = knobs["candidates"] or ([a.name for a in tcrts] + ["belantamab mafodotin", "daratumumab", UNKNOWN_NAMES[1]]
                                       + combinations)
        self.spelled = {n: _spellings(n, knobs["synonyms"]) for n in names | set(pool)}
        self.candidates = st.lists(st.sampled_from(list(pool)), min_size=1, max_size=4, unique_by=_therapy)
        self.line = _raw_line(self)
        self.lines = st.lists(self.line, min_size=knobs["lines"][0], max_size=knobs["lines"][1])
        self.eligible = st.sampled_from(list(knobs["car_t_eligible"]))
        self.jurisdiction = st.sampled_from(list(knobs["jurisdictions"]))
        self.apheresis = st.sampled_from(list(knobs["apheresis"]))

    def chance(self, draw: st.DrawFn, knob: str) -> bool:
        return _chance(draw, self.knobs[knob])

    def write(self, draw: st.DrawFn, day: datetime.date) -> str:
        """A day written exactly or, with the partial-date chance, to its month or year only."""
        return _write(day, draw(_COARSE)) if self.chance(draw, "partial_dates") else day.isoformat()


def _therapy(name: str) -> str:
    """The therapy a candidate names (two names of one therapy would make the document invalid)."""
    therapy = reference.therapy(name, _catalog())
    return therapy.name if therapy else name.casefold()


def patient_histories(
    *,
    lines: tuple[int, int] = (1, 5),
    tcrt_lines: tuple[int, int] = (0, 3),
    targets: Sequence[str] = TARGETS,
    modalities: Sequence[str] = MODALITIES,
    apheresis: Sequence[str] = APHERESIS_STATES,
    partial_dates: float = 0.1,
    car_t_eligible: Sequence[bool | None] = (True, False, None),
    jurisdictions: Sequence[str | None] = JURISDICTIONS,
    candidates: Sequence[str] | None = None,
    unknown_agents: float = 0.05,
    ongoing: float = 0.2,
    antigen_loss: float = 0.1,
    synonyms: bool = True,
    site_agents: bool = True,
    regimens: bool = True,
    progression: float = 0.3,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid patient-history documents with ``as_of`` set.

    lines: how many lines of therapy; tcrt_lines: how many of them are TCRTs, against
    ``targets`` with ``modalities`` (a CAR-T line is one infusion); apheresis: the states drawn
    from (``none``, ``pending`` with a future date, ``pending-undated``, ``stale-plan`` with a
    past date, ``collected``, ``failed``, ``cancelled``); partial_dates: chance that a date is
    written to the month or year only; candidates: names drawn from (default: catalog TCRTs,
    belantamab, daratumumab and an unknown name), absent now and then; unknown_agents: chance of
    a line with an unidentified drug; ongoing: chance the last line is ongoing; antigen_loss:
    chance of recorded antigen-loss biomarkers; synonyms: write brands and codes sometimes;
    site_agents: name a site's own agents (:data:`SITE_AGENTS`) now and then, which are unknown
    unless the policy adds them; regimens: let candidates be combinations with a TCRT (the
    catalog's, by name, abbreviation, drugs joined by '+' or ``{"agents": [...]}``, and
    :data:`OTHER_REGIMENS`); progression: chance that a line records when progression was
    documented (on therapy, or some days after its last dose, around the 60-day window of the
    IMWG refractory definition; written to the month or year with the partial-date chance).
    """
    knobs = dict(locals())
    return _histories(_Plan(knobs))


@st.composite
def _histories(draw: st.DrawFn, plan: _Plan) -> dict[str, Any]:
    knobs = plan.knobs
    drawn = _lines(draw, plan)
    last = max(d.end or d.start for d in drawn) if drawn else draw(_FIRST_DAY)
    # as_of near "N months after the last bsAb dose", so interval boundaries are hit often
    reference = max((d.end or d.start for d in drawn if d.modality == "bsab"), default=last)
    as_of = max(last, add_months(reference, draw(_MONTHS_AFTER)) + draw(_JITTER) * _ONE_DAY)
    document: dict[str, Any] = {"patient_id": "GEN-1", "as_of": as_of.isoformat(), "car_t_eligible": draw(plan.eligible)}
    jurisdiction = draw(plan.jurisdiction)
    if jurisdiction:
        document["jurisdiction"] = jurisdiction
    document["lines"] = [_dated(draw, plan, d) for d in drawn]
    for i, line in enumerate(drawn):
        if plan.chance(draw, "progression"):
            following = drawn[i + 1].start if i + 1 < len(drawn) else as_of
            document["lines"][i]["progression"] = plan.write(draw, _progression_day(draw, line, following, as_of))
    records = _apheresis(draw, plan, drawn, as_of)
    if records:
        document["apheresis"] = records
    if plan.chance(draw, "antigen_loss"):
        document["biomarkers"] = {"bcma_loss": draw(_FLAG), "gprc5d_loss": draw(_FLAG), "fcrh5_loss": draw(_FLAG)}
    if knobs["candidates"] is not None or not _chance(draw, 0.1):  # absent: every approved TCRT
        document["candidates"] = [draw(plan.spelled[n]) for n in draw(plan.candidates)]
    return document


@attrs.frozen
class _Raw:
    """One line's draws, made both for other therapy and for a TCRT so that its kind can change
    afterwards without shifting the draws of the lines after it (whole lines then shrink away)."""

    tcrt: bool
    other: list[str]
    modality: str | None
    agents: list[str]
    gap: int
    duration: int
    month_end: bool


@st.composite
def _raw_line(draw: st.DrawFn, plan: _Plan) -> _Raw:
    modality, agents = None, []
    if plan.modality is not None:
        modality = draw(plan.modality)
        agents = [draw(plan.spelled[draw(plan.agents[modality])])]
        if modality == "bsab" and draw(_BOOL):
            agents.append(draw(_PARTNER))
    return _Raw(draw(_BOOL), draw(_OTHER), modality, agents, draw(_GAP), draw(_DURATION), draw(_BOOL))


def _kinds(wanted: list[bool], low: int, high: int) -> list[bool]:
    """Which lines are TCRTs: as drawn, with the last ones switched until the count is within bounds."""
    kinds = list(wanted)
    for i in reversed(range(len(kinds))):
        if (sum(kinds) > high and kinds[i]) or (sum(kinds) < low and not kinds[i]):
            kinds[i] = not kinds[i]
    return kinds


def _lines(draw: st.DrawFn, plan: _Plan) -> list[_Drawn]:
    """Lines in time order, each starting a gap after the previous one ended."""
    raws = draw(plan.lines)
    kinds = _kinds([r.tcrt for r in raws], *plan.knobs["tcrt_lines"]) if plan.modality is not None else [False] * len(raws)
    lines = [(r.modality or "other", r.agents) if tcrt else ("other", r.other) for r, tcrt in zip(raws, kinds)]
    if plan.chance(draw, "unknown_agents"):  # an unidentified drug, as a line of its own
        where = draw(st.integers(0, len(raws)))
        raws.insert(where, draw(plan.line))
        lines.insert(where, ("unknown", [UNKNOWN_NAMES[0]]))
    day = draw(_FIRST_DAY)
    drawn: list[_Drawn] = []
    for i, (raw, (modality, agents)) in enumerate(zip(raws, lines)):
        day += raw.gap * _ONE_DAY if i else 0 * _ONE_DAY
        start = day
        if modality != "car-t":
            day += raw.duration * _ONE_DAY
            if raw.month_end:  # month ends exercise end-of-month clipping
                day = add_months(day.replace(day=1), 1) - _ONE_DAY
        drawn.append(_Drawn(modality, agents, start, day))
    if drawn and drawn[-1].start != drawn[-1].end and plan.chance(draw, "ongoing"):
        drawn[-1] = attrs.evolve(drawn[-1], end=None)
    return drawn


_AFTER_LAST_DOSE = st.one_of(st.integers(55, 65), st.integers(-45, 150))  # days; the 60-day window's edge often


def _progression_day(draw: st.DrawFn, line: _Drawn, following: datetime.date, as_of: datetime.date) -> datetime.date:
    """A day on or after the line's start, by the next line's start and as_of: some days from its
    last dose (a CAR-T's: its infusion), or while an ongoing line is given."""
    latest = max(line.start, min(following, as_of))
    if line.end is None:
        return line.start + (latest - line.start) * draw(_BACK) // 1000
    last = line.start if line.modality == "car-t" else line.end
    return min(max(last + draw(_AFTER_LAST_DOSE) * _ONE_DAY, line.start), latest)


def _dated(draw: st.DrawFn, plan: _Plan, line: _Drawn) -> dict[str, Any]:
    """The line as written; a CAR-T infusion is one known day (its end is its start, or absent)."""
    if line.modality == "car-t":
        written = {"agents": line.agents, "start": line.start.isoformat()}
        return {**written, "end": written["start"]} if draw(_BOOL) else written
    written = {"agents": line.agents, "start": plan.write(draw, line.start)}
    if line.end is None:
        return written
    return {**written, "end": written["start"] if line.end == line.start else plan.write(draw, line.end)}


def _apheresis(draw: st.DrawFn, plan: _Plan, drawn: list[_Drawn], as_of: datetime.date) -> list[dict[str, Any]]:
    """Optional collections before each CAR-T infusion, then a record giving the current state."""
    records: list[dict[str, Any]] = []
    collected, infused = None, None
    for line in (d for d in drawn if d.modality == "car-t"):
        if draw(_BOOL):
            day = line.start - draw(_LEAD) * _ONE_DAY
            collected = max(day, collected) if collected else day
            records.append({"status": "done", "date": collected.isoformat()})
        infused = line.start
    state = draw(plan.apheresis)
    floor = max(d for d in (collected, infused and infused + _ONE_DAY, drawn[0].start if drawn else as_of) if d)
    if floor > as_of:  # a CAR-T infused on as_of: nothing can have happened since
        state = state if state in ("pending", "pending-undated", "cancelled") else "none"
    past = as_of - (max(0, (as_of - floor).days) * draw(_BACK) // 1000) * _ONE_DAY
    if state.startswith("pending") and floor <= as_of and draw(_BOOL):
        records.append({"status": "failed", "date": plan.write(draw, past)})
    if state == "pending":
        records.append({"status": "planned", "date": plan.write(draw, as_of + draw(_AHEAD) * _ONE_DAY)})
    elif state == "pending-undated":
        records.append({"status": "planned"})
    elif state == "stale-plan" and past < as_of:
        records.append({"status": "planned", "date": plan.write(draw, past)})
    elif state in ("collected", "failed"):
        records.append({"status": "done" if state == "collected" else "failed", "date": past.isoformat()})
    elif state == "cancelled":
        records.append({"status": "cancelled"})
    return records
