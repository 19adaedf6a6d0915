"""The patient history: attrs model, and the validation of the JSON document (version 1).

Everything downstream trusts a :class:`PatientHistory`. A JSON document is checked field by
field here, every problem reported with its field path (``lines[2].end``); a history built by
another reader (FHIR) passes the same consistency checks (:func:`consistency_problems`).
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import msgspec

from .dates import PartialDate
from .errors import InputError
from .notices import Notice
from .schema import (
    ApheresisDocument,
    BiomarkersDocument,
    LineDocument,
    OverrideDocument,
    PatientHistoryDocument,
    RegimenDocument,
    fields,
    required,
)
from .vocabulary import APHERESIS_STATUSES, JURISDICTIONS, OVERRIDE_REASONS, RESPONSES, STOP_REASONS

__all__ = ["APHERESIS_STATUSES", "JURISDICTIONS", "OVERRIDE_REASONS", "RESPONSES", "STOP_REASONS"]


@attrs.frozen
class SourceRecord:
    """One record a line was read from: the agent it names, the record, and how the name matched."""

    name: str
    resource: str
    matched_by: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "resource": self.resource, "matched_by": dict(self.matched_by)}


@attrs.frozen
class LineOrigin:
    """How a line was formed from records: ``method`` (extension or derived), why, and from what."""

    method: str
    reason: str
    records: tuple[SourceRecord, ...] = ()
    number: int | None = None  # the line of therapy it belongs to (a CAR-T and its bridging share one)


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class Line:
    """One line of therapy: agents given together, first and last dose (``end`` None: no end recorded).

    ``progression`` is the day progression was documented on or after the line (possibly partial);
    refractoriness then follows from it (see :func:`mmsequence.course.line_refractory`), and a
    recorded ``refractory`` flag is the fallback without it and overrides it with it.
    """

    agents: tuple[str, ...]
    start: PartialDate
    end: PartialDate | None = None
    best_response: str | None = None
    stop_reason: str | None = None
    refractory: bool | None = None
    comment: str | None = None
    origin: LineOrigin | None = None
    progression: PartialDate | None = None

    def to_dict(self) -> dict[str, Any]:
        """The line as the document writes it."""
        out: dict[str, Any] = {"agents": list(self.agents), "start": str(self.start)}
        if self.end is not None:
            out["end"] = str(self.end)
        if self.progression is not None:
            out["progression"] = str(self.progression)
        for key in ("best_response", "stop_reason", "refractory", "comment"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@attrs.frozen
class Apheresis:
    """One leukapheresis record for CAR-T manufacturing."""

    status: str
    date: PartialDate | None = None
    product: str | None = None
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        for key in ("date", "product", "comment"):
            if getattr(self, key) is not None:
                out[key] = str(getattr(self, key))
        return out


@attrs.frozen
class Biomarkers:
    bcma_loss: bool | None = None
    gprc5d_loss: bool | None = None
    fcrh5_loss: bool | None = None
    soluble_bcma_ng_ml: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class Override:
    """A clinician's decision to set aside one rule's finding for one candidate."""

    rule: str
    candidate: str
    reason: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class CandidateRegimen:
    """A candidate given as a regimen: its agents as written and, optionally, its name."""

    agents: tuple[str, ...]
    name: str | None = None

    @property
    def query(self) -> str:
        """How the candidate is named in the output: its name, else its agents joined by '+'."""
        return self.name or " + ".join(self.agents)

    def to_dict(self) -> dict[str, Any]:
        return {"agents": list(self.agents), **({"name": self.name} if self.name else {})}


CandidateInput = str | CandidateRegimen
"""A candidate as the input names it: a name (a drug, a regimen's name or abbreviation, or drugs
joined by '+'), or a :class:`CandidateRegimen`."""


def candidate_query(candidate: CandidateInput) -> str:
    """The name a candidate is reported under."""
    return candidate if isinstance(candidate, str) else candidate.query


#: What a history was read from.
FORMATS = ("document", "fhir", "omop")


@attrs.frozen
class PatientHistory:
    """One patient's therapy so far and the candidates to assess; ``warnings`` are the reader's
    (records it could not use), ``format`` what it was read from."""

    patient_id: str
    lines: tuple[Line, ...] = ()
    apheresis: tuple[Apheresis, ...] = ()
    biomarkers: Biomarkers = Biomarkers()
    candidates: tuple[CandidateInput, ...] | None = None
    car_t_eligible: bool | None = None
    jurisdiction: str | None = None
    as_of: datetime.date | None = None
    overrides: tuple[Override, ...] = ()
    comment: str | None = None
    warnings: tuple[str, ...] = ()
    format: str = attrs.field(default="document", validator=attrs.validators.in_(FORMATS))
    #: Drugs the reader found that are not anti-myeloma therapy: (name, role in words, record).
    not_therapy: tuple[tuple[str, str, str], ...] = ()
    #: The records that diagnose multiple myeloma; None where the format says nothing of diagnoses
    #: (a patient-history document is a myeloma history by construction).
    diagnoses: tuple[str, ...] | None = None
    #: The record of the patient's death, where one is recorded ("Patient/p1: deceased 2019-03-01").
    death: str | None = None
    #: Records not used because they say nothing about myeloma therapy, each "record: why" (in full;
    #: ``warnings`` count them by type).
    not_used: tuple[str, ...] = ()

    def line_sources(self) -> list[dict[str, Any]]:
        """How each line read from records (a FHIR Bundle) was formed: method, reason, the records."""
        return [
            {"line": i, "line_of_therapy": line.origin.number, "method": line.origin.method,
             "reason": line.origin.reason, "agents": [record.to_dict() for record in line.origin.records]}
            for i, line in enumerate(self.lines) if line.origin is not None
        ]

    def to_document(self) -> dict[str, Any]:
        """The history as a patient-history document (JSON, version 1) that reads back to it."""
        out: dict[str, Any] = {"patient_id": self.patient_id}
        if self.comment is not None:
            out["comment"] = self.comment
        out["lines"] = [line.to_dict() for line in self.lines]
        if self.apheresis:
            out["apheresis"] = [a.to_dict() for a in self.apheresis]
        if biomarkers := self.biomarkers.to_dict():
            out["biomarkers"] = biomarkers
        for key in ("car_t_eligible", "jurisdiction"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.as_of is not None:
            out["as_of"] = self.as_of.isoformat()
        if self.candidates is not None:
            out["candidates"] = [c if isinstance(c, str) else c.to_dict() for c in self.candidates]
        if self.overrides:
            out["overrides"] = [o.to_dict() for o in self.overrides]
        return out


class _Reader:
    """Collects problems while reading a JSON value, each prefixed by its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, code: str, **values: Any) -> None:
        self.problems.append(Notice(code, path or "document", **values))

    def obj(self, value: Any, path: str, structure: type[msgspec.Struct]) -> dict[str, Any]:
        """The object at ``path``, its fields checked against the structure that declares them."""
        if not isinstance(value, dict):
            self.fail(path, "input.expected-object", type=_type(value))
            return {}
        allowed = fields(structure)
        for key in value:
            if key not in allowed:
                self.fail(_join(path, key), "input.unknown-field")
        for key in required(structure):
            if key not in value:
                self.fail(_join(path, key), "input.required")
        return value

    def text(self, value: Any, path: str, choices: tuple[str, ...] = (), optional: bool = True) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "input.expected-text", value=_show(value))
            return None
        if not _is_unicode(value):
            self.fail(path, "input.not-unicode")
            return None
        if choices and value not in choices:
            self.fail(path, "input.not-one-of", value=value, choices=choices)
            return None
        return value

    def flag(self, value: Any, path: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.fail(path, "input.expected-flag", value=_show(value))
        return None

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value) or value < 0:
            self.fail(path, "input.expected-number", value=_show(value))
            return None
        return float(value)

    def date(self, value: Any, path: str, optional: bool = True) -> PartialDate | None:
        if value is None:
            if not optional:
                self.fail(path, "input.date-required")
            return None
        if not isinstance(value, str):
            self.fail(path, "input.not-a-date", value=_show(value))
            return None
        try:
            return PartialDate.parse(value)
        except ValueError as error:
            if len(str(error)) <= 80:
                self.fail(path, "input.date", problem=str(error))
            else:
                self.fail(path, "input.not-a-date", value=_show(value))
            return None

    def day(self, value: Any, path: str) -> datetime.date | None:
        parsed = self.date(value, path)
        if parsed is not None and parsed.precision != "day":
            self.fail(path, "input.full-date", value=value)
            return None
        return parsed.earliest if parsed else None

    def names(self, value: Any, path: str, allow_empty: bool = False) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(path, "input.expected-names-or-none" if allow_empty else "input.expected-names", value=_show(value))
            return ()
        names = [self.text(item, f"{path}[{i}]", optional=False) for i, item in enumerate(value)]
        return tuple(name.strip() for name in names if name)

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "input.expected-list", type=_type(value))
            return []
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # a value that contains itself, nests too deep, or an int too long
        return _type(value)
    return text if len(text) <= 40 else _type(value)


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate, which JSON's \\udcff escape decodes to and UTF-8 cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False




