"""The typed fast path for valid patient-history documents: JSON text, or decoded JSON, straight to a history.

msgspec decodes the text (or converts the decoded JSON) into the document's declared structures
(:mod:`mmsequence.schema`: fields, types, choices and patterns checked in C), and
:func:`fast_history` finishes what types cannot say (non-blank text, dates, the checks between
fields). It answers only for documents that are valid as they stand; anything else, however
small the doubt, gives None and the document goes to :func:`mmsequence.history.parse_document`,
which reports every problem with its field path. Both give equal histories for every document the
fast path accepts (tests/test_fast_read.py holds them to that).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

from .dates import PartialDate
from .history import (
    Apheresis,
    Biomarkers,
    CandidateInput,
    CandidateRegimen,
    Line,
    Override,
    PatientHistory,
    _apheresis_order_problems,
    _line_problems,
)
from .schema import (
    ApheresisDocument,
    BiomarkersDocument,
    LineDocument,
    OverrideDocument,
    PatientHistoryDocument,
    RegimenDocument,
)

_DECODER = msgspec.json.Decoder(PatientHistoryDocument)


class _Doubt(Exception):
    """The document is not valid as it stands: let the full validator say why."""


def _unicode(value: str) -> bool:
    """False for a lone surrogate, which UTF-8 cannot encode (JSON text cannot hold one; decoded JSON can)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: str | None) -> str | None:
    if value is not None and (not value.strip() or not _unicode(value)):
        raise _Doubt
    return value


def _names(values: list[str]) -> tuple[str, ...]:
    names = tuple(map(str.strip, values))
    if not names or not all(names) or not _unicode("".join(names)):
        raise _Doubt
    return names


def _date(text: str | None) -> PartialDate | None:
    return None if text is None else _day_range(text)


def _day_range(text: str) -> PartialDate:
    try:
        return PartialDate.parse(text)
    except ValueError:
        raise _Doubt from None


def _line(raw: LineDocument, path: str) -> Line:
    start = _day_range(raw.start)
    end = _date(raw.end)
    progression = _date(raw.progression)
    if _line_problems(start, end, path, progression):
        raise _Doubt
    return Line(agents=_names(raw.agents), start=start, end=end, best_response=raw.best_response,
                stop_reason=raw.stop_reason, refractory=raw.refractory, comment=_text(raw.comment),
                progression=progression)


def _candidates(raw: list[str | RegimenDocument]) -> tuple[CandidateInput, ...]:
    if not raw:
        raise _Doubt
    found: list[CandidateInput] = []
    for item in raw:
        if isinstance(item, str):
            found += _names([item])
        elif len(item.agents) < 2:
            raise _Doubt
        else:
            name = _text(item.name)
            found.append(CandidateRegimen(_names(item.agents), name.strip() if name else None))
    return tuple(found)


def _apheresis(raw: ApheresisDocument) -> Apheresis:
    if raw.status in ("done", "failed") and raw.date is None:
        raise _Doubt
    return Apheresis(status=raw.status, date=_date(raw.date), product=_text(raw.product), comment=_text(raw.comment))


def _override(raw: OverrideDocument) -> Override:
    if raw.reason == "other" and not raw.note:
        raise _Doubt
    return Override(rule=_text(raw.rule) or "", candidate=_text(raw.candidate) or "", reason=raw.reason,
                    note=_text(raw.note))


def _biomarkers(raw: BiomarkersDocument | None) -> Biomarkers:
    if raw is None:
        return Biomarkers()
    soluble = raw.soluble_bcma_ng_ml
    if soluble is not None and not (math.isfinite(soluble) and soluble >= 0):
        raise _Doubt
    return Biomarkers(bcma_loss=raw.bcma_loss, gprc5d_loss=raw.gprc5d_loss, fcrh5_loss=raw.fcrh5_loss,
                      soluble_bcma_ng_ml=soluble)


def fast_history(document: str | bytes | dict[str, Any]) -> PatientHistory | None:
    """The history of a valid patient-history document given as JSON text, or as JSON decoded into
    Python's own types (dict, list, str, int, float, bool, None: nothing else); None for anything
    else (invalid, unusual or not a patient-history document at all, such as a FHIR Bundle)."""
    try:
        if isinstance(document, (str, bytes)):
            raw = _DECODER.decode(document)
        else:
            raw = msgspec.convert(document, PatientHistoryDocument)
        as_of = _date(raw.as_of)
        if as_of is not None and as_of.precision != "day":
            raise _Doubt
        apheresis = tuple(_apheresis(a) for a in raw.apheresis or ())
        if _apheresis_order_problems(list(enumerate(apheresis))):
            raise _Doubt
        return PatientHistory(
            patient_id=_text(raw.patient_id) or "",
            lines=tuple(_line(line, f"lines[{i}]") for i, line in enumerate(raw.lines or ())),
            apheresis=apheresis,
            biomarkers=_biomarkers(raw.biomarkers),
            candidates=None if raw.candidates is None else _candidates(raw.candidates),
            car_t_eligible=raw.car_t_eligible,
            jurisdiction=raw.jurisdiction,
            as_of=None if as_of is None else as_of.earliest,
            overrides=tuple(_override(o) for o in raw.overrides or ()),
            comment=_text(raw.comment),
        )
    except (msgspec.DecodeError, msgspec.ValidationError, _Doubt, UnicodeError):
        return None
