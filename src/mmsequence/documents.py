"""The one input path: a JSON patient-history document or a FHIR Bundle, from a file, text or a
mapping, becomes a :class:`~mmsequence.history.PatientHistory`.

Every command, the service and the library read input here, so that they accept the same inputs
and report the same problems, each naming its file or field.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import msgspec

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


def _plainly_within(value: Any, limits: ReadLimits) -> bool:
    """Whether decoded JSON is plainly within ``limits``; False for any doubt (a value over a limit,
    a type other than JSON's own), which the full check then names."""
    if type(value) not in (dict, list):
        return False
    most, deepest, longest = limits.max_items, limits.max_depth, limits.max_string_chars
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= deepest or len(item) > most:
            return False
        children = item
        if type(item) is dict:
            for key in item:
                if type(key) is not str or len(key) > longest:
                    return False
            children = item.values()
        for child in children:
            kind = type(child)
            if kind is str:
                if len(child) > longest:
                    return False
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind not in (int, float, bool, type(None)):
                return False
    return True


#: A JSON object or array as its members' text, each left undecoded.
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw])


def _text_plainly_within(text: bytes, limits: ReadLimits, depth: int = 0) -> bool:
    """Whether JSON text is plainly within ``limits``, read from the text in C rather than by a walk
    over the decoded value; False for any doubt. A part of the text no longer than twice
    ``max_items`` holds no array or object with more items, nor, no longer than
    ``max_string_chars``, a longer string; larger parts are split into their members until they
    are that small. A part nested ``depth`` deep holds nothing nested ``max_depth`` deep when,
    laid out one element a line, no line of it is indented ``max_depth - depth`` deep (``depth``:
    how deep the text itself is nested in the document)."""
    small = min(2 * limits.max_items, limits.max_string_chars)
    parts: list[tuple[Any, int]] = [(text, depth)]
    while parts:
        part, depth = parts.pop()
        if depth >= limits.max_depth:
            return False
        if len(part) <= small:
            if (b"\n" + b" " * (limits.max_depth - depth)) in msgspec.json.format(part, indent=1):
                return False
            continue
        try:
            members = _MEMBERS.decode(part)
        except msgspec.ValidationError:  # a long scalar: only a string can be over a limit
            value = msgspec.json.decode(part)
            if isinstance(value, str) and len(value) > limits.max_string_chars:
                return False
            continue
        if len(members) > limits.max_items:
            return False
        if isinstance(members, dict) and any(len(key) > limits.max_string_chars for key in members):
            return False
        parts.extend((member, depth + 1) for member in (members.values() if isinstance(members, dict) else members))
    return True


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """No cycle collection meanwhile: decoded JSON holds no cycles, and the collections that the
    many objects of a large document set off take twice as long as decoding it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class NotPlain(ValueError):
    """JSON text that the fast way does not read: it may hold a problem, which the slow way names."""


def plain_part(part: Any, depth: int = 0, limits: ReadLimits = READ_LIMITS) -> Any:
    """A part of JSON text (bytes, or a member as :func:`plain_members` gives it) nested ``depth``
    deep in its document, decoded as :func:`decode_json` decodes the whole; :class:`NotPlain`
    unless it is plainly valid, within ``limits``, and gives no key twice in one object: every
    colon of JSON text outside its strings separates a key from its value, so no key was given
    twice exactly when the text has as many colons as the decoded value written again (text that
    writes a colon as an escape is not plain)."""
    text = bytes(part)
    try:
        if b"\\u003a" not in text and b"\\u003A" not in text:
            value = msgspec.json.decode(text)  # strict JSON: where json.loads decodes it too, the same value
            if text.count(b":") == msgspec.json.encode(value).count(b":") and _text_plainly_within(text, limits, depth):
                return value
    except (ValueError, TypeError, OverflowError, RecursionError, msgspec.MsgspecError):
        pass
    raise NotPlain


def plain_members(part: Any, depth: int = 0, limits: ReadLimits = READ_LIMITS) -> dict[str, Any] | list[Any]:
    """The members of an object or array of JSON text nested ``depth`` deep, each left as text for
    :func:`plain_part` or this function; :class:`NotPlain` unless it is an object or array within
    ``limits`` that gives no key twice (its own members are checked as they are read)."""
    text = bytes(part)
    try:
        members = _MEMBERS.decode(text)
    except (msgspec.MsgspecError, RecursionError):  # text nested thousands deep exhausts the decoder's recursion
        raise NotPlain from None
    if depth >= limits.max_depth or len(members) > limits.max_items or b"\\u003a" in text or b"\\u003A" in text:
        raise NotPlain
    if isinstance(members, dict):
        if any(len(key) > limits.max_string_chars for key in members):
            raise NotPlain
        colons = len(members) + sum(key.count(":") for key in members)
        if text.count(b":") != colons + sum(bytes(member).count(b":") for member in members.values()):
            raise NotPlain
    return members


def check_limits(value: Any, where: str, limits: ReadLimits = READ_LIMITS) -> None:
    """LimitExceeded naming ``where``, the limit and the path of the first value over it (a walk
    with its own stack, so however deep the value, the check itself cannot overflow)."""
    if _plainly_within(value, limits):
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

    The fast way (:func:`plain_part`) decodes without looking at each object's keys and checks the
    limits on the text; whatever it doubts takes the slow way, which checks each object."""
    with contextlib.suppress(NotPlain, UnicodeEncodeError), _collection_paused():
        value = plain_part(text if isinstance(text, bytes) else text.encode("utf-8"), 0, limits)
        if type(value) in (dict, list):
            return value
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
    return decode_json(_file_bytes(path), str(path))


def _file_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputError([Notice("json.unreadable", str(path), why=error.strerror)]) from None


def read_json(text: str | bytes, where: str, catalog: Catalog | None = None) -> PatientHistory:
    """The history in JSON text: a valid patient-history document through the typed fast path,
    anything else (a FHIR Bundle, a document with problems) as :func:`read_document` reads it,
    problems naming ``where``. For many documents (a batch): the fast path's library is loaded on
    first use, which one document alone does not pay back. The text is decoded once, by
    :func:`decode_json` (which refuses a key given twice and holds the limits), and the fast path
    converts what it decoded."""
    from ._fast_read import fast_history

    data = decode_json(text, where)
    return fast_history(data) or read_document(data, catalog)


class _Resource(msgspec.Struct):
    resourceType: Any = msgspec.UNSET


def _names_resource_type(text: bytes) -> bool:
    """Whether JSON text is an object with a ``resourceType``, as :func:`is_fhir` asks of decoded
    JSON (False for text that is not JSON: the slow way names its problem)."""
    try:
        return msgspec.json.decode(text, type=_Resource).resourceType is not msgspec.UNSET
    except (msgspec.MsgspecError, RecursionError):
        return False


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
        text = _file_bytes(source)
        if _names_resource_type(text):  # a FHIR resource: read from the text, holding only what is read
            from .fhir.importer import read_bundle_text

            history = read_bundle_text(text, catalog or load_catalog(), patient_id=patient_id, candidates=candidates,
                                       observations=observations)
            if history is not None:
                return history
        data, plain = decode_json(text, str(source)), True
    else:
        data, plain = source, _plainly_within(source, READ_LIMITS)
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