def _line(r: _Reader, raw: Any, path: str) -> Line | None:
    data = r.obj(raw, path, LineDocument)
    if not data:
        return None
    agents = r.names(data["agents"], f"{path}.agents") if "agents" in data else ()
    start = r.date(data.get("start"), f"{path}.start", optional=False) if "start" in data else None
    end = r.date(data.get("end"), f"{path}.end")
    progression = r.date(data.get("progression"), f"{path}.progression")
    comment = r.text(data.get("comment"), f"{path}.comment")
    if start is None:
        return None
    r.problems += _line_problems(start, end, path, progression)
    return Line(
        agents=agents,
        start=start,
        end=end,
        best_response=r.text(data.get("best_response"), f"{path}.best_response", RESPONSES),
        stop_reason=r.text(data.get("stop_reason"), f"{path}.stop_reason", STOP_REASONS),
        refractory=r.flag(data.get("refractory"), f"{path}.refractory"),
        comment=comment,
        progression=progression,
    )


def _candidates(r: _Reader, value: Any) -> tuple[CandidateInput, ...]:
    """Names, or regimens given as ``{agents: [...], name: ...}`` (at least two agents)."""
    if not isinstance(value, list) or not value:
        r.fail("candidates", "input.expected-candidates", value=_show(value))
        return ()
    found: list[CandidateInput] = []
    for i, item in enumerate(value):
        path = f"candidates[{i}]"
        if not isinstance(item, dict):
            name = r.text(item, path, optional=False)
            if name:
                found.append(name.strip())
            continue
        data = r.obj(item, path, RegimenDocument)
        agents = r.names(data["agents"], f"{path}.agents") if "agents" in data else ()
        if "agents" in data and isinstance(data["agents"], list) and len(data["agents"]) == 1:
            r.fail(f"{path}.agents", "input.regimen-agents")
        name = r.text(data.get("name"), f"{path}.name")
        if len(agents) >= 2:
            found.append(CandidateRegimen(agents, name.strip() if name else None))
    return tuple(found)


