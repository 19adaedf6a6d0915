"""Validation of a FHIR R4B Bundle with fhir.resources, reported as InputError field paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..documents import NotPlain, plain_members, plain_part
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


@attrs.frozen
class Reference:
    """The ``reference`` of a Reference element as the record gives it."""

    reference: str | None


@attrs.frozen
class Unread:
    """A resource left unread because it cannot bear on what mmsequence reads: its type, id and
    subject as the record gives them, and why it is not used (a notice code and its values). Not
    validated: nothing is taken from it."""

    kind: str
    id: str | None
    subject: Reference | None
    why: str
    values: Mapping[str, Any] = attrs.field(factory=dict)

    def get_resource_type(self) -> str:
        return self.kind

    @classmethod
    def of(cls, resource: Mapping[str, Any], why: str, **values: Any) -> Unread:
        subject = resource.get("subject")
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        kind, identifier = resource["resourceType"], resource.get("id")
        return cls(kind, identifier if isinstance(identifier, str) else None,
                   Reference(reference) if isinstance(reference, str) else None, why, values)


def _unread(resource: Mapping[str, Any], unread: Callable[[Mapping[str, Any]], str | None]) -> Unread | None:
    """The resource as :class:`Unread` when its type is one mmsequence does not read, or ``unread``
    gives the notice code of a reason not to read it; None when it is read."""
    kind = resource["resourceType"]
    if kind not in RELEVANT_TYPES:
        return Unread.of(resource, "unused.type", kind=kind)
    why = unread(resource)
    return None if why is None else Unread.of(resource, why)


@attrs.frozen
class ReadBundle:
    """A Bundle as read: its ``timestamp`` and its entries as (index, fullUrl, resource), each
    resource a ``fhir.resources`` model or :class:`Unread`."""

    timestamp: Any
    entries: list[tuple[int, str | None, Any]]


def read_leniently(document: Any, harmless: Callable[[Mapping[str, Any]], bool] = lambda _: False,
                   unread: Callable[[Mapping[str, Any]], str | None] = lambda _: None) -> tuple[ReadBundle, list[Notice]]:
    """The Bundle with each resource mmsequence reads validated as a model, and a note for each
    invalid one left out because ``harmless`` says it cannot say anything about myeloma therapy (a
    drug that is not anti-myeloma therapy). A resource of a type outside :data:`RELEVANT_TYPES`, or
    one ``unread`` gives the notice code of a reason for (an Observation whose code the site does not map), is
    :class:`Unread`: it is not used, so it is not validated either. Any other invalid resource
    refuses the record: InputError naming the field."""
    problems = _bundle_problems(document)
    fast = _typed_bundle(document, unread)
    if fast is not None:
        return fast, []
    try:
        from fhir.resources.R4B import fhirtypes, get_fhir_model_class
        from fhir.resources.R4B.bundle import Bundle
        from pydantic import ValidationError
    except ImportError as error:
        raise missing_extra("reading FHIR", "fhir", error.name) from None
    raw = [e.get("resource") for e in document.get("entry") or ()]
    for i, resource in enumerate(raw):
        kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
        if not (isinstance(kind, str) and hasattr(fhirtypes, kind + "Type")):
            problems.append(f"entry[{i}].resource.resourceType: {kind!r} is not a FHIR R4B resource type")
    if problems:
        raise InputError(problems)
    found: list[tuple[str, int | None]] = []

    def validate(model: Any, value: Any, where: tuple[Any, ...], index: int | None) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError as error:
            found.extend((f"{_path(where + tuple(e['loc']))}: {e['msg'].removeprefix('Value error, ')}", index)
                         for e in error.errors())
        except (KeyError, ValueError) as error:  # a contained resource of an unknown type
            found.append((f"bundle: not a valid FHIR R4B Bundle ({error})", index))
        return None

    shell = validate(Bundle, {**document, "entry": [{k: v for k, v in e.items() if k != "resource"}
                                                     for e in document.get("entry") or ()]}, (), None)
    entries = []
    for i, resource in enumerate(raw):
        model = _unread(resource, unread) or \
            validate(get_fhir_model_class(resource["resourceType"]), resource, ("entry", i, "resource"), i)
        entries.append((i, document["entry"][i].get("fullUrl"), model))
    if not found:
        return ReadBundle(shell.timestamp, entries), []
    if any(i is None or not harmless(raw[i]) for _, i in found):
        raise InputError([problem for problem, _ in found])
    notes = [Notice("fhir.left-out", f"entry[{i}] ({raw[i]['resourceType']})", why=problem.split(": ", 1)[-1])
             for problem, i in found if i is not None]
    left_out = {i for _, i in found}
    return ReadBundle(shell.timestamp, [e for e in entries if e[0] not in left_out]), list(dict.fromkeys(notes))


def _typed_bundle(document: Mapping[str, Any], unread: Callable[[Mapping[str, Any]], str | None]) -> ReadBundle | None:
    """The Bundle through the typed fast path (:mod:`mmsequence.fhir.typed`), each resource read a
    typed record; None if anything in it is in doubt (then fhir.resources validates it whole)."""
    entries = []
    for i, entry in enumerate(document.get("entry") or ()):
        resource = entry.get("resource")
        if not (isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str)):
            return None
        entries.append((i, entry.get("fullUrl"), _unread(resource, unread) or resource))
    return _typed_entries(document, entries)


def _typed_entries(document: Mapping[str, Any], entries: list[tuple[int, Any, Any]]) -> ReadBundle | None:
    """The Bundle with its entries (index, fullUrl, resource or :class:`Unread`) through the typed
    fast path; None if anything in it is in doubt."""
    from .typed import RESOURCE_TYPES, timestamp, typed_resource

    valid, when = timestamp(document)
    if not valid:
        return None
    typed_entries = []
    for i, url, resource in entries:
        kind = resource.kind if isinstance(resource, Unread) else resource.get("resourceType")
        if not isinstance(kind, str) or kind not in RESOURCE_TYPES \
                or (url is not None and not (isinstance(url, str) and re.fullmatch(r"\S+", url))):
            return None
        typed = resource if isinstance(resource, Unread) else typed_resource(resource)
        if typed is None:
            return None
        typed_entries.append((i, url, typed))
    return ReadBundle(when, typed_entries)


def read_text(text: bytes, unread: Callable[[Mapping[str, Any]], str | None] = lambda _: None) -> ReadBundle | None:
    """The Bundle in JSON text through the typed fast path, as :func:`read_leniently` reads the
    decoded text, without keeping what it does not read: each resource is decoded on its own and,
    if :class:`Unread`, let go at once. None for any doubt about the text or the Bundle (then the
    text is decoded whole and read as usual, which names every problem); InputError for a Bundle
    that :func:`read_leniently` refuses as such."""
    try:
        root = plain_members(text)
        if not isinstance(root, dict):
            return None
        shell = {key: plain_part(value, 1) for key, value in root.items() if key != "entry"}
        entries = []
        listed = plain_members(root["entry"], 1) if "entry" in root else []
        if not isinstance(listed, list):
            return None
        for i, member in enumerate(listed):
            entry = plain_part(member, 2)
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not (isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)):
                return None
            entries.append((i, entry.get("fullUrl"), _unread(resource, unread) or resource))
    except NotPlain:
        return None
    _bundle_problems(shell)  # every entry is an object with a resource: the shell says the rest
    return _typed_entries(shell, entries)


def _bundle_problems(document: Any) -> list[str]:
    """Refuses what is not a Bundle, or one whose entries are incomplete (InputError); else no
    problem yet, as a list that the caller may add to."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Bundle":
        kind = document.get("resourceType") if isinstance(document, Mapping) else None
        raise InputError([f"resourceType: expected 'Bundle', got {kind!r}"])
    problems = completeness_problems(document)
    if problems:
        raise InputError(problems)
    return problems


def validate_bundle(document: Any) -> Any:
    """The Bundle as a ``fhir.resources.R4B`` model; InputError naming each invalid field."""
    try:
        from fhir.resources.R4B import get_fhir_model_class
        from fhir.resources.R4B.bundle import Bundle
        from pydantic import ValidationError
    except ImportError as error:
        raise missing_extra("reading FHIR", "fhir", error.name) from None
    problems = _bundle_problems(document)
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
