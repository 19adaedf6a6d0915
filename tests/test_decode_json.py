"""Decoding JSON the fast way gives what checking every object gives: the value, or the same error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mmsequence.documents import ReadLimits, _unique_keys, check_limits, decode_json, read_document
from mmsequence.errors import MmsequenceError

_TEXT = st.text(alphabet=":ab\\\"é", max_size=4)
_KEYS = st.lists(st.tuples(_TEXT, st.booleans()), max_size=4)  # (key, given twice)
_LIMITS = ReadLimits(max_depth=4, max_items=3, max_string_chars=3)


def _json(value: Any, draw: Any) -> str:
    """``value`` as JSON text, some keys given twice and some colons written as escapes."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # an object: (key, twice, child)
        pairs = []
        for key, twice, child in value:
            text = json.dumps(key)
            if draw(st.booleans()):
                text = text.replace(":", "\\u003a")
            pairs += [f"{text}: {_json(child, draw)}"] * (2 if twice else 1)
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v, draw) for v in value) + "]"
    return json.dumps(value)


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda children: st.lists(children, max_size=4)
    | st.lists(st.tuples(_TEXT, st.booleans(), children), min_size=1, max_size=4),
    max_leaves=12,
)


def _reference(text: str, limits: ReadLimits) -> Any:
    """What checking each object's keys, then every limit, says of ``text``."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as error:
        return ("error", type(error).__name__)
    try:  # a subclass at the top: the value takes the walk that names each problem, never the fast check
        check_limits(type("Slow", (type(value),), {})(value) if isinstance(value, (dict, list)) else value, "doc", limits)
    except MmsequenceError as error:
        return ("error", error.problems)
    return value


def _decoded(text: str, limits: ReadLimits) -> Any:
    try:
        return decode_json(text, "doc", limits)
    except MmsequenceError as error:
        problems = error.problems
        return ("error", "_DuplicateKey") if "given twice" in problems[0] else ("error", problems)


def test_the_fast_check_of_the_limits_steps_aside_for_any_doubt():
    deep: Any = []
    for _ in range(6):
        deep = [deep]
    assert _decoded(json.dumps(deep), _LIMITS) == ("error", ("doc: [0][0][0][0]: nested deeper than 4 levels"
                                                            " (limit max_depth)",))


def test_text_nested_past_any_decoder_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / "deep.json"
    for opening, closing in ((b"[", b"]"), (b'{"resourceType": "Bundle", "entry": [', b"]}")):
        path.write_bytes(opening + b"[" * 100_000 + b"]" * 100_000 + closing)
        try:
            read_document(path)
        except MmsequenceError as error:
            assert "limit max_depth" in error.problems[0]
        else:
            raise AssertionError("read")


@given(_VALUES, st.booleans(), st.data())
def test_the_fast_decoding_agrees_with_checking_every_object(value, tight, data):
    limits = _LIMITS if tight else ReadLimits()
    text = data.draw(st.sampled_from(["", " ", "\n\t"])) + _json(value, data.draw)
    assert _decoded(text, limits) == _reference(text, limits)
