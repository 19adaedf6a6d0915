"""The one input path: a JSON patient-history document or a FHIR Bundle, from a file, text or a
mapping, becomes a :class:`~mmsequence.history.PatientHistory`.

Every command, the service and the library read input here, so that they accept the same inputs
and report the same problems, each naming its file or field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .catalog import Catalog, load_catalog
from .errors import InputError
from .history import PatientHistory, parse_document
from .notices import Notice


@attrs.frozen
class ReadLimits:
    """How large a document may be, checked on the decoded JSON before any model reads it: a FHIR
    extension nested hundreds of levels deep exhausts the validator's recursion, and a million
    entries its memory. Real records stay far inside (a FHIR resource nests about 15 levels)."""

    max_depth: int = 64
    max_items: int = 100_000
    max_string_chars: int = 1_000_000


READ_LIMITS = ReadLimits()


class LimitExceeded(InputError):
    """A document over one of the :class:`ReadLimits`; ``limit`` names which (``max_depth``,
    ``max_items``, ``max_string_chars``)."""

    def __init__(self, problem: str, limit: str) -> None:
        super().__init__([problem])
        self.limit = limit


def _path(link: tuple[Any, ...] | None) -> str:
    """The field path of a linked chain of keys, its middle elided when it is long (a problem stays one short line)."""
    keys: list[str | int] = []
    while link is not None:
        link, key = link
        keys.append(key if isinstance(key, int) else key[:40] + ("…" if len(key) > 40 else ""))
    keys.reverse()
    parts = [f"[{key}]" if isinstance(key, int) else f".{key}" for key in keys]
    if len(parts) > 8:
        parts = [*parts[:4], "…", *parts[-3:]]
    return "".join(parts).removeprefix(".") or "(top level)"


def _plainly_within(value: Any, limits: ReadLimits) -> tuple[int, int] | None:
    """(keys, colons in keys and strings) of decoded JSON plainly within ``limits``; None for any
    doubt (a value over a limit, a type other than JSON's own), which the full check then names."""
    if type(value) not in (dict, list):
        return None
    keys = colons = 0
    most, deepest, longest = limits.max_items, limits.max_depth, limits.max_string_chars
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= deepest or len(item) > most:
            return None
        children = item
        if type(item) is dict:
            keys += len(item)
            for key in item:
                if type(key) is not str or len(key) > longest:
                    return None
                colons += key.count(":")
            children = item.values()
        for child in children:
            kind = type(child)
            if kind is str:
                if len(child) > longest:
                    return None
                colons += child.count(":")
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind not in (int, float, bool, type(None)):
                return None
    return keys, colons


def check_limits(value: Any, where: str, limits: ReadLimits = READ_LIMITS) -> None:
    """LimitExceeded naming ``where``, the limit and the path of the first value over it (a walk
    with its own stack, so however deep the value, the check itself cannot overflow)."""
    if _plainly_within(value, limits) is not None:
        return
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 0, None)]
    while stack:
        item, depth, link = stack.pop()
        if isinstance(item, str):
            if len(item) > limits.max_string_chars:
                raise LimitExceeded(f"{where}: {_path(link)}: a string longer than {limits.max_string_chars:,}"
                                    " characters (limit max_string_chars)", "max_string_chars")
            continue
        if not isinstance(item, (dict, list)):
            continue
        if depth >= limits.max_depth:
            raise LimitExceeded(f"{where}: {_path(link)}: nested deeper than {limits.max_depth} levels"
                                " (limit max_depth)", "max_depth")
        if len(item) > limits.max_items:
            raise LimitExceeded(f"{where}: {_path(link)}: more than {limits.max_items:,} items"
                                " (limit max_items)", "max_items")
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and len(key) > limits.max_string_chars:
                    raise LimitExceeded(f"{where}: {_path(link)}: a key longer than {limits.max_string_chars:,}"
                                        " characters (limit max_string_chars)", "max_string_chars")
                stack.append((child, depth + 1, (link, key)))
        else:
            stack.extend((child, depth + 1, (link, i)) for i, child in enumerate(item))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of decoded JSON whose keys are each given once (a key given twice is ambiguous:
    which ``car_t_eligible`` did the sender mean?)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return value


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def decode_json(text: str | bytes, where: str, limits: ReadLimits = READ_LIMITS) -> Any:
    """Decoded JSON within ``limits``; an :class:`InputError` naming ``where`` for text that is not
    UTF-8 JSON (including integers too long to read, nesting too deep and a key given twice in one
    object), a :class:`LimitExceeded` for JSON over a limit.

    The fast way decodes without looking at each object's keys: every colon of JSON text outside
    its strings separates a key from its value, so no key was given twice exactly when the text's
    colons, less those its keys and strings hold, are as many as the keys decoded (text that
    writes a colon as an escape takes the slow way, which checks each object)."""
    try:
        plain = text.decode("utf-8") if isinstance(text, bytes) else text
        if "\\u003a" not in plain and "\\u003A" not in plain:
            value = json.loads(plain)
            counted = _plainly_within(value, limits)
            if counted is not None and plain.count(":") - counted[1] == counted[0]:
                return value
    except (ValueError, RecursionError):
        pass  # the slow way says what is wrong
    try:
        value = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise InputError([Notice("json.duplicate-key", where, key=error.key)]) from None
    except UnicodeDecodeError as error:
        raise InputError([Notice("json.not-utf-8", where, byte=error.start)]) from None
    except json.JSONDecodeError as error:
        raise InputError([Notice("json.invalid-at", where, line=error.lineno, column=error.colno, why=error.msg)]) from None
    except ValueError as error:  # an integer too long to read
        raise InputError([Notice("json.invalid", where, why=str(error))]) from None
    except RecursionError:
        raise LimitExceeded(f"{where}: nested deeper than {limits.max_depth} levels (limit max_depth)",
                            "max_depth") from None
    check_limits(value, where, limits)
    return value


