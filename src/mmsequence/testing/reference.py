"""An independent reading of a valid patient document, for checks that must not trust the engine.

Kept apart from :mod:`mmsequence.course` on purpose: the invariants and the oracle compare the
engine against this reading, so the two must not share code.

Written from the guidance notes and the README's documented defaults; it shares nothing with
the engine but the agent catalog. A written date is the range of days it may be, less the days
the record rules out (nothing given after ``as_of``, no line ending before it starts); month
arithmetic clips to the month's end, a CAR-T line is one infusion, an ongoing line's last dose
is ``as_of``, and the last apheresis record gives the apheresis state.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from ..catalog import STATUSES, Agent, Catalog

TCRT = ("bsab", "car-t")


def add_months(day: datetime.date, months: int) -> datetime.date:
    """Calendar months, clipped to the last day of a shorter month (08-31 + 6 = 02-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return datetime.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@attrs.frozen
class Days:
    """The closed range of days a date written as YYYY, YYYY-MM or YYYY-MM-DD may be."""

    first: datetime.date
    last: datetime.date

    @classmethod
    def of(cls, text: str) -> Days:
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 3:
            return cls.exact(datetime.date(*parts))
        if len(parts) == 2:
            year, month = parts
            return cls(datetime.date(year, month, 1), datetime.date(year, month, calendar.monthrange(year, month)[1]))
        return cls(datetime.date(parts[0], 1, 1), datetime.date(parts[0], 12, 31))

    @classmethod
    def exact(cls, day: datetime.date) -> Days:
        return cls(day, day)

    def plus_months(self, months: int) -> Days:
        return Days(add_months(self.first, months), add_months(self.last, months))

    def within(self, first: datetime.date | None = None, last: datetime.date | None = None) -> Days:
        """The days of this range from ``first`` to ``last`` (a bound that would empty it is ignored)."""
        lo = max(self.first, first) if first else self.first
        hi = min(self.last, last) if last else self.last
        return Days(lo, hi) if lo <= hi else self


@attrs.frozen
class Given:
    """One agent of one line (``agent`` None: not in the catalog; ``end`` None: ongoing)."""

    name: str
    agent: Agent | None
    line: int
    start: Days
    end: Days | None

    @property
    def modality(self) -> str | None:
        return self.agent.modality if self.agent else None

    @property
    def targets(self) -> tuple[str, ...]:
        return self.agent.targets if self.agent else ()

    def last_dose(self, as_of: datetime.date) -> Days:
        """A CAR-T is one infusion (its start); an ongoing line's last dose is ``as_of``."""
        if self.modality == "car-t":
            return self.start
        return self.end if self.end is not None else Days.exact(as_of)


def given(document: Mapping[str, Any], catalog: Catalog, as_of: datetime.date) -> list[Given]:
    """Every agent of every line, looked up in ``catalog`` (the policy's: shipped and site agents),
    each date no later than ``as_of`` and a line's end no earlier than its start."""
    result = []
    for i, line in enumerate(document.get("lines") or ()):
        start = Days.of(line["start"])
        end = Days.of(line["end"]).within(start.first, as_of) if line.get("end") else None
        start = start.within(last=min(as_of, end.last) if end else as_of)
        result += [Given(name.strip(), catalog.lookup(name), i, start, end) for name in line["agents"]]
    return result


@attrs.frozen
class Apheresis:
    """The state of CAR-T apheresis: none, pending, collected, used, failed or cancelled."""

    state: str
    day: Days | None = None


def apheresis(document: Mapping[str, Any], gifts: list[Given], as_of: datetime.date) -> Apheresis:
    """The last record decides. A plan still pending cannot happen before ``as_of``; collected
    T cells are used once a CAR-T infusion followed the collection (a valid document dates the
    two so that the order is certain)."""
    records = document.get("apheresis") or ()
    if not records:
        return Apheresis("none")
    last = records[-1]
    day = Days.of(last["date"]) if last.get("date") else None
    if last["status"] == "planned":
        if day is None or day.last < as_of:
            return Apheresis("pending")
        return Apheresis("pending", Days(max(day.first, as_of), day.last))
    if day is not None and last["status"] != "planned":
        day = day.within(last=as_of)  # a record of what happened
    if last["status"] == "done" and day is not None:
        infusions = [g.start for g in gifts if g.modality == "car-t"]
        return Apheresis("used" if any(start.first >= day.last for start in infusions) else "collected", day)
    return Apheresis(last["status"], day)


def anchor(
    modality: str, state: Apheresis, as_of: datetime.date, car_t_anchor: str = "planned-apheresis"
) -> tuple[str, Days]:
    """The event the interval runs to: a bsAb's first dose (at the earliest ``as_of``); for a
    CAR-T the T-cell collection, done (``collected``) or planned (``pending``, unless the policy
    counts to the evaluation date), else ``as_of``."""
    if modality == "car-t" and state.day is not None:
        if state.state == "collected" or (state.state == "pending" and car_t_anchor == "planned-apheresis"):
            return state.state, state.day
    return "as-of", Days.exact(as_of)


def interval_window(
    gifts: list[Given], as_of: datetime.date, months: int, scope: str, anchor: Days, consecutive: bool = True
) -> Days | None:
    """When the T-cell recovery interval ends, as a range of days (None: nothing starts the clock).

    A bsAb starts the clock (scope ``any-tcrt``: a CAR-T infusion too) at its last dose, if it
    may have started on or before ``anchor``, the event the interval runs to. With
    ``consecutive`` the interval runs from the TCRT just before: a clock ends when a TCRT of
    another line certainly started on or after its last dose and certainly before ``anchor``
    (not while the earlier one is ongoing). Each remaining therapy's interval ends ``months``
    after its last dose; the window spans the latest end over every possible day of imprecise dates.
    """
    clock = TCRT if scope == "any-tcrt" else ("bsab",)

    def followed(g: Given) -> bool:
        if g.end is None and g.modality != "car-t":
            return False
        last = g.last_dose(as_of)
        return any(h.modality in TCRT and h.line != g.line and h.start.first >= last.last and h.start.last <= anchor.first
                   for h in gifts)

    ends = [g.last_dose(as_of).plus_months(months) for g in gifts
            if g.modality in clock and g.start.first <= anchor.last and not (consecutive and followed(g))]
    if not ends:
        return None
    return Days(max(e.first for e in ends), max(e.last for e in ends))


@attrs.frozen
class Therapy:
    """A candidate as the guidance judges it: one drug, or a regimen (README, "Regimens as
    candidates"): its targets are all its drugs' targets; it is a CAR-T when it holds one, else a bsAb,
    an ADC or an NK-cell engager when it holds one; its status is the catalog's for the combination,
    else investigational when it holds a TCRT (else its single drug's)."""

    name: str
    agents: tuple[Agent, ...]
    status: str

    @property
    def modality(self) -> str:
        kinds = {a.modality for a in self.agents}
        if len(kinds) == 1:
            return next(iter(kinds))
        return next((m for m in ("car-t", "bsab", "adc", "nk-engager") if m in kinds), "conventional")

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({t for a in self.agents for t in a.targets}))


