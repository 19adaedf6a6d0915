"""JSON output: orjson's fast path writes exactly the bytes the standard library writes."""

import json

from hypothesis import strategies as st

from mmsequence import evaluate, load_policy
from mmsequence.render import to_json, to_json_line
from mmsequence.testing.strategies import patient_histories, policies

from .profiles import SEEDS, run

# Soluble BCMA is the one float a document brings: from zero through tiny and huge values.
SOLUBLE = st.one_of(st.none(), st.floats(0, 1e-4), st.floats(0, 1e20), st.integers(0, 10**6))
CASES = st.tuples(patient_histories(), SOLUBLE, st.one_of(st.just(load_policy()), policies()))


def _same_bytes(case) -> None:
    document, soluble, policy = case
    if soluble is not None:
        document = {**document, "biomarkers": {**document.get("biomarkers", {}), "soluble_bcma_ng_ml": soluble}}
    assessment = evaluate(document, policy=policy)
    data = assessment.to_dict()
    assert to_json_line(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert to_json(assessment) == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@SEEDS
def test_the_fast_path_writes_the_standard_librarys_bytes(seed_value):
    run(_same_bytes, CASES, seed_value)


def test_what_orjson_refuses_is_written_by_the_standard_library():
    for data in ({"n": 2**70}, {1: "x"}, {"s": "\udcff"}):
        assert to_json_line(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
