"""The facts the engine is given are the typed classes of :mod:`mmsequence.fact_fields`: for drawn
histories every patient and candidate fact names only their fields, each value of the field's type,
and the rule files name only those fields."""

from __future__ import annotations

import types
import typing
from typing import Any

from mmsequence import Evaluator, load_policy
from mmsequence._facts import engine_facts
from mmsequence.actions import CODES
from mmsequence.course import derive_course
from mmsequence.fact_fields import (
    CANDIDATE_FIELDS,
    LINE_AND_CLOCK_FIELDS,
    MISSING_FACTS,
    PATIENT_FIELDS,
    CandidateFacts,
    PatientFacts,
)
from mmsequence.rulebook import fields_used, shipped_rulebook
from mmsequence.testing.strategies import patient_histories

from .profiles import SEEDS, run

EVALUATOR = Evaluator(load_policy())
HINTS = {cls: typing.get_type_hints(cls) for cls in (PatientFacts, CandidateFacts)}


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _typed(fact: dict[str, Any], cls: type) -> None:
    hints = HINTS[cls]
    assert set(fact) <= set(hints), set(fact) - set(hints)
    wrong = {name: value for name, value in fact.items() if not _fits(value, hints[name])}
    assert not wrong, (cls.__name__, wrong)


def _facts_are_typed(document: dict[str, Any]) -> None:
    history = EVALUATOR.read(document)
    course = derive_course(history, EVALUATOR.catalog, EVALUATOR.policy, history.as_of)
    facts = engine_facts(course)
    _typed({**facts.patient, "sid": "s"}, PatientFacts)
    assert set(facts.patient) | {"sid"} == set(PATIENT_FIELDS)
    for _, fact in facts.candidates:
        _typed({**fact, "sid": "s"}, CandidateFacts)


@SEEDS
def test_every_fact_has_the_fields_and_types_of_its_class(seed_value):
    run(_facts_are_typed, patient_histories(), seed_value)


def test_rules_name_only_fact_fields_and_the_metadata_lists_what_the_adapters_read():
    bindings = {"patient": set(PATIENT_FIELDS), "candidate": set(CANDIDATE_FIELDS)}
    used = {ref for rule in shipped_rulebook().rules for ref in fields_used(rule)}
    assert used and all(field in bindings[binding] for binding, field in used)
    assert MISSING_FACTS and set(MISSING_FACTS.values()) <= set(CODES)
    # what an unidentified drug can change: the line count and the clocks, never the record's own answers
    assert {"prior_lines", "interval", "washout"} <= LINE_AND_CLOCK_FIELDS
    assert not LINE_AND_CLOCK_FIELDS & set(MISSING_FACTS)
