"""Dated knowledge: when each part of what the rules know was last checked against its sources.

Label facts, approvals and trial figures change every few months, so every part of the knowledge
carries the day its content was last checked against its sources and how often it is to be checked
again, in the manner of Arden Syntax's maintenance slots and CDS Connect's "last reviewed" field:

- the agent catalog (``rules/agents.yaml``: ``reviewed``, ``review_every_months``, and a dated
  ``sources`` section that every agent and regimen names);
- each rule pack (``rules/<pack>/_pack.yaml``), whose rules share its date unless they carry their
  own (a label rule always does);
- a site's own review of a part, recorded in its policy (``reviewed: {labels: 2027-03-10}``).

Each assessment reports the knowledge it was made with (:class:`Knowledge`); evaluating after a
part's review was due adds a data warning and never changes a verdict.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .dates import add_months

if TYPE_CHECKING:
    from .notices import Notice

#: The longest review interval a file may give, in months.
MAX_REVIEW_MONTHS = 36


@attrs.frozen
class Reviewed:
    """The day a part's content was last checked against its sources, and the months until the next check."""

    on: datetime.date
    every_months: int

    @property
    def due(self) -> datetime.date:
        """The day the next check is due."""
        return add_months(self.on, self.every_months)


def parse_reviewed(on: Any, every: Any, where: str, problems: list[str],
                   default_every: int | None = None) -> Reviewed | None:
    """A :class:`Reviewed` from a file's ``reviewed`` (a date, YYYY-MM-DD) and ``review_every_months``
    (a whole number from 1 to :data:`MAX_REVIEW_MONTHS`, else ``default_every``); problems name ``where``."""
    day = as_day(on)
    if day is None:
        problems.append(f"{where}reviewed: {on!r} is not a date (YYYY-MM-DD)")
    months = default_every if every is None else every
    if not (isinstance(months, int) and not isinstance(months, bool) and 1 <= months <= MAX_REVIEW_MONTHS):
        problems.append(f"{where}review_every_months: {months!r} is not a whole number of months from 1 to {MAX_REVIEW_MONTHS}")
        return None
    return None if day is None else Reviewed(day, months)


def as_day(value: Any) -> datetime.date | None:
    """A full date as YAML reads it (a date, or its ISO text), else None."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value) if len(value) == 10 else None
        except ValueError:
            return None
    return None


@attrs.frozen
class Part:
    """One part of the knowledge an evaluation uses: the catalog or a pack (``part``), the day its
    oldest content was last checked (``reviewed``) and the earliest day a check is due (``due``);
    ``site_reviewed`` is the day the site's own review recorded it as checked, which moves ``due``;
    ``entries`` names the rules (or catalog sources) whose own dates give ``reviewed`` or ``due``."""

    part: str
    reviewed: datetime.date
    due: datetime.date
    site_reviewed: datetime.date | None = None
    entries: tuple[str, ...] = ()
    #: Every entry with a date of its own, and the day it is due.
    entries_due: tuple[tuple[str, datetime.date], ...] = attrs.field(default=(), eq=False, repr=False)

    def overdue_entries(self, day: datetime.date) -> tuple[str, ...]:
        """The entries with a date of their own whose review was due before ``day``."""
        return tuple(entry for entry, due in self.entries_due if due < day)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"part": self.part, "reviewed": self.reviewed.isoformat(), "review_due": self.due.isoformat()}
        if self.site_reviewed is not None:
            out["site_reviewed"] = self.site_reviewed.isoformat()
        if self.entries:
            out["entries"] = list(self.entries)
        return out


def part_of(name: str, dated: Iterable[tuple[str | None, Reviewed]], site: datetime.date | None) -> Part | None:
    """A part from the dates of its content (each with the entry it belongs to, None for the part
    itself): the oldest check, the earliest due day; a site review moves a due day to its own
    interval after the site's check when that is later. None when nothing is dated."""
    items = [(entry, r, max(r.due, add_months(site, r.every_months)) if site is not None else r.due) for entry, r in dated]
    if not items:
        return None
    reviewed = min(r.on for _, r, _ in items)
    due = min(d for _, _, d in items)
    entries = tuple(sorted({e for e, r, d in items if e is not None and (r.on == reviewed or d == due)}))
    return Part(name, reviewed, due, site, entries, tuple(sorted((e, d) for e, _, d in items if e is not None)))


@attrs.frozen
class Knowledge:
    """The dated parts of the knowledge one evaluator uses (the catalog, then each pack that runs)."""

    parts: tuple[Part, ...] = ()

    @property
    def reviewed(self) -> datetime.date | None:
        """The oldest day any part was last checked against its sources (None: nothing dated)."""
        return min((p.reviewed for p in self.parts), default=None)

    @property
    def due(self) -> datetime.date | None:
        """The earliest day a part is due for review."""
        return min((p.due for p in self.parts), default=None)

    def overdue(self, day: datetime.date) -> tuple[Part, ...]:
        """The parts whose review was due before ``day``."""
        return tuple(p for p in self.parts if p.due < day)

    def warnings(self, day: datetime.date) -> tuple[Notice, ...]:
        """One data warning for each part due for review before ``day`` (the evaluation day)."""
        return tuple(_warning(p, day) for p in self.overdue(day))

    def to_dict(self) -> dict[str, Any]:
        return {
            "reviewed": None if self.reviewed is None else self.reviewed.isoformat(),
            "review_due": None if self.due is None else self.due.isoformat(),
            "parts": [p.to_dict() for p in self.parts],
        }


def _warning(part: Part, day: datetime.date) -> Notice:
    from .notices import Notice  # the catalog reads this module; the notices read the catalog's roles

    late = part.overdue_entries(day)
    which = Notice("knowledge.which", entries=tuple(late)) if late else ""
    if part.part == "catalog":
        return Notice("knowledge.catalog-due", which=which, date=part.reviewed, due=part.due, day=day)
    return Notice("knowledge.rules-due", pack=part.part, which=which, date=part.reviewed, due=part.due, day=day)


def site_reviews(reviews: Mapping[str, str]) -> dict[str, datetime.date]:
    """A policy's ``reviewed`` mapping (part -> ISO date), as dates (validated by the policy)."""
    return {part: datetime.date.fromisoformat(day) for part, day in reviews.items()}
