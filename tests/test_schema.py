"""The patient-history document has one definition: the published JSON Schema, the fast path and the
validator that names every problem agree with it and with each other."""

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from mmsequence._fast_read import fast_history
from mmsequence.cli import main
from mmsequence.errors import InputError
from mmsequence.history import parse_document
from mmsequence.schema import json_schema
from mmsequence.testing.invalid import invalid_documents
from mmsequence.testing.strategies import patient_histories
from mmsequence.vocabulary import JURISDICTIONS

from .profiles import SEEDS, run

ROOT = Path(__file__).parents[1]
VALIDATOR = jsonschema.Draft202012Validator(json.loads(json_schema()))


def _shipped_documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted((ROOT / "examples").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if path.name != "invalid.json" and document.get("resourceType") != "Bundle":
            found.append((path.name, document))
    for path in sorted((ROOT / "examples" / "vignettes").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))["document"]
        if isinstance(document, dict):
            found.append((path.name, document))
    return found


SHIPPED = _shipped_documents()


def test_the_packaged_schema_file_is_the_generated_one():
    packaged = resources.files("mmsequence").joinpath("patient-history.schema.json").read_text(encoding="utf-8")
    assert packaged == json_schema(), "regenerate it: mmsequence schema > src/mmsequence/patient-history.schema.json"


def test_the_schema_command_prints_the_schema(capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == json_schema()


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(json_schema()))


def test_there_are_shipped_documents_to_check():
    assert len(SHIPPED) > 80


@pytest.mark.parametrize(("name", "document"), SHIPPED, ids=[name for name, _ in SHIPPED])
def test_every_shipped_document_is_valid_by_the_schema_and_both_readers(name, document):
    VALIDATOR.validate(document)
    assert fast_history(json.dumps(document, ensure_ascii=False).encode()) == parse_document(document)


@SEEDS
def test_documents_the_validator_accepts_are_valid_by_the_schema(seed_value):
    def check(document) -> None:
        parse_document(document)
        VALIDATOR.validate(document)
    run(check, patient_histories(), seed_value)


@SEEDS
def test_documents_the_schema_accepts_are_read_or_refused_for_a_reason_it_cannot_state(seed_value):
    """What the schema accepts, the validator accepts too, except the few checks a JSON Schema cannot
    make (a day the calendar does not have, an end before its start, records out of order, a number
    that is not JSON or beyond a double (NaN, 1e400), text that is not Unicode)."""
    def check(document) -> None:
        try:
            if not isinstance(document, dict) or not VALIDATOR.is_valid(document):
                return
        except RecursionError:  # jsonschema's own limit on a deeply nested document, not the schema's
            return
        try:
            parse_document(document)
        except RecursionError:  # a nesting deeper than the reader reads: a limit of its own, not the schema's
            return
        except InputError as error:
            assert all(_beyond_the_schema(problem) for problem in error.problems), error.problems
    run(check, invalid_documents(), seed_value)


def _beyond_the_schema(problem: str) -> bool:
    return any(words in problem for words in (
        "is not a date", "is before", "is not valid Unicode", "expected a non-negative number"))


@pytest.mark.parametrize(("field", "value"), [
    ("unknown_field", 1), ("jurisdiction", "JP"), ("as_of", "2026-03"), ("car_t_eligible", "yes"),
    ("lines", [{"agents": [], "start": "2025-01-01"}]), ("lines", [{"agents": ["x"], "start": "2025-13-01"}]),
    ("apheresis", [{"status": "done"}]), ("overrides", [{"rule": "r", "candidate": "c", "reason": "other"}]),
    ("candidates", [{"agents": ["teclistamab"]}]), ("biomarkers", {"soluble_bcma_ng_ml": -1}),
    ("patient_id", "  "),
])
def test_the_schema_and_both_readers_refuse_the_same_defects(field, value):
    document = {"patient_id": "P", "lines": [{"agents": ["teclistamab"], "start": "2025-01-01"}], field: value}
    assert not VALIDATOR.is_valid(document)
    with pytest.raises(InputError):
        parse_document(document)
    assert fast_history(json.dumps(document)) is None


@pytest.mark.parametrize("jurisdiction", JURISDICTIONS)
def test_every_jurisdiction_takes_the_fast_path(jurisdiction):
    document = {"patient_id": "P", "lines": [{"agents": ["teclistamab"], "start": "2025-01-01"}],
                "jurisdiction": jurisdiction}
    assert "CN" in JURISDICTIONS
    assert fast_history(json.dumps(document)) == parse_document(document)
