"""The typed fast path for FHIR resources mmsequence reads: decoded JSON straight to typed records.

msgspec converts each resource the reader reads into a struct holding only the elements the
reader takes from it, with the same names as the ``fhir.resources`` models, every one checked as
FHIR says (types, codes, ids, dates that exist, one value of a choice, the required elements).
It answers only for resources that are plainly valid; anything else, however small the doubt,
gives None, and the whole Bundle is validated by ``fhir.resources``, which names every problem
(:mod:`mmsequence.fhir.model`). Elements the reader does not take are not read, so not checked
either, as with resources it does not read at all. Both give the same history for every Bundle
the fast path accepts (tests/test_fhir_typed.py holds them to that).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


def _date_time(value: str | None, instant: bool = False) -> None:
    """ValueError unless ``value`` is a FHIR dateTime (an instant: with its time) naming days that exist."""
    if value is None:
        return
    if _DATETIME.fullmatch(value):
        moment = datetime.datetime.fromisoformat(value)
        offset = moment.utcoffset()
        if offset is not None and abs(offset) > datetime.timedelta(hours=14):
            raise ValueError(value)
        return
    if instant or not _DATE.fullmatch(value) or int(value[:4]) < 1:
        raise ValueError(value)
    if len(value) == 7 and not 1 <= int(value[5:7]) <= 12:
        raise ValueError(value)
    if len(value) == 10:
        datetime.date.fromisoformat(value)


Text = Annotated[str, msgspec.Meta(pattern=r"^[ \r\n\t\S]+$")]
Code = Annotated[str, msgspec.Meta(pattern=r"^[^\s]+(\s[^\s]+)*$")]
Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
Uri = Annotated[str, msgspec.Meta(pattern=r"^\S+$")]
Integer = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class _Element(msgspec.Struct, kw_only=True, frozen=True):
    pass


class Coding(_Element, kw_only=True, frozen=True):
    system: Uri | None = None
    version: Text | None = None
    code: Code | None = None
    display: Text | None = None


class CodeableConcept(_Element, kw_only=True, frozen=True):
    coding: list[Coding] | None = None
    text: Text | None = None


class Reference(_Element, kw_only=True, frozen=True):
    reference: Text | None = None
    display: Text | None = None


class Period(_Element, kw_only=True, frozen=True):
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        _date_time(self.start)
        _date_time(self.end)


class Quantity(_Element, kw_only=True, frozen=True):
    value: int | float | None = None
    unit: Text | None = None
    code: Code | None = None


class Extension(_Element, kw_only=True, frozen=True):
    url: Uri
    valuePositiveInt: PositiveInt | None = None
    valueInteger: Integer | None = None


class _Repeat(_Element, kw_only=True, frozen=True):
    boundsPeriod: Period | None = None


class Timing(_Element, kw_only=True, frozen=True):
    repeat: _Repeat | None = None


class _Dosage(_Element, kw_only=True, frozen=True):
    timing: Timing | None = None


class _Ingredient(_Element, kw_only=True, frozen=True):
    itemCodeableConcept: CodeableConcept | None = None
    itemReference: Reference | None = None

    def __post_init__(self) -> None:
        _one(self.itemCodeableConcept, self.itemReference, required=True)


def _one(*values: Any, required: bool = False) -> None:
    """ValueError unless at most one value of a choice is given (exactly one, if ``required``)."""
    given = sum(v is not None for v in values)
    if given > 1 or (required and not given):
        raise ValueError("one value of a choice")


class _Resource(_Element, kw_only=True, frozen=True):
    resourceType: str
    id: Id | None = None
    extension: list[Extension] | None = None

    def get_resource_type(self) -> str:
        return self.resourceType


class Medication(_Resource, kw_only=True, frozen=True):
    code: CodeableConcept | None = None
    ingredient: list[_Ingredient] | None = None


class _MedicationUse(_Resource, kw_only=True, frozen=True):
    status: Code
    subject: Reference
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    contained: list[Medication] | None = None

    def __post_init__(self) -> None:
        _one(self.medicationCodeableConcept, self.medicationReference, required=True)


class MedicationRequest(_MedicationUse, kw_only=True, frozen=True):
    intent: Code
    authoredOn: str | None = None
    dosageInstruction: list[_Dosage] | None = None
    statusReason: CodeableConcept | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _date_time(self.authoredOn)


class _Given(_MedicationUse, kw_only=True, frozen=True):
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    statusReason: list[CodeableConcept] | None = None
    partOf: list[Reference] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _one(self.effectiveDateTime, self.effectivePeriod)
        _date_time(self.effectiveDateTime)


class MedicationStatement(_Given, kw_only=True, frozen=True):
    pass


class MedicationAdministration(_Given, kw_only=True, frozen=True):
    def __post_init__(self) -> None:
        super().__post_init__()
        _one(self.effectiveDateTime, self.effectivePeriod, required=True)


class Procedure(_Resource, kw_only=True, frozen=True):
    status: Code
    subject: Reference
    code: CodeableConcept | None = None
    usedCode: list[CodeableConcept] | None = None
    performedDateTime: str | None = None
    performedPeriod: Period | None = None
    outcome: CodeableConcept | None = None
    basedOn: list[Reference] | None = None
    statusReason: CodeableConcept | None = None

    def __post_init__(self) -> None:
        _one(self.performedDateTime, self.performedPeriod)
        _date_time(self.performedDateTime)


class ServiceRequest(_Resource, kw_only=True, frozen=True):
    status: Code
    intent: Code
    subject: Reference
    code: CodeableConcept | None = None
    occurrenceDateTime: str | None = None
    occurrencePeriod: Period | None = None

    def __post_init__(self) -> None:
        _one(self.occurrenceDateTime, self.occurrencePeriod)
        _date_time(self.occurrenceDateTime)


class _ActivityDetail(_Element, kw_only=True, frozen=True):
    status: Code
    code: CodeableConcept | None = None
    scheduledPeriod: Period | None = None
    scheduledTiming: Timing | None = None


class _Activity(_Element, kw_only=True, frozen=True):
    detail: _ActivityDetail | None = None


class CarePlan(_Resource, kw_only=True, frozen=True):
    status: Code
    intent: Code
    subject: Reference
    activity: list[_Activity] | None = None


class Condition(_Resource, kw_only=True, frozen=True):
    subject: Reference
    code: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None


class Observation(_Resource, kw_only=True, frozen=True):
    status: Code
    code: CodeableConcept
    effectiveDateTime: str | None = None
    effectivePeriod: Period | None = None
    issued: str | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueQuantity: Quantity | None = None
    valueBoolean: bool | None = None
    valueString: Text | None = None

    def __post_init__(self) -> None:
        _one(self.effectiveDateTime, self.effectivePeriod)
        _one(self.valueCodeableConcept, self.valueQuantity, self.valueBoolean, self.valueString)
        _date_time(self.effectiveDateTime)
        _date_time(self.issued, instant=True)


class Patient(_Resource, kw_only=True, frozen=True):
    deceasedDateTime: str | None = None
    deceasedBoolean: bool | None = None

    def __post_init__(self) -> None:
        _one(self.deceasedDateTime, self.deceasedBoolean)
        _date_time(self.deceasedDateTime)


_TYPES: dict[str, type[_Resource]] = {t.__name__: t for t in (
    Medication, MedicationRequest, MedicationStatement, MedicationAdministration, Procedure, ServiceRequest,
    CarePlan, Condition, Observation, Patient)}


def _plain(resource: Mapping[str, Any]) -> bool:
    """Whether a resource holds nothing the typed path leaves to the full validator: a contained
    resource other than a Medication, a care-plan activity scheduled by a list of events."""
    contained = resource.get("contained")
    if contained is not None and not (isinstance(contained, list) and all(
            isinstance(c, Mapping) and c.get("resourceType") == "Medication" for c in contained)):
        return False
    activities = resource.get("activity")
    if isinstance(activities, list):
        for activity in activities:
            detail = activity.get("detail") if isinstance(activity, Mapping) else None
            timing = detail.get("scheduledTiming") if isinstance(detail, Mapping) else None
            if isinstance(timing, Mapping) and "event" in timing:
                return False
    return True


#: The element names FHIR R4B allows in each element and resource read here, and the names of
#: every resource type, as ``fhir.resources`` defines them (tests/test_fhir_typed.py checks them).
_SPEC = json.loads((Path(__file__).parent / "elements.json").read_text(encoding="utf-8"))
RESOURCE_TYPES = frozenset(_SPEC["resource_types"])
_FHIR_NAMES = {_Ingredient: "MedicationIngredient", _Repeat: "TimingRepeat", _Dosage: "Dosage",
               _Activity: "CarePlanActivity", _ActivityDetail: "CarePlanActivityDetail"}


def _children(kind: type[_Element]) -> tuple[frozenset[str], tuple[tuple[str, type[_Element]], ...]]:
    """The element names ``kind``'s FHIR element allows, and its fields that hold elements read here."""
    children = []
    for field in msgspec.structs.fields(kind):
        for child in getattr(field.type, "__args__", (field.type,)):
            child = getattr(child, "__args__", (child,))[0]  # list[X] -> X
            if isinstance(child, type) and issubclass(child, _Element):
                children.append((field.name, child))
    return frozenset(_SPEC["elements"][_FHIR_NAMES.get(kind, kind.__name__)]), tuple(children)


