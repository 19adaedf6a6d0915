"""Decision points read from one chart: what the history holds the day before a TCRT starts."""

from __future__ import annotations

import datetime

from mmsequence.catalog import load_catalog
from mmsequence.omop.chart import ChartReader, PersonRecords, Row
from mmsequence.omop.decisions import ChartLines, decisions
from mmsequence.omop.mapping import omop_mapping
from mmsequence.omop.vocabulary import Ingredient, Vocabulary
from mmsequence.policy import policy_from_mapping

D = datetime.date
CATALOG = load_catalog()
MAPPING = omop_mapping(policy_from_mapping({"omop": {
    "myeloma": [1], "progression": [50], "car_t_eligible": {"concepts": [60], "yes": [61], "no": [62]},
    "overrides": [70], "apheresis": {80: "done"}}}, "site.yaml"))
VOCABULARY = Vocabulary({100 + i: (Ingredient(200 + i, name, "RxNorm", str(i)),) for i, name in enumerate(
    ("daratumumab", "lenalidomide", "dexamethasone", "teclistamab", "talquetamab", "ciltacabtagene autoleucel"))},
    {}, frozenset({1}))


def _drug(i: int, concept: int, start: D, end: D) -> Row:
    return Row("drug", i, concept, start, end)


def _chart(rows: list[Row]):
    return ChartReader(CATALOG, MAPPING, VOCABULARY).read(PersonRecords(7, tuple(rows)))


def test_each_tcrt_start_is_a_decision_with_the_history_of_the_day_before():
    rows = [_drug(1, 100, D(2022, 1, 1), D(2022, 1, 28)), _drug(2, 100, D(2022, 1, 29), D(2022, 6, 30)),  # one period
            _drug(3, 101, D(2022, 1, 1), D(2022, 6, 30)),
            Row("observation", 4, 50, D(2022, 7, 10)),  # progression after line 1
            Row("observation", 5, 60, D(2022, 7, 12), value_concept_id=61),
            _drug(6, 103, D(2022, 8, 1), D(2023, 3, 1)),  # teclistamab, still given on the next decision day
            Row("procedure", 7, 80, D(2022, 12, 1)),
            _drug(8, 105, D(2023, 1, 10), D(2023, 1, 10)),  # cilta-cel infusion
            Row("observation", 9, 70, D(2023, 1, 10), value_text="review.interval:rapid-progression"),
            Row("condition", 10, 1, D(2021, 12, 1)), Row("measurement", 11, 999, D(2022, 2, 1))]
    chart = _chart(rows)
    assert chart.unmapped == {("measurement", 999, "not mapped"): 1}
    first, second = decisions(ChartLines.of(chart), CATALOG, MAPPING)
    assert (first.day, first.therapy, first.line) == (D(2022, 8, 1), "teclistamab", 2)
    (line,) = first.history.lines
    assert line.agents == ("daratumumab", "lenalidomide") and str(line.end) == "2022-06-30"
    assert line.stop_reason == "progression" and first.history.car_t_eligible is True
    assert first.history.as_of == D(2022, 7, 31) and first.history.candidates[0] == "teclistamab"
    assert (second.day, second.therapy, second.line) == (D(2023, 1, 10), "ciltacabtagene autoleucel", 3)
    assert second.history.lines[1].agents == ("teclistamab",) and second.history.lines[1].end is None  # ongoing
    assert [a.status for a in second.history.apheresis] == ["done"]
    assert [(o.rule, o.candidate, o.reason) for o in second.history.overrides] == \
        [("review.interval", "ciltacabtagene autoleucel", "rapid-progression")]


def test_disagreeing_records_of_one_day_leave_eligibility_unknown_and_a_bad_override_is_a_warning():
    rows = [_drug(1, 104, D(2023, 1, 1), D(2023, 2, 1)),
            Row("observation", 2, 60, D(2022, 12, 1), value_concept_id=61),
            Row("observation", 3, 60, D(2022, 12, 1), value_concept_id=62),
            Row("observation", 4, 70, D(2023, 1, 1), value_text="no colon here")]
    (decision,) = decisions(ChartLines.of(_chart(rows)), CATALOG, MAPPING)
    assert decision.history.car_t_eligible is None and decision.history.overrides == ()
    assert any("observation/4" in w and "override not used" in w for w in decision.history.warnings)
