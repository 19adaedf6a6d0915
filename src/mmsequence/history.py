"""The patient-history document (JSON, version 1): attrs model, parsing and validation.

Everything downstream trusts a :class:`PatientHistory`; all checks of the document happen
here, and every problem is reported with its field path (``lines[2].end``).
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import attrs

from .dates import PartialDate
from .errors import InputError

STOP_REASONS = ("progression", "toxicity", "completed", "patient-choice", "other")
RESPONSES = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")
APHERESIS_STATUSES = ("planned", "done", "failed", "cancelled")
JURISDICTIONS = ("US", "EU")
OVERRIDE_REASONS = ("rapid-progression", "no-alternative", "trial-enrolment", "patient-preference", "other")


@attrs.frozen
class Line:
    """One line of therapy: agents given together, first and last dose (``end`` None: ongoing)."""

    agents: tuple[str, ...]
    start: PartialDate
    end: PartialDate | None = None
    best_response: str | None = None
    stop_reason: str | None = None
    refractory: bool | None = None

    @property
    def ongoing(self) -> bool:
        return self.end is None


@attrs.frozen
class Apheresis:
    """One leukapheresis record for CAR-T manufacturing."""

    status: str
    date: PartialDate | None = None
    product: str | None = None


@attrs.frozen
class Biomarkers:
    bcma_loss: bool | None = None
    gprc5d_loss: bool | None = None
    fcrh5_loss: bool | None = None
    soluble_bcma_ng_ml: float | None = None


@attrs.frozen
class Override:
    """A clinician's decision to set aside one rule's finding for one candidate."""

    rule: str
    candidate: str
    reason: str
    note: str | None = None


@attrs.frozen
class PatientHistory:
    patient_id: str
    lines: tuple[Line, ...] = ()
    apheresis: tuple[Apheresis, ...] = ()
    biomarkers: Biomarkers = Biomarkers()
    candidates: tuple[str, ...] | None = None
    car_t_eligible: bool | None = None
    jurisdiction: str | None = None
    as_of: datetime.date | None = None
    overrides: tuple[Override, ...] = ()
    comment: str | None = None


class _Reader:
    """Collects problems while reading a JSON value, each prefixed by its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'document'}: {message}")

    def obj(self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {_type(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(_join(path, key), "unknown field")
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "is required")
        return value

    def text(self, value: Any, path: str, choices: tuple[str, ...] = (), optional: bool = True) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {_show(value)}")
            return None
        if not _is_unicode(value):
            self.fail(path, "is not valid Unicode text (it holds a lone surrogate)")
            return None
        if choices and value not in choices:
            self.fail(path, f"{value!r} is not one of {', '.join(choices)}")
            return None
        return value

    def flag(self, value: Any, path: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.fail(path, f"expected true, false or null, got {_show(value)}")
        return None

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value) or value < 0:
            self.fail(path, f"expected a non-negative number, got {_show(value)}")
            return None
        return float(value)

    def date(self, value: Any, path: str, optional: bool = True) -> PartialDate | None:
        if value is None:
            if not optional:
                self.fail(path, "is required (a date, not null)")
            return None
        if not isinstance(value, str):
            self.fail(path, f"{_show(value)} is not a date")
            return None
        try:
            return PartialDate.parse(value)
        except ValueError as error:
            self.fail(path, str(error) if len(str(error)) <= 80 else f"{_show(value)} is not a date")
            return None

    def day(self, value: Any, path: str) -> datetime.date | None:
        parsed = self.date(value, path)
        if parsed is not None and parsed.precision != "day":
            self.fail(path, f"{value!r} must be a full date (YYYY-MM-DD)")
            return None
        return parsed.earliest if parsed else None

    def names(self, value: Any, path: str, allow_empty: bool = False) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(path, f"expected a {'' if allow_empty else 'non-empty '}list of names, got {_show(value)}")
            return ()
        names = [self.text(item, f"{path}[{i}]", optional=False) for i, item in enumerate(value)]
        return tuple(name.strip() for name in names if name)

    def items(self, value: Any, path: str) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_type(value)}")
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


_DOCUMENT_FIELDS = (
    "patient_id", "lines", "apheresis", "biomarkers", "candidates", "car_t_eligible",
    "jurisdiction", "as_of", "overrides", "comment", "version",
)
_LINE_FIELDS = ("agents", "start", "end", "best_response", "stop_reason", "refractory", "comment")
_APHERESIS_FIELDS = ("status", "date", "product", "comment")
_BIOMARKER_FIELDS = ("bcma_loss", "gprc5d_loss", "fcrh5_loss", "soluble_bcma_ng_ml")
_OVERRIDE_FIELDS = ("rule", "candidate", "reason", "note")


def _line(r: _Reader, raw: Any, path: str) -> Line | None:
    data = r.obj(raw, path, _LINE_FIELDS, required=("agents", "start"))
    if not data:
        return None
    agents = r.names(data["agents"], f"{path}.agents") if "agents" in data else ()
    start = r.date(data.get("start"), f"{path}.start", optional=False) if "start" in data else None
    end = r.date(data.get("end"), f"{path}.end")
    r.text(data.get("comment"), f"{path}.comment")
    if start is not None and end is not None and end.before(start):
        r.fail(f"{path}.end", f"'{end}' is before start '{start}'")
    line = Line(
        agents=agents,
        start=start,
        end=end,
        best_response=r.text(data.get("best_response"), f"{path}.best_response", RESPONSES),
        stop_reason=r.text(data.get("stop_reason"), f"{path}.stop_reason", STOP_REASONS),
        refractory=r.flag(data.get("refractory"), f"{path}.refractory"),
    ) if start is not None else None
    return line


def _apheresis(r: _Reader, raw: Any, path: str) -> Apheresis | None:
    data = r.obj(raw, path, _APHERESIS_FIELDS, required=("status",))
    status = r.text(data.get("status"), f"{path}.status", APHERESIS_STATUSES, optional=False)
    date = r.date(data.get("date"), f"{path}.date")
    r.text(data.get("comment"), f"{path}.comment")
    if status in ("done", "failed") and data.get("date") is None:
        r.fail(f"{path}.date", f"is required when status is {status!r}")
    if status is None:
        return None
    return Apheresis(status=status, date=date, product=r.text(data.get("product"), f"{path}.product"))


def _check_apheresis_order(r: _Reader, records: list[tuple[int, Apheresis]]) -> None:
    dated = [(i, a) for i, a in records if a.date is not None]
    for (i, earlier), (j, later) in zip(dated, dated[1:]):
        if later.date.before(earlier.date):
            r.fail(f"apheresis[{j}].date", f"'{later.date}' is before apheresis[{i}].date '{earlier.date}'"
                   " (records are listed in the order they happened)")


def _overrides(r: _Reader, raw: Any, where: str) -> tuple[Override, ...]:
    overrides = []
    for i, item in enumerate(r.items(raw, where)):
        path = f"{where}[{i}]"
        item = r.obj(item, path, _OVERRIDE_FIELDS, required=("rule", "candidate", "reason"))
        reason = r.text(item.get("reason"), f"{path}.reason", OVERRIDE_REASONS, optional=False)
        note = r.text(item.get("note"), f"{path}.note")
        if reason == "other" and not note:
            r.fail(f"{path}.note", "is required when reason is 'other'")
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
    data = r.obj(document, "", _DOCUMENT_FIELDS, required=("patient_id", "lines"))
    if not data:
        raise InputError(r.problems or ["document: is empty"])
    if data.get("version", 1) != 1:
        r.fail("version", f"{_show(data['version'])} is not a supported version (1)")
    lines = [_line(r, raw, f"lines[{i}]") for i, raw in enumerate(r.items(data.get("lines"), "lines"))]
    records = [(i, _apheresis(r, raw, f"apheresis[{i}]")) for i, raw in enumerate(r.items(data.get("apheresis"), "apheresis"))]
    records = [(i, a) for i, a in records if a is not None]
    _check_apheresis_order(r, records)
    bio = r.obj(data.get("biomarkers") or {}, "biomarkers", _BIOMARKER_FIELDS)
    biomarkers = Biomarkers(
        bcma_loss=r.flag(bio.get("bcma_loss"), "biomarkers.bcma_loss"),
        gprc5d_loss=r.flag(bio.get("gprc5d_loss"), "biomarkers.gprc5d_loss"),
        fcrh5_loss=r.flag(bio.get("fcrh5_loss"), "biomarkers.fcrh5_loss"),
        soluble_bcma_ng_ml=r.number(bio.get("soluble_bcma_ng_ml"), "biomarkers.soluble_bcma_ng_ml"),
    )
    candidates = None
    if data.get("candidates") is not None:
        candidates = r.names(data["candidates"], "candidates")
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


def read_document(source: Any) -> Any:
    """Decode a document given as a path to a UTF-8 JSON file; any other value is returned as is."""
    if not isinstance(source, (str, Path)):
        return source
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError([f"{path}: is not UTF-8 (byte {error.start})"]) from None
    except json.JSONDecodeError as error:
        raise InputError([f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]) from None
    except ValueError as error:  # an integer too long to read
        raise InputError([f"{path}: invalid JSON ({error})"]) from None
    except RecursionError:
        raise InputError([f"{path}: JSON nested too deeply"]) from None