def load_json(path: str | Path) -> Any:
    """A UTF-8 JSON file, decoded; problems name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError([Notice("json.unreadable", str(path), why=error.strerror)]) from None
    return decode_json(raw, str(path))


def read_json(text: str | bytes, where: str, catalog: Catalog | None = None) -> PatientHistory:
    """The history in JSON text: a valid patient-history document through the typed fast path,
    anything else (a FHIR Bundle, a document with problems) as :func:`read_document` reads it,
    problems naming ``where``. For many documents (a batch): the fast path's library is loaded on
    first use, which one document alone does not pay back. The text is decoded here first all the
    same: the fast path would take a key given twice silently, and the limits hold for both paths."""
    from ._fast_read import fast_history

    data = decode_json(text, where)
    return fast_history(text) or read_document(data, catalog)


def is_fhir(data: Any) -> bool:
    """Whether decoded JSON is a FHIR resource (it has ``resourceType``) rather than our own document."""
    return isinstance(data, Mapping) and "resourceType" in data


def read_document(
    source: Any,
    catalog: Catalog | None = None,
    *,
    patient_id: str | None = None,
    candidates: list[str] | None = None,
    observations: Mapping[str, tuple[str, ...]] | None = None,
) -> PatientHistory:
    """The history in ``source``: a :class:`PatientHistory` (returned as is), a path to a JSON
    file, or decoded JSON; a patient-history document or a FHIR R4 Bundle (``fhir`` extra).

    ``catalog`` names the drugs of a FHIR Bundle (default: the shipped catalog; pass the policy's,
    as :meth:`mmsequence.Evaluator.read` does). ``patient_id`` and ``candidates`` apply to FHIR
    Bundles, which carry neither; ``observations`` are the site's Observation codes (the policy's). Raises :class:`InputError` naming each problem's field.
    """
    if isinstance(source, PatientHistory):
        return source
    if isinstance(source, (str, Path)):
        data, plain = load_json(source), True
    else:
        data, plain = source, _plainly_within(source, READ_LIMITS) is not None
        if not plain:
            check_limits(data, "document")
    if is_fhir(data):
        from .fhir.importer import read_bundle

        return read_bundle(data, catalog or load_catalog(), patient_id=patient_id, candidates=candidates,
                           observations=observations)
    if plain:  # JSON's own types within the limits: a valid document takes the typed fast path
        from ._fast_read import fast_history

        history = fast_history(data)
        if history is not None:
            return history
    return parse_document(data)
