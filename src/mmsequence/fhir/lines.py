"""Lines of therapy from drug exposures: FHIR and mCODE have no line-of-therapy element.

A resource that carries the site's line-number extension is put in that line. The others are
derived, in order of their start (each date compared on its earliest possible day):

1. A CAR-T infusion is a line of its own.
2. A drug started within ``REGIMEN_DAYS`` of the current line's first start joins it: drugs
   started together form the line's regimen.
3. A drug already in the current line joins it while it continues, that is while the line is
   ongoing or the drug restarts within ``PAUSE_DAYS`` of the line's last dose.
4. A corticosteroid joins the current line (it is part of most regimens, never a line alone);
   outside any line, or after a CAR-T infusion, it is not counted, with a warning.
5. Anything else starts a new line: a new drug after the regimen was set (as after
   progression), or the same drug restarted after a longer pause.

The rules cannot tell a planned change (induction, transplant, maintenance) from a change for
progression; a site that records lines uses the extension. Each line says how it was made.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from ..dates import PartialDate
from ..errors import InputError
from .records import Exposure

REGIMEN_DAYS = 28
PAUSE_DAYS = 90
_JOINS_ANY_LINE = ("corticosteroid",)


@attrs.frozen
class TherapyLine:
    """A line of therapy, the exposures it holds, and how it was formed."""

    exposures: tuple[Exposure, ...]
    method: str  # "extension" or "derived"
    reason: str
    number: int | None = None

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.drug.name for e in self.exposures))

    @property
    def start(self) -> PartialDate:
        return min((e.start for e in self.exposures), key=lambda d: d.sort_key)

    @property
    def end(self) -> PartialDate | None:
        """The last dose; None while any of its drugs is ongoing."""
        if any(e.end is None for e in self.exposures):
            return None
        return max((e.end for e in self.exposures if e.end), key=lambda d: (d.latest, d.earliest))


def _order(e: Exposure) -> tuple[datetime.date, datetime.date, str, str]:
    return e.start.earliest, e.start.latest, e.drug.name, e.resource


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def _joins(line: TherapyLine, e: Exposure) -> bool:
    """Whether ``e`` belongs to ``line`` (rules 2 to 4); CAR-T infusions are handled by the caller."""
    if e.start.earliest <= line.start.earliest + _days(REGIMEN_DAYS):
        return True
    if e.drug.agent is not None and e.drug.agent.drug_class in _JOINS_ANY_LINE:
        return True
    end = line.end
    return e.drug.name in line.agents and (end is None or e.start.earliest <= end.latest + _days(PAUSE_DAYS))


def _new_line_reason(previous: TherapyLine | None, e: Exposure) -> str:
    if e.is_car_t:
        return f"derived: a CAR-T infusion ({e.drug.name}, {e.start}) is a line of its own"
    if previous is None:
        return f"derived: the first therapy in the bundle ({e.drug.name}, {e.start})"
    if previous.exposures[0].is_car_t:
        return f"derived: the first therapy after a CAR-T infusion ({e.drug.name}, {e.start})"
    if e.drug.name in previous.agents:
        return f"derived: {e.drug.name} restarted {e.start}, more than {PAUSE_DAYS} days after the previous line"
    return f"derived: {e.drug.name} started {e.start}, not part of the previous line's regimen"


def _derive(exposures: Iterable[Exposure], warnings: list[str]) -> list[TherapyLine]:
    lines: list[TherapyLine] = []
    for e in sorted(exposures, key=_order):
        current = lines[-1] if lines else None
        if current is not None and not (e.is_car_t or current.exposures[0].is_car_t) and _joins(current, e):
            lines[-1] = attrs.evolve(current, exposures=(*current.exposures, e))
        elif e.drug.agent is not None and e.drug.agent.drug_class in _JOINS_ANY_LINE:
            warnings.append(f"{e.resource}: {e.drug.name} given outside any line of therapy; not counted")
        else:
            regimen = f"; drugs started within {REGIMEN_DAYS} days form its regimen" if not e.is_car_t else ""
            lines.append(TherapyLine((e,), "derived", _new_line_reason(current, e) + regimen))
    return lines


def _explicit(exposures: list[Exposure], warnings: list[str]) -> list[TherapyLine]:
    numbers = sorted({e.line_number for e in exposures if e.line_number is not None})
    lines = [
        TherapyLine(tuple(sorted((e for e in exposures if e.line_number == n), key=_order)), "extension",
                    f"extension: the site recorded line {n}", n)
        for n in numbers
    ]
    problems = []
    for line in lines:
        if any(e.is_car_t for e in line.exposures) and len(line.agents) > 1:
            problems.append(f"line {line.number} ({', '.join(e.resource for e in line.exposures)}): a CAR-T infusion"
                            " must be a line of its own (bridging therapy is a line before it)")
    for earlier, later in zip(lines, lines[1:]):
        if later.start.before(earlier.start):
            problems.append(f"line {later.number} ({later.exposures[0].resource}) starts {later.start},"
                            f" before line {earlier.number} ({earlier.exposures[0].resource}) starts {earlier.start}")
    if problems:
        raise InputError(problems)
    missing = [str(n) for n in range(1, numbers[-1]) if n not in numbers] if numbers else []
    if missing:
        warnings.append(f"line-of-therapy extension: no resource in the bundle for line {', '.join(missing)};"
                        " the history holds only the lines present")
    return lines


def build_lines(exposures: list[Exposure], warnings: list[str]) -> list[TherapyLine]:
    """All lines, explicit and derived, in order of their start; problems raise InputError."""
    explicit = _explicit([e for e in exposures if e.line_number is not None], warnings)
    derived = _derive((e for e in exposures if e.line_number is None), warnings)
    return sorted(explicit + derived, key=lambda line: (*line.start.sort_key, line.number or 0))