def _line_problems(start: PartialDate, end: PartialDate | None, path: str,
                   progression: PartialDate | None = None) -> list[str]:
    problems: list[str] = []
    if end is not None and end.before(start):
        problems.append(Notice("input.end-before-start", f"{path}.end", end=end, start=start))
    if progression is not None and progression.before(start):
        problems.append(Notice("input.progression-before-start", f"{path}.progression", progression=progression,
                               start=start))
    return problems


def _apheresis(r: _Reader, raw: Any, path: str) -> Apheresis | None:
    data = r.obj(raw, path, ApheresisDocument)
    status = r.text(data.get("status"), f"{path}.status", APHERESIS_STATUSES, optional=False)
    date = r.date(data.get("date"), f"{path}.date")
    comment = r.text(data.get("comment"), f"{path}.comment")
    if status in ("done", "failed") and data.get("date") is None:
        r.fail(f"{path}.date", "input.date-required-status", status=status)
    if status is None:
        return None
    return Apheresis(status=status, date=date, product=r.text(data.get("product"), f"{path}.product"), comment=comment)


def _apheresis_order_problems(records: list[tuple[int, Apheresis]]) -> list[str]:
    dated = [(i, a) for i, a in records if a.date is not None]
    return [
        Notice("input.apheresis-order", f"apheresis[{j}].date", date=later.date, earlier=f"apheresis[{i}].date",
               earlier_date=earlier.date)
        for (i, earlier), (j, later) in itertools.pairwise(dated)
        if later.date is not None and earlier.date is not None and later.date.before(earlier.date)
    ]