_SHAPES: dict[type[_Element], tuple[frozenset[str], tuple[tuple[str, type[_Element]], ...]]] = {}


def _known(value: Any, kind: type[_Element]) -> bool:
    """Whether every element name in ``value`` (and in the elements read from it) is one FHIR allows there."""
    shape = _SHAPES.get(kind) or _SHAPES.setdefault(kind, _children(kind))
    allowed, children = shape
    if not allowed.issuperset(value):
        return False
    for name, child in children:
        found = value.get(name)
        if found is not None and not all(_known(v, child) for v in (found if isinstance(found, list) else [found])):
            return False
    return True


def typed_resource(resource: Mapping[str, Any]) -> Any:
    """The resource as a typed record of what the reader takes from it; None if there is any doubt."""
    kind = _TYPES.get(resource.get("resourceType"))  # type: ignore[arg-type]
    if kind is None or not _plain(resource):
        return None
    try:
        typed = msgspec.convert(resource, kind)
    except (msgspec.ValidationError, ValueError):
        return None
    return typed if _known(resource, kind) else None


def timestamp(document: Mapping[str, Any]) -> tuple[bool, datetime.datetime | None]:
    """(whether the Bundle's ``timestamp`` and ``type`` are plainly valid, the timestamp)."""
    value, kind = document.get("timestamp"), document.get("type")
    if not (isinstance(kind, str) and re.fullmatch(r"[^\s]+(\s[^\s]+)*", kind)):
        return False, None
    if value is None:
        return True, None
    try:
        _date_time(value if isinstance(value, str) else "", instant=True)
    except ValueError:
        return False, None
    return True, datetime.datetime.fromisoformat(value)
