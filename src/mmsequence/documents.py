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

from .catalog import Catalog, load_catalog
from .errors import InputError
from .history import PatientHistory, parse_document


def decode_json(text: str | bytes, where: str) -> Any:
    """Decoded JSON; an :class:`InputError` naming ``where`` for text that is not UTF-8 JSON
    (including integers too long to read and nesting too deep)."""
    try:
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except UnicodeDecodeError as error:
        raise InputError([f"{where}: is not UTF-8 (byte {error.start})"]) from None
    except json.JSONDecodeError as error:
        raise InputError([f"{where}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]) from None
    except ValueError as error:  # an integer too long to read
        raise InputError([f"{where}: invalid JSON ({error})"]) from None
    except RecursionError:
        raise InputError([f"{where}: JSON nested too deeply"]) from None


def load_json(path: str | Path) -> Any:
    """A UTF-8 JSON file, decoded; problems name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    return decode_json(raw, str(path))


def read_json(text: str | bytes, where: str, catalog: Catalog | None = None) -> PatientHistory:
    """The history in JSON text: a valid patient-history document through the typed fast path,
    anything else (a FHIR Bundle, a document with problems) as :func:`read_document` reads it,
    problems naming ``where``. For many documents (a batch): the fast path's library is loaded on
    first use, which one document alone does not pay back."""
    from ._fast_read import fast_history

    return fast_history(text) or read_document(decode_json(text, where), catalog)


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
    data = load_json(source) if isinstance(source, (str, Path)) else source
    if is_fhir(data):
        from .fhir.importer import read_bundle

        return read_bundle(data, catalog or load_catalog(), patient_id=patient_id, candidates=candidates,
                           observations=observations)
    return parse_document(data)
