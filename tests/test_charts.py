"""The metamorphic property of real charts: the FHIR chart an EHR writes, with its supportive care,
premedication, CRS management, G-CSF, lymphodepletion, conditioning, harvests, orders without end
dates, RxNorm-only codes and partial dates, gives the same verdicts, wait dates and prior-line
count as the clean document of the same care."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings

from mmsequence import evaluate, load_policy
from mmsequence.policy import policy_from_mapping
from mmsequence.testing.charts import COMMON_DRUGS, POLICY, realistic_charts

from .profiles import SEEDS, VALIDATION, run

BASE = load_policy()
POLICIES = {j: policy_from_mapping(POLICY | {"jurisdiction": j}, f"chart policy {j}", BASE) for j in (None, "US", "EU")}
#: At least 1,000 charts per seed under the CI profile (2,000 examples there; 100 under dev).
CHARTS = settings(VALIDATION, max_examples=max(VALIDATION.max_examples // 2, 50))


def _verdicts(assessment):
    return {c.therapy: (c.verdict, c.earliest_date) for c in assessment.candidates}


def _same_verdicts(case):
    (document, bundle), jurisdiction = case
    policy = POLICIES[jurisdiction]
    clean, noisy = evaluate(document, policy=policy), evaluate(bundle, policy=policy)
    assert noisy.derived["prior_lines"] == clean.derived["prior_lines"] == len(document["lines"]), (
        noisy.derived["fhir"]["lines"])
    assert _verdicts(noisy) == _verdicts(clean)
    assert noisy.derived["unknown_agents"] == []


@SEEDS
def test_a_noisy_chart_gives_the_clean_documents_verdicts(seed_value):
    run(_same_verdicts, st.tuples(realistic_charts(), st.sampled_from(sorted(POLICIES, key=str))), seed_value,
        settings_=CHARTS)


def _drugs_of_other_conditions_change_nothing(case):
    (_document, bundle), jurisdiction = case
    _same_verdicts(case)
    noisy = evaluate(bundle, policy=POLICIES[jurisdiction])
    names = {n["drug"] for n in noisy.derived["not_anti_myeloma_therapy"]}
    written = {e["resource"]["medicationCodeableConcept"]["text"] for e in bundle["entry"]
               if e["resource"].get("medicationCodeableConcept", {}).get("text") in COMMON_DRUGS}
    assert written and written <= names  # each is listed as not therapy, none is a line


@SEEDS
def test_drugs_of_other_conditions_leave_the_verdicts_of_the_clean_history(seed_value):
    run(_drugs_of_other_conditions_change_nothing,
        st.tuples(realistic_charts(common_drugs=True), st.sampled_from(sorted(POLICIES, key=str))), seed_value,
        settings_=CHARTS)
