"""Calendar dates that may be partial ('2025', '2025-09'), with three-valued comparisons.

All uncertain date logic lives here, in the spirit of cql-execution's Uncertainty:
a PartialDate is the closed range of days it could be, and a comparison answers
True or False only when every possible day agrees, else None.
"""

from __future__ import annotations

import datetime
import functools
import re

import attrs
from dateutil.relativedelta import relativedelta

_ONE_DAY = datetime.timedelta(days=1)
_ISO = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_ISO_LENGTH = {"year": 4, "month": 7, "day": 10}


@functools.lru_cache(maxsize=16384)
def add_months(day: datetime.date, months: int) -> datetime.date:
    """Calendar-month arithmetic with end-of-month clipping (2025-08-31 + 6 = 2026-02-28)."""
    return day + relativedelta(months=months)


def _precision(earliest: datetime.date, latest: datetime.date) -> str:
    """Name the range: one day, one whole calendar month or year, or any other span."""
    if earliest == latest:
        return "day"
    if earliest == earliest.replace(month=1, day=1) and latest == earliest.replace(month=12, day=31):
        return "year"
    if earliest.day == 1 and latest == add_months(earliest, 1) - _ONE_DAY:
        return "month"
    return "span"


@attrs.frozen(order=False, cache_hash=True)  # a key of many caches: hashed once
class PartialDate:
    """The closed range of days a date written as 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' may be; ``text``
    is how it was written (a range narrowed by :meth:`bounded` keeps it).

    A comparison is True if it holds for every pair of possible days, False if for none, else None.
    """

    earliest: datetime.date
    latest: datetime.date = attrs.field()
    text: str

    @latest.validator
    def _not_before_earliest(self, _attribute: attrs.Attribute[datetime.date], value: datetime.date) -> None:
        if value < self.earliest:
            raise ValueError(f"latest {value} is before earliest {self.earliest}")

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Read 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD' (year 1900..2199); anything else is a ValueError."""
        parsed = _parse(text) if isinstance(text, str) else None
        if parsed is None:
            raise ValueError(f"{text!r} is not a date")
        return parsed

    @classmethod
    def of(cls, day: datetime.date) -> PartialDate:
        """The exact day."""
        return _exact(day)

    @property
    def precision(self) -> str:
        """'year', 'month' or 'day' for a whole calendar unit, 'span' for any other range."""
        return _precision(self.earliest, self.latest)

    @property
    def sort_key(self) -> tuple[datetime.date, datetime.date]:
        """Chronological order: by the earliest possible day, then the latest."""
        return self.earliest, self.latest

    @property
    def is_exact(self) -> bool:
        """Whether the day is known."""
        return self.earliest == self.latest

    @classmethod
    def between(cls, earliest: datetime.date, latest: datetime.date) -> PartialDate:
        """The range of days; its text is ISO if it is a whole day, month or year, else 'A..B'."""
        return _between(earliest, latest)

    def bounded(self, not_before: datetime.date | None = None, not_after: datetime.date | None = None) -> PartialDate:
        """The days of this date that other records leave possible (a dose never after the
        evaluation day, a line's end never before its start); the text stays as written.

        A bound outside the range leaves it as it is: the caller checks consistency first.
        """
        earliest = max(self.earliest, not_before) if not_before is not None else self.earliest
        latest = min(self.latest, not_after) if not_after is not None else self.latest
        if (earliest, latest) == (self.earliest, self.latest) or earliest > latest:
            return self
        return PartialDate(earliest, latest, self.text)

    def plus_months(self, months: int) -> PartialDate:
        """Shift both ends by calendar months (end-of-month clipping)."""
        return PartialDate.between(add_months(self.earliest, months), add_months(self.latest, months))

    def plus_days(self, days: int) -> PartialDate:
        """Shift both ends by days."""
        delta = datetime.timedelta(days=days)
        return PartialDate.between(self.earliest + delta, self.latest + delta)

    def before(self, other: PartialDate | datetime.date) -> bool | None:
        """self < other, three-valued."""
        first, last = _bounds(other)
        return True if self.latest < first else False if self.earliest >= last else None

    def on_or_before(self, other: PartialDate | datetime.date) -> bool | None:
        """self <= other, three-valued."""
        first, last = _bounds(other)
        return True if self.latest <= first else False if self.earliest > last else None

    def after(self, other: PartialDate | datetime.date) -> bool | None:
        """self > other, three-valued."""
        first, last = _bounds(other)
        return True if self.earliest > last else False if self.latest <= first else None

    def on_or_after(self, other: PartialDate | datetime.date) -> bool | None:
        """self >= other, three-valued."""
        first, last = _bounds(other)
        return True if self.earliest >= last else False if self.latest < first else None

    def __str__(self) -> str:
        return self.text


def _bounds(value: PartialDate | datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last possible day of a PartialDate, or of a plain date."""
    return (value.earliest, value.latest) if isinstance(value, PartialDate) else (value, value)


@functools.lru_cache(maxsize=16384)
def _exact(day: datetime.date) -> PartialDate:
    """The exact day (cached: clocks and anchors make the same days again and again)."""
    return PartialDate(day, day, day.isoformat())


@functools.lru_cache(maxsize=16384)
def _between(earliest: datetime.date, latest: datetime.date) -> PartialDate:
    """The range of days, named as :meth:`PartialDate.between` names it (cached, as :func:`_exact`)."""
    precision = _precision(earliest, latest)
    if precision == "span":
        return PartialDate(earliest, latest, f"{earliest.isoformat()}..{latest.isoformat()}")
    return PartialDate(earliest, latest, earliest.isoformat()[: _ISO_LENGTH[precision]])


@functools.lru_cache(maxsize=65536)
def _parse(text: str) -> PartialDate | None:
    """The PartialDate a text denotes, or None; cached, since histories repeat their dates."""
    match = _ISO.fullmatch(text)
    if match is None or not 1900 <= int(match[1]) <= 2199:
        return None
    try:
        earliest = datetime.date(int(match[1]), int(match[2] or 1), int(match[3] or 1))
    except ValueError:
        return None
    if match[3]:
        latest = earliest
    elif match[2]:
        latest = add_months(earliest, 1) - _ONE_DAY
    else:
        latest = earliest.replace(month=12, day=31)
    return PartialDate(earliest, latest, text)