def query(candidate: Any) -> str:
    """The name a candidate is reported under: as written, or a regimen's name, else its drugs joined by ' + '."""
    if isinstance(candidate, str):
        return candidate.strip()
    return (candidate.get("name") or "").strip() or " + ".join(a.strip() for a in candidate["agents"])


def therapy(candidate: Any, catalog: Catalog) -> Therapy | None:
    """What a candidate of a valid document names: a drug by any name, a regimen by a name or
    abbreviation the catalog gives it, drugs joined by '+', or ``{"agents": [...]}``; None when a
    drug is not in the catalog."""
    if isinstance(candidate, str) and "+" not in candidate:
        agent = catalog.lookup(candidate)
        if agent is not None:
            return Therapy(agent.name, (agent,), agent.status)
        regimen = catalog.regimen_named(candidate)
        if regimen is None:
            return None
        names: list[str] = sorted(regimen.agents)
    else:
        names = candidate.split("+") if isinstance(candidate, str) else list(candidate["agents"])
    agents = [catalog.lookup(n) for n in names]
    if any(a is None for a in agents):
        return None
    found = tuple(sorted({a.name: a for a in agents if a is not None}.values(), key=lambda a: a.name))
    if len(found) == 1:
        return Therapy(found[0].name, found, found[0].status)
    regimen = catalog.regimen(found)
    status = regimen.status if regimen is not None and regimen.status else (
        "investigational" if any(a.modality in TCRT for a in found) else max((a.status for a in found), key=STATUSES.index))
    return Therapy(regimen.name if regimen else " + ".join(a.name for a in found), found, status)


def used_targets(gifts: list[Given]) -> set[str]:
    """Targets an earlier T-cell redirecting therapy already used."""
    return {t for g in gifts if g.modality in TCRT for t in g.targets}
