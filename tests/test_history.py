"""Validation of the patient-history document: every bad-input class names its field."""

import json

import pytest

from mmsequence import InputError, evaluate, parse_document
from mmsequence.documents import load_json

from .builders import document, line


def problems(doc) -> list[str]:
    with pytest.raises(InputError) as caught:
        evaluate(doc)
    return list(caught.value.problems)


def test_bad_date_names_the_field():
    assert problems(document(line("teclistamab", "2025-03-01", "2025-13-01"))) == [
        "lines[1].end: '2025-13-01' is not a date"
    ]


def test_end_before_start():
    assert problems(document(line("teclistamab", "2025-06-01", "2025-05-01"))) == [
        "lines[1].end: '2025-05-01' is before start '2025-06-01'"
    ]


def test_end_before_start_is_not_claimed_for_overlapping_partial_dates():
    parse_document(document(line("teclistamab", "2025-06-10", "2025-06")))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.update(patient_id=7), "patient_id: expected a non-empty string, got 7"),
        (lambda d: d.update(lines="x"), "lines: expected a list, got a string"),
        (lambda d: d["lines"][0].update(agents="teclistamab"), "lines[0].agents: expected a non-empty list of names"),
        (lambda d: d["lines"][0].update(agents=[]), "lines[0].agents: expected a non-empty list of names"),
        (lambda d: d["lines"][0].update(refractory="yes"), "lines[0].refractory: expected true, false or null"),
        (lambda d: d["lines"][0].update(stop_reason="relapse"), "lines[0].stop_reason: 'relapse' is not one of"),
        (lambda d: d.update(car_t_eligible=1), "car_t_eligible: expected true, false or null, got 1"),
        (lambda d: d.update(jurisdiction="UK"), "jurisdiction: 'UK' is not one of US, EU"),
        (lambda d: d.update(as_of="2026-06"), "as_of: '2026-06' must be a full date"),
        (lambda d: d.update(candidates=[1]), "candidates[0]: expected a non-empty string, got 1"),
        (lambda d: d.update(biomarkers={"soluble_bcma_ng_ml": "high"}), "biomarkers.soluble_bcma_ng_ml: expected a non-negative number"),
        (lambda d: d.update(apheresis=[{"status": "booked"}]), "apheresis[0].status: 'booked' is not one of"),
        (lambda d: d.update(apheresis=[{"status": "done"}]), "apheresis[0].date: is required when status is 'done'"),
        (lambda d: d.update(nickname="x"), "nickname: unknown field"),
        (lambda d: d["lines"][0].update(dose="1 mg"), "lines[0].dose: unknown field"),
        (lambda d: d.pop("patient_id"), "patient_id: is required"),
        (lambda d: d.update(version=2), "version: 2 is not a supported version"),
    ],
)
def test_wrong_types_and_unknown_fields(mutate, expected):
    doc = document()
    mutate(doc)
    found = problems(doc)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once():
    doc = document(line("teclistamab", "2025-13", "2025-14"), nickname="x")
    assert problems(doc) == [
        "nickname: unknown field",
        "lines[1].start: '2025-13' is not a date",
        "lines[1].end: '2025-14' is not a date",
    ]


def test_document_that_is_not_an_object():
    assert problems([1, 2]) == ["document: expected an object, got a list"]


def test_apheresis_records_must_be_in_order():
    doc = document(apheresis=[{"status": "failed", "date": "2026-03-01"}, {"status": "planned", "date": "2026-02-01"}])
    assert problems(doc) == [
        "apheresis[1].date: '2026-02-01' is before apheresis[0].date '2026-03-01' (records are listed in the order they happened)"
    ]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"{not json", "invalid JSON at line 1 column 2"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "nested deeper than 64 levels"),
    ],
)
def test_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_json(path)
    assert expected in caught.value.problems[0]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        load_json(tmp_path / "absent.json")


def test_history_inconsistent_with_as_of():
    assert problems(document(line("teclistamab", "2026-05-01", "2026-07-01"))) == [
        "lines[1].end: '2026-07-01' is after as_of 2026-06-01"
    ]


def test_car_t_line_is_a_single_infusion():
    assert problems(document(line("cilta-cel", "2025-01-10", "2025-02-10"))) == [
        "lines[1].end: a CAR-T line is one infusion, so end must equal start '2025-01-10'"
    ]


def test_duplicate_candidates_are_an_error():
    assert problems(document(candidates=["Tecvayli", "teclistamab"])) == [
        "candidates[1]: 'teclistamab' names the same therapy as candidates[0]"
    ]


def test_as_of_argument_is_validated():
    with pytest.raises(InputError) as caught:
        evaluate(document(), as_of="2026-02-30")
    assert caught.value.problems == ("as_of: '2026-02-30' is not a date",)


def test_documents_round_trip_through_json_files(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document(line("Tecvayli", "2025-01-01", "2025-03-01"))), encoding="utf-8")
    assert evaluate(path).to_dict() == evaluate(json.loads(path.read_text())).to_dict()


def test_a_car_t_infusion_that_cannot_be_ordered_against_the_last_collection():
    doc = document(line("cilta-cel", "2026-03"), apheresis=[{"status": "done", "date": "2026-03-02"}])
    assert problems(doc) == [
        "lines[1].start: '2026-03' cannot be ordered against apheresis[0].date '2026-03-02': give the day of the infusion or of the collection"
    ]
