"""FHIR date and dateTime values as :class:`~mmsequence.dates.PartialDate`, keeping their precision.

fhir.resources keeps a partial value ('2025', '2025-09') as its text and turns a full date or a
dateTime into a ``date`` or ``datetime``. A dateTime counts by the calendar date it was written
with (its own time zone): the day the clinician recorded.
"""

from __future__ import annotations

import datetime

from ..dates import PartialDate
from ..errors import InputError
from ..notices import Notice


def partial_date(value: str | datetime.date | None, path: str) -> PartialDate | None:
    """The days a FHIR date or dateTime may be (None stays None); InputError naming ``path`` if out of range."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        value = value.isoformat()
    try:
        return PartialDate.parse(value[:10])
    except ValueError as error:
        raise InputError([Notice("input.date", path, problem=str(error))]) from None
