"""The typed fast path answers for valid documents exactly as the full validator does, and for
nothing the full validator refuses."""

import json
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

from mmsequence._fast_read import fast_history
from mmsequence.documents import read_document
from mmsequence.errors import InputError
from mmsequence.history import parse_document
from mmsequence.testing.invalid import invalid_documents, invalid_files
from mmsequence.testing.strategies import patient_histories

from .profiles import SEEDS, run

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from histories import histories  # noqa: E402

EXTRAS = st.fixed_dictionaries({}, optional={
    "biomarkers": st.fixed_dictionaries({}, optional={
        "bcma_loss": st.one_of(st.none(), st.booleans()),
        "soluble_bcma_ng_ml": st.one_of(st.none(), st.integers(0, 10**6), st.floats(0, 1e6)),
    }),
    "overrides": st.lists(st.fixed_dictionaries(
        {"rule": st.just("review.interval"), "candidate": st.just("talquetamab"),
         "reason": st.sampled_from(["rapid-progression", "other"])},
        optional={"note": st.text(min_size=1)}), max_size=2),
    "comment": st.text(), "version": st.just(1),
})
VALID = st.tuples(patient_histories(), EXTRAS).map(lambda pair: {**pair[0], **pair[1]})


def _same(document) -> None:
    """Either both refuse, or the fast path gives the full validator's history, or it declines."""
    try:
        text = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return
    try:
        expected = parse_document(json.loads(text))
    except (InputError, ValueError, RecursionError):
        assert fast_history(text) is None
        assert fast_history(json.loads(text)) is None
        return
    got = fast_history(text)
    assert got is None or got == expected
    assert fast_history(json.loads(text)) in (None, expected)


def _answers(document) -> None:
    """A valid document takes the fast path, and it gives the same history."""
    try:
        expected = parse_document(document)
    except InputError:
        assert fast_history(json.dumps(document)) is None
        return
    assert fast_history(json.dumps(document)) == expected
    assert fast_history(json.dumps(document, ensure_ascii=False).encode()) == expected
    assert fast_history(json.loads(json.dumps(document))) == expected


@SEEDS
def test_valid_documents_take_the_fast_path_to_the_same_history(seed_value):
    run(_answers, VALID, seed_value)


@SEEDS
def test_the_fast_path_accepts_no_invalid_document(seed_value):
    run(_same, invalid_documents(), seed_value)


@SEEDS
def test_the_fast_path_accepts_no_bad_file(seed_value):
    def check(raw: bytes) -> None:
        try:
            expected = parse_document(json.loads(raw.decode("utf-8")))
        except (InputError, ValueError, RecursionError):
            assert fast_history(raw) is None
            return
        assert fast_history(raw) in (None, expected)
    run(check, invalid_files(), seed_value)


def test_every_benchmark_history_takes_the_fast_path():
    for document in histories(300):
        assert fast_history(json.dumps(document)) == parse_document(document)


def test_what_only_the_full_validator_accepts_is_declined_not_misread():
    base = {"patient_id": "P", "lines": [{"agents": ["teclistamab"], "start": "2025-01-01"}]}
    for extra in ({"version": 1.0}, {"version": True}, {"biomarkers": []}, {"biomarkers": False}):
        document = {**base, **extra}
        assert parse_document(document) is not None
        assert fast_history(json.dumps(document)) is None


def test_decoded_json_with_what_text_cannot_hold_is_declined():
    base = {"patient_id": "P", "lines": [{"agents": ["teclistamab"], "start": "2025-01-01"}]}
    assert fast_history(base) == parse_document(base)
    for document in ({**base, "patient_id": "P\udcff"}, {**base, "comment": "\udcff"},
                     {**base, "lines": [{"agents": ["teclistamab\udcff"], "start": "2025-01-01"}]}):
        assert fast_history(document) is None
        with pytest.raises(InputError) as error:
            parse_document(document)
        with pytest.raises(InputError) as again:
            read_document(document)
        assert again.value.problems == error.value.problems


def test_a_mapping_with_other_than_json_types_is_read_by_the_full_validator():
    document = {"patient_id": "P", "lines": [{"agents": ("teclistamab",), "start": "2025-01-01"}]}
    with pytest.raises(InputError) as error:
        parse_document(document)
    with pytest.raises(InputError) as again:
        read_document(document)
    assert again.value.problems == error.value.problems
