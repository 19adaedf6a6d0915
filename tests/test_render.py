"""JSON output: orjson's fast path writes exactly the bytes the standard library writes. Text output:
wrapped to the terminal's columns, Chinese included."""

import json

from hypothesis import strategies as st

from mmsequence import evaluate, load_policy
from mmsequence.render import _NO_LINE_START, _UNITS, _wrap, display_width, to_json, to_json_line
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


# Text of English words (one longer than a line), spaces, Chinese characters and the Chinese
# punctuation that never starts a line.
WRAPPED = st.tuples(
    st.lists(st.sampled_from(["ab", "line", "x" * 40, " ", "  ", "\t", "\n", "\u3000", "中", "线", "治疗", "。", "，", "）", "！"]),
             max_size=80).map("".join),
    st.integers(20, 100), st.sampled_from(["", "  ", "   "]), st.sampled_from(["", "  ", "     "]))


def _wraps_within_the_width(case) -> None:
    text, width, indent, subsequent = case
    lines = _wrap(text, width, indent, subsequent)
    assert "".join("".join(line.split()) for line in lines) == "".join(text.split())  # nothing lost or added
    if display_width(text) == len(text):
        return  # no wide character: the standard library's textwrap
    units = [_UNITS.findall(line.strip()) for line in lines]
    for n, line in enumerate(lines):
        if display_width(line) > width:  # only punctuation kept at its end, or a run too long for any line
            rest = line
            while rest and (rest[-1] in _NO_LINE_START or rest[-1] == " "):
                rest = rest[:-1]
            assert display_width(rest) <= width or len(_UNITS.findall(rest.strip())) == 1, line
        if n:
            assert units[n] and units[n][0] not in _NO_LINE_START, line
            # a line ends only where the next unit would not have fitted (a space may stand between)
            assert display_width(lines[n - 1]) + 1 + display_width(units[n][0]) > width, (lines[n - 1], units[n][0])


@SEEDS
def test_chinese_text_wraps_within_the_width_and_keeps_every_character(seed_value):
    run(_wraps_within_the_width, WRAPPED, seed_value)
