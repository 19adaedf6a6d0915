"""The lines of a FHIR Bundle: a site's own line numbers where it records them, else IMWG lines.

FHIR and mCODE have no line-of-therapy element. A resource carrying the site's extension
(``urn:mmsequence:fhir:line-of-therapy``) goes into that line (``method: extension``); the other
records are read into lines by :func:`mmsequence.lines.derive_lines` (``method: derived``). Each
line of therapy becomes one history line, and a CAR-T line two: its bridging therapy, and the
infusion (which the history keeps as one infusion on its day).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from ..dates import PartialDate
from ..errors import InputError
from ..history import Line, LineOrigin, SourceRecord
from ..lines import Event, LineReading, Member, SetAside, derive_lines
from .records import Exposure


def _day(date: PartialDate) -> tuple[datetime.date, datetime.date]:
    return date.earliest, date.latest


def _records(events: Iterable[Event]) -> tuple[SourceRecord, ...]:
    return tuple(SourceRecord(e.name, e.source, e.matched_by) for e in events)


def _line(members: list[Member], method: str, reason: str, number: int, notes: list[Member],
          progression: Event | None = None) -> Line:
    starts = [m.event.start for m in members]
    ends = [m.end for m in members]
    stopped = [m for m in members if m.event.stop_reason]
    last_stop = max(stopped, key=lambda m: _day(m.end or m.event.start)).event.stop_reason if stopped else None
    known_ends = [e for e in ends if e is not None]
    end = None if len(known_ends) < len(ends) else max(known_ends, key=lambda d: (d.latest, d.earliest))
    extra = "".join(f"; {m.part}: {m.event.name} {m.event.start} ({m.event.source})" for m in notes)
    if progression is not None:
        extra += f"; progression recorded {progression.start} ({progression.source})"
    # a progression while the line was still given is why it stopped; its date decides refractoriness
    on_therapy = progression is not None and (end is None or progression.start.after(end) is not True)
    return Line(
        agents=tuple(dict.fromkeys(m.event.name for m in members)),
        start=min(starts, key=_day),
        end=end,
        stop_reason=last_stop or ("progression" if on_therapy else None),
        comment=reason + extra,
        origin=LineOrigin(method, reason + extra, _records(m.event for m in members + notes), number),
        progression=None if progression is None else progression.start,
    )


def _from_reading(reading: LineReading) -> list[tuple[int, Line]]:
    out = []
    for line in reading.lines:
        notes = [m for m in line.members if not m.counts and m.part != "transplant"]
        therapy = [m for m in line.members if m.part in ("therapy", "bridging")]
        infusion = [m for m in line.members if m.part == "infusion"]
        reason = f"derived: line {line.number}: {line.reason}"
        if therapy:
            out.append((line.number, _line(therapy, "derived", reason + (" (bridging)" if infusion else ""),
                                           line.number, [] if infusion else notes,
                                           None if infusion else line.progression)))
        if infusion:
            out.append((line.number, _line(infusion, "derived", reason, line.number, notes, line.progression)))
    return out


def _explicit(exposures: list[Exposure], warnings: list[str]) -> list[tuple[int, Line]]:
    numbers = sorted({e.line_number for e in exposures if e.line_number is not None})
    lines = []
    problems = []
    for n in numbers:
        mine = sorted((e for e in exposures if e.line_number == n), key=lambda e: _day(e.start))
        reason = f"extension: the site recorded line {n}"
        cells = [e for e in mine if e.is_car_t]
        if cells and len({e.drug.name for e in mine}) > 1:
            problems.append(f"line {n} ({', '.join(e.resource for e in mine)}): a CAR-T infusion"
                            " must be a line of its own (bridging therapy is a line before it)")
        members = [Member(e.event(), "infusion" if e.is_car_t else "therapy", e.end) for e in mine]
        lines.append((n, _line(members, "extension", reason, n, [])))
    for (n1, earlier), (n2, later) in zip(lines, lines[1:]):
        if later.start.before(earlier.start):
            problems.append(f"line {n2} ({_origin(later).records[0].resource}) starts {later.start},"
                            f" before line {n1} ({_origin(earlier).records[0].resource}) starts {earlier.start}")
    if problems:
        raise InputError(problems)
    missing = [str(n) for n in range(1, numbers[-1]) if n not in numbers] if numbers else []
    if missing:
        warnings.append(f"line-of-therapy extension: no resource in the bundle for line {', '.join(missing)};"
                        " the history holds only the lines present")
    return lines


def build_lines(exposures: list[Exposure], events: list[Event],
                warnings: list[str]) -> tuple[list[Line], tuple[tuple[str, str, str], ...]]:
    """The history's lines in order of their start, numbered as lines of therapy, and the drugs
    that are not anti-myeloma therapy (name, role, record); problems raise InputError."""
    explicit = _explicit([e for e in exposures if e.line_number is not None], warnings)
    reading = derive_lines([*(e.event() for e in exposures if e.line_number is None), *events])
    warnings.extend(reading.warnings)
    # drugs set aside are listed on the history (not_therapy), not repeated as warnings
    keyed = [(("extension", n), line) for n, line in explicit] + [(("derived", n), line) for n, line in _from_reading(reading)]
    keyed.sort(key=lambda pair: (*_day(pair[1].start), _origin(pair[1]).number or 0))
    numbers: dict[tuple[str, int], int] = {}
    lines = []
    for key, line in keyed:
        number = numbers.setdefault(key, len(numbers) + 1)
        lines.append(line if _origin(line).number == number else _renumbered(line, number))
    aside = tuple((a.event.name, _words(a), a.event.source) for a in reading.set_aside)
    return lines, aside


def _words(aside: SetAside) -> str:
    """The role in words, saying when an ATC code decided it."""
    atc = aside.event.matched_by.get("atc", {}).get("code") if aside.event.agent is None else None
    return f"{aside.words} (by its ATC code {atc})" if atc else aside.words


def _origin(line: Line) -> LineOrigin:
    """The origin every line built here has."""
    assert line.origin is not None
    return line.origin


def _renumbered(line: Line, number: int) -> Line:
    return attrs.evolve(line, origin=attrs.evolve(_origin(line), number=number))
