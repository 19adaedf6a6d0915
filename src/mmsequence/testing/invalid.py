"""Hypothesis strategies for bad input: invalid patient documents, and bad files for the command line.

Each mutation turns a valid generated document into an invalid one of one class: a wrong
type, a bad date, an impossible date, an unknown field, a missing field, huge input, deep
nesting, text that is not valid Unicode, or a document that is not an object. mmsequence
must answer every one with :class:`~mmsequence.errors.InputError`, and nothing else.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st

from .strategies import patient_histories

Path = tuple[Any, ...]
"""Keys from the document down to a field: ("lines", 0, "start")."""

#: Values each kind of field must reject (None only where the field is required).
WRONG: dict[str, list[Any]] = {
    "text": [None, 0, 1.5, True, [], {}, "", "   "],
    "text?": [0, True, [], {"a": 1}, "", " "],
    "list": ["lines", 0, {}, True],
    "list?": ["x", 0, {}, True],
    "names": [None, "teclistamab", [], [""], [0], {}, 0],
    "names?": ["teclistamab", [], [""], [None], {}, 0],
    "date": [None, 0, 20250105, True, [], {}, "yesterday"],
    "date?": [0, 20250105, True, [], {}, "yesterday"],
    "day?": [0, "2026-06", "2026", [], True, "today"],
    "flag": ["yes", 1, 0, "true", [], {}],
    "choice?": ["excellent", 0, True, "", []],
    "status": [None, "booked", 0, True, ""],
    "number?": ["high", True, -1, float("nan"), float("inf"), 10**400, [], {}],
    "object?": ["x", 5, [1], True],
    "version": [2, "1", None, 0],
}
DOCUMENT_FIELDS = {
    "patient_id": "text", "lines": "list", "apheresis": "list?", "biomarkers": "object?", "candidates": "names?",
    "car_t_eligible": "flag", "jurisdiction": "choice?", "as_of": "day?", "overrides": "list?", "comment": "text?",
    "version": "version",
}
LINE_FIELDS = {"agents": "names", "start": "date", "end": "date?", "best_response": "choice?",
               "stop_reason": "choice?", "refractory": "flag", "comment": "text?"}
APHERESIS_FIELDS = {"status": "status", "date": "date?", "product": "text?", "comment": "text?"}
BIOMARKER_FIELDS = {"bcma_loss": "flag", "gprc5d_loss": "flag", "fcrh5_loss": "flag", "soluble_bcma_ng_ml": "number?"}
BAD_DATES = ("2025-13-01", "2025-02-30", "2025-00-10", "2025-1-5", "20250105", "2025/01/05", "05/01/2025", "",
             " 2025-01-05", "2025-01-05T10:00", "1899-12-31", "2200-01-01", "２０２５-01-05", "2025-W01", "-2025")
NOT_UNICODE = ("\udcff", "tec\ud800listamab", b"\xff\xfe", "GEN-\udc80")
_ONE_DAY = datetime.timedelta(days=1)


def _put(document: dict[str, Any], path: Path, value: Any) -> None:
    """Set a field, creating the objects on the way (biomarkers)."""
    target = document
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else target[key]
    target[path[-1]] = value


def _fields(document: dict[str, Any]) -> list[tuple[Path, str]]:
    """(path, kind) of every field this document could hold, its list items included."""
    fields: list[tuple[Path, str]] = [((key,), kind) for key, kind in DOCUMENT_FIELDS.items()]
    for i in range(len(document["lines"])):
        fields += [(("lines", i, key), kind) for key, kind in LINE_FIELDS.items()]
    for i in range(len(document.get("apheresis") or ())):
        fields += [(("apheresis", i, key), kind) for key, kind in APHERESIS_FIELDS.items()]
    return fields + [(("biomarkers", key), kind) for key, kind in BIOMARKER_FIELDS.items()]


def _dates(document: dict[str, Any]) -> list[Path]:
    return [path for path, kind in _fields(document) if kind in ("date", "date?", "day?")]


def wrong_type(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A field holds a value of the wrong type, or a choice outside its list."""
    path, kind = draw(st.sampled_from(_fields(document)))
    _put(document, path, draw(st.sampled_from(WRONG[kind])))
    return document


