"""Validation of a FHIR R4B Bundle with fhir.resources, reported as InputError field paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InputError, missing_extra
from ..notices import Notice


def _path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "bundle"


def completeness_problems(document: Mapping[str, Any]) -> list[str]:
    """Why a Bundle may not hold the whole record: ``entry`` not a list of entries with a resource,
    or a ``next`` page that was not read (a searchset is paged). Data left out is a data problem,
    never silently dropped."""
    entries = document.get("entry", [])
    if not isinstance(entries, list):
        return [f"bundle.entry: expected a list of entries, got {type(entries).__name__}; the record cannot be read whole"]
    problems = [f"entry[{i}]: expected an entry with a resource, got {type(e).__name__}"
                for i, e in enumerate(entries) if not isinstance(e, Mapping)]
    links = document.get("link", [])
    for i, link in enumerate(links if isinstance(links, list) else []):
        if isinstance(link, Mapping) and link.get("relation") == "next":
            problems.append(f"bundle.link[{i}]: a next page ({link.get('url')}) was not read; the record is incomplete"
                            " (read every page and pass them as one Bundle)")
    return problems


#: Resource types that may say something about myeloma therapy, TCRT exposure, apheresis, the
#: diagnosis or progression: a defect in one refuses the record.
RELEVANT_TYPES = frozenset({"Patient", "Medication", "MedicationAdministration", "MedicationStatement",
                            "MedicationRequest", "Procedure", "ServiceRequest", "CarePlan", "Condition", "Observation"})


def read_leniently(document: Any, harmless: Callable[[Mapping[str, Any]], bool] = lambda _: False) -> tuple[Any, list[Notice]]:
    """The Bundle as a model, and a note for each invalid resource left out because it cannot say
    anything about myeloma therapy: a type that cannot (a NutritionOrder without ``intent``), or a
    resource ``harmless`` says cannot (a drug that is not anti-myeloma therapy). Any other invalid
    resource (:data:`RELEVANT_TYPES`) refuses the record: InputError naming the field."""
    try:
        return validate_bundle(document), []
    except InputError as error:
        entries = document.get("entry") if isinstance(document, Mapping) else None
        if not isinstance(entries, list):
            raise
        found = [(problem, _entry_index(problem)) for problem in error.problems]
        kinds = {i: _kind(entries[i]) for _, i in found if i is not None and i < len(entries)}
        if any(i is None or not _is_fhir_type(kinds.get(i))
               or (kinds.get(i) in RELEVANT_TYPES and not harmless(entries[i]["resource"])) for _, i in found):
            raise  # a resource that may bear on myeloma, or no known type at all (a misspelt one may be either)
        kept = {**document, "entry": [e for i, e in enumerate(entries) if i not in kinds]}
        notes = [Notice("fhir.left-out", f"entry[{i}] ({kinds[i]})", why=problem.split(': ', 1)[-1])
                 for problem, i in found if i is not None]
        return validate_bundle(kept), list(dict.fromkeys(notes))


def _entry_index(problem: str) -> int | None:
    found = re.match(r"entry\[(\d+)\]", problem)
    return int(found.group(1)) if found else None


def _is_fhir_type(kind: str | None) -> bool:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(kind or "")
    except (KeyError, ValueError, TypeError):
        return False
    return True


def _kind(entry: Any) -> str | None:
    resource = entry.get("resource") if isinstance(entry, Mapping) else None
    kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
    return kind if isinstance(kind, str) else None


def validate_bundle(document: Any) -> Any:
    """The Bundle as a ``fhir.resources.R4B`` model; InputError naming each invalid field."""
    try:
        from fhir.resources.R4B import get_fhir_model_class
        from fhir.resources.R4B.bundle import Bundle
        from pydantic import ValidationError
    except ImportError as error:
        raise missing_extra("reading FHIR", "fhir", error.name) from None
    if not isinstance(document, Mapping) or document.get("resourceType") != "Bundle":
        found = document.get("resourceType") if isinstance(document, Mapping) else None
        raise InputError([f"resourceType: expected 'Bundle', got {found!r}"])
    problems = completeness_problems(document)
    if problems:
        raise InputError(problems)
    for i, entry in enumerate(document.get("entry") or ()):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
        try:
            get_fhir_model_class(kind)
        except (KeyError, ValueError, TypeError):
            problems.append(f"entry[{i}].resource.resourceType: {kind!r} is not a FHIR R4B resource type")
    if problems:
        raise InputError(problems)
    try:
        return Bundle.model_validate(document)
    except ValidationError as error:
        raise InputError([
            f"{_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()
        ]) from None
    except (KeyError, ValueError) as error:  # a contained resource of an unknown type
        raise InputError([f"bundle: not a valid FHIR R4B Bundle ({error})"]) from None
