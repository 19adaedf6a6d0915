"""The typed fast path for FHIR Bundles gives what full validation gives, or steps aside."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from mmsequence import Evaluator, InputError
from mmsequence.fhir import model
from mmsequence.fhir.typed import _SPEC

from .fhir_builders import administration, bundle, procedure, statement

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted((ROOT / "tests" / "data" / "synthea").glob("*.json.gz")) + sorted((ROOT / "examples" / "fhir").glob("*.json"))


def _load(path: Path) -> Any:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def _outcome(document: Any, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The history read from ``document`` (or the problems it is refused with), through the typed
    path where it answers (``fast``) or through fhir.resources alone."""
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(model, "_typed_bundle", lambda *_: None)
        try:
            return Evaluator().read(copy.deepcopy(document))
        except InputError as error:
            return error.problems


def test_the_element_names_are_those_fhir_resources_defines():
    from fhir.resources.R4B import get_fhir_model_class

    for name, names in _SPEC["elements"].items():
        fields = get_fhir_model_class(name).model_fields
        assert set(names) - {"resourceType"} == {f.alias or k for k, f in fields.items()}, name
    assert {"Bundle", "Patient", "NutritionOrder", "ExplanationOfBenefit"} <= set(_SPEC["resource_types"])
    assert "Coding" not in _SPEC["resource_types"]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name.split("_")[0])
def test_real_records_take_the_typed_path_and_read_as_full_validation_reads_them(path, monkeypatch):
    document = _load(path)
    assert model._typed_bundle(document, lambda _: None) is not None
    assert _outcome(document, True, monkeypatch) == _outcome(document, False, monkeypatch)


def _valid() -> dict[str, Any]:
    return bundle(statement("s1", "lenalidomide", "2023-01-01", "2023-06-01"),
                  administration("a1", "daratumumab", "2023-07-01T10:00:00+02:00"),
                  procedure("pr1", "leukapheresis for CAR-T", "2024-01-05"))


#: Defects and oddities, each at a path of the valid Bundle above: (entry, element path, value).
_CHANGES = [
    (1, ("verificationStatuss",), {"text": "refuted"}),  # a misspelt element: refused, never ignored
    (1, ("code", "coding", 0, "sytem"), "http://snomed.info/sct"),
    (2, ("status",), ""),
    (2, ("status",), "completed "),
    (2, ("status",), None),
    (2, ("effectivePeriod", "start"), "2023-02-30"),
    (2, ("effectivePeriod", "start"), "2023-13"),
    (2, ("effectivePeriod", "start"), "2023-01-01T10:00:00"),
    (2, ("effectiveDateTime",), "2023-01-01"),
    (2, ("medicationReference",), {"reference": "Medication/m1"}),
    (2, ("id",), "s 1"),
    (2, ("extension",), [{"url": "urn:mmsequence:fhir:line-of-therapy", "valuePositiveInt": 0}]),
    (2, ("extension",), [{"url": "urn:mmsequence:fhir:line-of-therapy", "valueInteger": True}]),
    (2, ("contained",), [{"resourceType": "Substance", "id": "x"}]),
    (3, ("effectiveDateTime",), "2023-07-01T25:00:00Z"),
    (3, ("effectiveDateTime",), "2023-07-01T10:00:00+15:00"),
    (3, ("subject", "reference"), 5),
    (4, ("performedDateTime",), "2024-01"),
    (4, ("outcome",), {"text": "failed", "coding": [{"display": "   "}]}),
    (0, ("deceasedBoolean",), "false"),
    (2, ("resourceType",), []),
    (2, ("resourceType",), "Coding"),
]


@pytest.mark.parametrize(("entry", "path", "value"), _CHANGES, ids=lambda v: str(v)[:30])
def test_any_doubt_reads_as_full_validation_reads_it(entry, path, value, monkeypatch):
    document = _valid()
    target = document["entry"][entry]["resource"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _outcome(document, True, monkeypatch) == _outcome(document, False, monkeypatch)


def test_a_misspelt_element_of_a_resource_read_refuses_the_record_naming_it(monkeypatch):
    document = _valid()
    document["entry"][1]["resource"]["verificationStatuss"] = {"text": "refuted"}
    assert model._typed_bundle(_valid(), lambda _: None) is not None
    assert _outcome(document, True, monkeypatch) == ("entry[1].resource.verificationStatuss: Extra inputs are not permitted",)