def bad_date(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A date holds text that is no date: an impossible month or day, another format, a year out of range."""
    _put(document, draw(st.sampled_from(_dates(document))), draw(st.sampled_from(BAD_DATES)))
    return document


def impossible_date(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """Real dates that cannot be: an end before its start, a dose or collection after as_of, a
    CAR-T infused over several days, apheresis records out of order, an as_of without its day."""
    as_of = datetime.date.fromisoformat(document["as_of"])
    i = draw(st.integers(0, len(document["lines"]) - 1))
    days = draw(st.integers(1, 400)) * _ONE_DAY
    case = draw(st.sampled_from(["end-before-start", "after-as-of", "car-t-span", "apheresis-order",
                                 "collected-later", "as-of-month"]))
    if case == "end-before-start":
        document["lines"][i].update(start=str(as_of - _ONE_DAY), end=str(as_of - _ONE_DAY - days))
    elif case == "after-as-of":
        document["lines"][i].update(start=str(as_of + days), end=str(as_of + days))
    elif case == "car-t-span":
        document["lines"].append({"agents": ["cilta-cel"], "start": str(as_of - days), "end": str(as_of)})
    elif case == "apheresis-order":
        document["apheresis"] = [{"status": "failed", "date": str(as_of)}, {"status": "planned", "date": str(as_of - days)}]
    elif case == "collected-later":
        document["apheresis"] = [{"status": "done", "date": str(as_of + days)}]
    else:
        document["as_of"] = document["as_of"][:7]
    return document


def unknown_field(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A field version 1 does not define: a typo, a case change, or any other name."""
    where = draw(st.sampled_from([(), ("lines", 0), ("biomarkers",), *((("apheresis", 0),) if document.get("apheresis") else ())]))
    known = {"": DOCUMENT_FIELDS, "lines": LINE_FIELDS, "apheresis": APHERESIS_FIELDS, "biomarkers": BIOMARKER_FIELDS}
    allowed = {*known[where[0] if where else ""], "comment"}
    name = draw(st.one_of(st.sampled_from(["agnets", "Lines", "asOf", "dose", "patientId"]), st.text(max_size=12))
                .filter(lambda key: key not in allowed))
    _put(document, (*where, name), draw(st.sampled_from([1, "x", None, [], {}])))
    return document


def missing_field(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A required field is absent: patient_id, lines, a line's agents or start, a record's status,
    or (null) the date of a collection that was done."""
    case = draw(st.sampled_from(["patient_id", "lines", "agents", "start", "status", "done-date"]))
    if case in ("patient_id", "lines"):
        del document[case]
    elif case in ("agents", "start"):
        del document["lines"][draw(st.integers(0, len(document["lines"]) - 1))][case]
    else:
        record = {"date": document["as_of"]} if case == "status" else {"status": "done", "date": None}
        document["apheresis"] = [*(document.get("apheresis") or ()), record]
    return document


def huge(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """Large input: thousands of lines with one bad date, a megabyte where a date belongs,
    thousands of unknown fields, or a number with hundreds of digits."""
    size = draw(st.integers(1000, 5000))
    case = draw(st.sampled_from(["lines", "long-date", "fields", "digits"]))
    if case == "lines":
        lines = [dict(document["lines"][0]) for _ in range(size)]
        lines[draw(st.integers(0, size - 1))]["start"] = "2025-13-01"
        document["lines"] = lines
    elif case == "long-date":
        _put(document, draw(st.sampled_from(_dates(document))), "2025-01-01" * (size * 100))
    elif case == "fields":
        document.update({f"field{n}": n for n in range(size)})
    else:
        _put(document, ("biomarkers", "soluble_bcma_ng_ml"), 10 ** (309 + size // 10))  # beyond any float
    return document


class _Nested(list[Any]):
    """A list nested ``depth`` deep (or holding itself), shown briefly: Hypothesis's report of a
    failing example would otherwise overflow the stack printing it."""

    def __init__(self, depth: int) -> None:
        inner: list[Any] = []
        for _ in range(depth - 1):
            inner = [inner]
        super().__init__([inner] if depth else [self])
        self.depth = depth

    def __repr__(self) -> str:
        return f"<a list nested {self.depth} deep>" if self.depth else "<a list that holds itself>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def deeply_nested(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """A field holds lists nested hundreds to thousands deep, or a list that holds itself."""
    path, _ = draw(st.sampled_from(_fields(document)))
    _put(document, path, _Nested(draw(st.one_of(st.integers(100, 5000), st.just(0)))))
    return document


def not_unicode(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """Text that is not valid Unicode: a lone surrogate (what a JSON escape such as \\udcff decodes
    to) or raw bytes, where a name, an id or a note belongs."""
    paths: list[Path] = [("patient_id",), ("lines", 0, "agents", 0), ("comment",), ("candidates", 0)]
    path = draw(st.sampled_from(paths))
    if path[0] == "candidates":
        document["candidates"] = list(document.get("candidates") or ["talquetamab"])
    _put(document, path, draw(st.sampled_from(NOT_UNICODE)))
    return document


def not_an_object(draw: st.DrawFn, document: dict[str, Any]) -> Any:
    """The document is not a JSON object: a list, a string, a number, a boolean, null, or empty."""
    return draw(st.sampled_from([[], [document], "document", 0, 1.5, True, None, {}]))


MUTATIONS: tuple[Callable[[st.DrawFn, dict[str, Any]], Any], ...] = (
    wrong_type, bad_date, impossible_date, unknown_field, missing_field, huge, deeply_nested, not_unicode, not_an_object,
)


@st.composite
def _invalid(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> Any:
    document = draw(base)
    return draw(st.sampled_from(MUTATIONS))(draw, document)


def invalid_documents(base: st.SearchStrategy[dict[str, Any]] | None = None) -> st.SearchStrategy[Any]:
    """Invalid documents, each a valid one from ``base`` (default: small generated histories)
    broken by one mutation of :data:`MUTATIONS`."""
    return _invalid(base or patient_histories(lines=(1, 3), partial_dates=0.0))


def _as_json(document: Any) -> bytes | None:
    try:
        return json.dumps(document).encode("ascii")
    except (TypeError, ValueError, RecursionError):  # bytes, a list that contains itself, too deep or too long
        return None


def invalid_files() -> st.SearchStrategy[bytes]:
    """Bytes of a bad file for ``mmsequence evaluate``: an invalid document as JSON, truncated
    JSON, other encodings, random bytes, JSON nested too deep, or an integer too long to read."""
    valid = patient_histories(lines=(1, 2))
    return st.one_of(
        invalid_documents().map(_as_json).filter(lambda b: b is not None),
        st.tuples(valid.map(lambda d: json.dumps(d).encode()), st.floats(0, 0.99)).map(lambda p: p[0][: int(len(p[0]) * p[1])]),
        valid.map(lambda d: json.dumps({**d, "comment": "réfractaire"}, ensure_ascii=False).encode("latin-1", "replace")),
        valid.map(lambda d: json.dumps(d).encode("utf-16")),
        st.binary(max_size=64),
        st.integers(1000, 100_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(4301, 20_000).map(lambda n: b'{"patient_id": "x", "lines": [], "biomarkers": {"soluble_bcma_ng_ml": '
                                      + b"9" * n + b"}}"),
    )
