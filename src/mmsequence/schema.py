"""The patient-history document (version 1), declared once.

The structures below are the document's one definition. msgspec decodes valid documents with
them (the fast path, :mod:`mmsequence._fast_read`); the validator that names every problem
(:func:`mmsequence.history.parse_document`) reads its field names from them; and
:func:`json_schema` publishes them as a JSON Schema for EHR developers (``mmsequence schema``,
and ``patient-history.schema.json`` in the package). What a structure cannot say (a date that
the calendar does not have, an end before its start, records out of order) the two validators
check in code; the two rules between fields that a JSON Schema can say are added to it here.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

import msgspec

from .vocabulary import ApheresisStatus, Jurisdiction, OverrideReason, Response, StopReason

#: A calendar date, or its month or year alone (1900-2199), as EHRs record them.
# Patterns are stated for the JSON Schema only (``extra_json_schema``): the readers check dates and
# blank text in code, faster than a regular expression per string and with a precise message.
Date = Annotated[str, msgspec.Meta(
    extra_json_schema={"pattern": r"^(19|20|21)\d\d(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"},
    description="YYYY-MM-DD, or YYYY-MM or YYYY when the day or month is not known",
    examples=["2025-08-31", "2025-09", "2025"],
)]
#: Text with at least one character that is not white space.
Text = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": r"\S"})]
Name = Annotated[str, msgspec.Meta(extra_json_schema={"pattern": r"\S"},
                                   description="a drug or regimen name, or a code the catalog knows")]


class LineDocument(msgspec.Struct, forbid_unknown_fields=True):
    """A line of therapy: drugs given together, first and last dose."""

    agents: Annotated[list[Name], msgspec.Meta(min_length=1)]
    start: Date
    end: Date | None = None
    progression: Date | None = None
    best_response: Response | None = None
    stop_reason: StopReason | None = None
    refractory: bool | None = None
    comment: Text | None = None


class ApheresisDocument(msgspec.Struct, forbid_unknown_fields=True):
    """A leukapheresis for CAR-T manufacturing (a date is required when done or failed)."""

    status: ApheresisStatus
    date: Date | None = None
    product: Text | None = None
    comment: Text | None = None


class BiomarkersDocument(msgspec.Struct, forbid_unknown_fields=True):
    """Antigen loss on the myeloma cells and soluble BCMA."""

    bcma_loss: bool | None = None
    gprc5d_loss: bool | None = None
    fcrh5_loss: bool | None = None
    soluble_bcma_ng_ml: Annotated[float, msgspec.Meta(ge=0)] | None = None


class OverrideDocument(msgspec.Struct, forbid_unknown_fields=True):
    """A clinician's decision to set aside one rule's finding for one candidate (a note is
    required when the reason is 'other')."""

    rule: Text
    candidate: Text
    reason: OverrideReason
    note: Text | None = None


class RegimenDocument(msgspec.Struct, forbid_unknown_fields=True):
    """A candidate regimen: two or more drugs given together, and optionally its name."""

    agents: Annotated[list[Name], msgspec.Meta(min_length=2)]
    name: Text | None = None


class PatientHistoryDocument(msgspec.Struct, forbid_unknown_fields=True):
    """One patient's myeloma therapy so far and the therapies to assess next."""

    patient_id: Text
    lines: list[LineDocument] | None
    apheresis: list[ApheresisDocument] | None = None
    biomarkers: BiomarkersDocument | None = None
    candidates: Annotated[list[Name | RegimenDocument], msgspec.Meta(min_length=1)] | None = None
    car_t_eligible: bool | None = None
    jurisdiction: Jurisdiction | None = None
    as_of: Annotated[str, msgspec.Meta(extra_json_schema={"pattern": r"^\d{4}-\d{2}-\d{2}$"},
                                       description="the evaluation day, a full date")] | None = None
    overrides: list[OverrideDocument] | None = None
    comment: Text | None = None
    version: Literal[1] = 1


@functools.cache
def fields(structure: type[msgspec.Struct]) -> tuple[str, ...]:
    """A structure's field names, in the order the document lists them."""
    return structure.__struct_fields__


@functools.cache
def required(structure: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields a structure requires."""
    info = msgspec.inspect.type_info(structure)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.encode_name for f in info.fields if f.required)


#: The rules between fields that a JSON Schema states (``if``/``then``), by structure.
_CONDITIONS: dict[str, list[dict[str, Any]]] = {
    "ApheresisDocument": [{
        "if": {"properties": {"status": {"enum": ["done", "failed"]}}, "required": ["status"]},
        "then": {"required": ["date"], "properties": {"date": {"type": "string"}}},
    }],
    "OverrideDocument": [{
        "if": {"properties": {"reason": {"const": "other"}}, "required": ["reason"]},
        "then": {"required": ["note"], "properties": {"note": {"type": "string"}}},
    }],
}


@functools.cache
def json_schema() -> str:
    """The document as a JSON Schema (draft 2020-12), serialised with sorted keys."""
    schema = msgspec.json.schema(PatientHistoryDocument)
    for name, conditions in _CONDITIONS.items():
        schema["$defs"][name]["allOf"] = conditions
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:mmsequence:patient-history:1",
        "title": "mmsequence patient-history document, version 1",
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