def consistency_problems(history: PatientHistory) -> list[str]:
    """What makes a history built by a reader other than :func:`parse_document` impossible: a line
    that ends before it starts, apheresis records out of order."""
    problems = [p for i, line in enumerate(history.lines)
                for p in _line_problems(line.start, line.end, f"lines[{i}]", line.progression)]
    return problems + _apheresis_order_problems(list(enumerate(history.apheresis)))


def _overrides(r: _Reader, raw: Any, where: str) -> tuple[Override, ...]:
    overrides = []
    for i, item in enumerate(r.items(raw, where)):
        path = f"{where}[{i}]"
        item = r.obj(item, path, OverrideDocument)
        reason = r.text(item.get("reason"), f"{path}.reason", OVERRIDE_REASONS, optional=False)
        note = r.text(item.get("note"), f"{path}.note")
        if reason == "other" and not note:
            r.fail(f"{path}.note", "input.note-required")
        overrides.append(Override(
            rule=r.text(item.get("rule"), f"{path}.rule", optional=False) or "",
            candidate=r.text(item.get("candidate"), f"{path}.candidate", optional=False) or "",
            reason=reason or "",
            note=note,
        ))
    return tuple(overrides)


def parse_overrides(raw: Any, where: str = "overrides") -> tuple[Override, ...]:
    """Validate a list of ``{rule, candidate, reason, note}`` mappings (reason: a code of OVERRIDE_REASONS)."""
    r = _Reader()
    overrides = _overrides(r, raw, where)
    if r.problems:
        raise InputError(r.problems)
    return overrides


def parse_document(document: Any) -> PatientHistory:
    """Validate a patient-history document (already decoded JSON) into a :class:`PatientHistory`.

    Raises :class:`InputError` listing every problem with its field path.
    """
    r = _Reader()
    data = r.obj(document, "", PatientHistoryDocument)
    if not data:
        raise InputError(r.problems or [Notice("input.empty", "document")])
    if data.get("version", 1) != 1:
        r.fail("version", "input.version", value=_show(data["version"]))
    lines = [_line(r, raw, f"lines[{i}]") for i, raw in enumerate(r.items(data.get("lines"), "lines"))]
    read = [(i, _apheresis(r, raw, f"apheresis[{i}]")) for i, raw in enumerate(r.items(data.get("apheresis"), "apheresis"))]
    records = [(i, a) for i, a in read if a is not None]
    r.problems += _apheresis_order_problems(records)
    bio = r.obj(data.get("biomarkers") or {}, "biomarkers", BiomarkersDocument)
    biomarkers = Biomarkers(
        bcma_loss=r.flag(bio.get("bcma_loss"), "biomarkers.bcma_loss"),
        gprc5d_loss=r.flag(bio.get("gprc5d_loss"), "biomarkers.gprc5d_loss"),
        fcrh5_loss=r.flag(bio.get("fcrh5_loss"), "biomarkers.fcrh5_loss"),
        soluble_bcma_ng_ml=r.number(bio.get("soluble_bcma_ng_ml"), "biomarkers.soluble_bcma_ng_ml"),
    )
    candidates = None
    if data.get("candidates") is not None:
        candidates = _candidates(r, data["candidates"])
    overrides = _overrides(r, data.get("overrides"), "overrides")
    history = PatientHistory(
        patient_id=r.text(data.get("patient_id"), "patient_id", optional=False) or "",
        lines=tuple(line for line in lines if line is not None),
        apheresis=tuple(a for _, a in records),
        biomarkers=biomarkers,
        candidates=candidates,
        car_t_eligible=r.flag(data.get("car_t_eligible"), "car_t_eligible"),
        jurisdiction=r.text(data.get("jurisdiction"), "jurisdiction", JURISDICTIONS),
        as_of=r.day(data.get("as_of"), "as_of"),
        overrides=overrides,
        comment=r.text(data.get("comment"), "comment"),
    )
    if r.problems:
        raise InputError(r.problems)
    return history
