"""The lines of a FHIR Bundle: a site's own line numbers where it records them, else IMWG lines.

FHIR and mCODE have no line-of-therapy element. A resource carrying the site's extension
(``urn:mmsequence:fhir:line-of-therapy``) goes into that line (``method: extension``); the other
records are read into lines by :func:`mmsequence.lines.derive_lines` (``method: derived``). Each
line of therapy becomes one history line, and a CAR-T line two: its bridging therapy, and the
infusion (which the history keeps as one infusion on its day).
"""

from __future__ import annotations

import datetime
import itertools

import attrs

from ..dates import PartialDate
from ..errors import InputError
from ..history import Line, LineOrigin
from ..lines import Event, Member, derive_lines, history_line, history_lines, not_therapy
from ..notices import Notice
from .records import RecordedExposure


def _day(date: PartialDate) -> tuple[datetime.date, datetime.date]:
    return date.earliest, date.latest


def _explicit(exposures: list[RecordedExposure], warnings: list[Notice]) -> list[tuple[int, Line]]:
    numbers = sorted({e.line_number for e in exposures if e.line_number is not None})
    lines = []
    problems: list[str] = []
    for n in numbers:
        mine = sorted((e for e in exposures if e.line_number == n), key=lambda e: _day(e.start))
        reason = Notice("line.extension", number=n)
        cells = [e for e in mine if e.is_car_t]
        if cells and len({e.drug.name for e in mine}) > 1:
            problems.append(Notice("fhir.car-t-line", subject=Notice("fhir.line", number=n,
                                                                      records=tuple(e.resource for e in mine))))
        members = [Member(e.event(), "infusion" if e.is_car_t else "therapy", e.end) for e in mine]
        lines.append((n, history_line(members, "extension", reason, n, [])))
    for (n1, earlier), (n2, later) in itertools.pairwise(lines):
        if later.start.before(earlier.start):
            problems.append(Notice("fhir.lines-out-of-order", start=later.start, date=earlier.start,
                                   line=Notice("fhir.line", number=n2, records=_origin(later).records[0].resource),
                                   earlier=Notice("fhir.line", number=n1, records=_origin(earlier).records[0].resource)))
    if problems:
        raise InputError(problems)
    missing = [str(n) for n in range(1, numbers[-1]) if n not in numbers] if numbers else []
    if missing:
        warnings.append(Notice("fhir.missing-lines", numbers=tuple(missing)))
    return lines


def build_lines(exposures: list[RecordedExposure], events: list[Event],
                warnings: list[Notice]) -> tuple[list[Line], tuple[tuple[str, Notice, str], ...]]:
    """The history's lines in order of their start, numbered as lines of therapy, and the drugs
    that are not anti-myeloma therapy (name, role, record); problems raise InputError."""
    explicit = _explicit([e for e in exposures if e.line_number is not None], warnings)
    reading = derive_lines([*(e.event() for e in exposures if e.line_number is None), *events])
    warnings.extend(reading.warnings)
    # drugs set aside are listed on the history (not_therapy), not repeated as warnings
    keyed = [(("extension", n), line) for n, line in explicit] + [(("derived", n), line) for n, line in history_lines(reading)]
    keyed.sort(key=lambda pair: (*_day(pair[1].start), _origin(pair[1]).number or 0))
    numbers: dict[tuple[str, int], int] = {}
    lines = []
    for key, line in keyed:
        number = numbers.setdefault(key, len(numbers) + 1)
        lines.append(line if _origin(line).number == number else _renumbered(line, number))
    return lines, not_therapy(reading)


def _origin(line: Line) -> LineOrigin:
    """The origin every line built here has."""
    assert line.origin is not None
    return line.origin


def _renumbered(line: Line, number: int) -> Line:
    return attrs.evolve(line, origin=attrs.evolve(_origin(line), number=number))
