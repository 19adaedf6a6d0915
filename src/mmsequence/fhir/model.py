"""Validation of a FHIR R4B Bundle with fhir.resources, reported as InputError field paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InputError, MmsequenceError, missing_extra


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
