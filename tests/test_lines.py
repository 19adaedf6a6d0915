"""Lines of therapy by the IMWG definition: the one derivation the FHIR path (and later OMOP) reads."""

from __future__ import annotations

import pytest

from mmsequence import evaluate
from mmsequence.catalog import load_catalog
from mmsequence.dates import PartialDate
from mmsequence.lines import Event, derive_lines

CATALOG = load_catalog()


def drug(source: str, name: str, start: str, end: str | None = "same", stop: str | None = None) -> Event:
    agent = CATALOG.lookup(name)
    first = PartialDate.parse(start)
    last = first if end == "same" else None if end is None else PartialDate.parse(end)
    return Event("drug", first, source, agent.name if agent else name, last, agent, stop_reason=stop)


def event(kind: str, source: str, day: str, name: str = "") -> Event:
    return Event(kind, PartialDate.parse(day), source, name or kind)


def car_t(source: str, day: str, product: str = "cilta-cel") -> Event:
    agent = CATALOG.lookup(product)
    return Event("car-t-infusion", PartialDate.parse(day), source, agent.name, PartialDate.parse(day), agent)


def the_chart() -> list[Event]:
    """Dara-VRd induction, ASCT with melphalan and lenalidomide maintenance; KPd after progression;
    teclistamab known to the month; and the supportive care around them, orders without end dates."""
    return [
        *(drug(f"ind-{n}", n, "2021-01-05", "2021-05-20") for n in ("daratumumab", "bortezomib", "lenalidomide", "dexamethasone")),
        drug("acv", "acyclovir", "2021-01-05", None), drug("asa", "aspirin", "2021-01-05", None),
        drug("ond", "ondansetron", "2021-01-05", None), drug("tmp", "Bactrim", "2021-01-05", None),
        drug("gcsf", "filgrastim", "2021-06-01", "2021-06-05"), drug("plx", "plerixafor", "2021-06-04"),
        event("stem-cell-harvest", "harvest", "2021-06-05"),
        drug("mel", "melphalan", "2021-07-01"), event("stem-cell-infusion", "asct", "2021-07-03"),
        drug("len-m", "lenalidomide", "2021-09-15", "2023-02-10", stop="progression"),
        drug("zol", "zoledronic acid", "2021-10-01", None), drug("api", "apixaban", "2022-01-01", None),
        *(drug(f"kpd-{n}", n, "2023-03-01", "2024-04-30", stop="progression")
          for n in ("carfilzomib", "pomalidomide", "dexamethasone")),
        drug("tec", "teclistamab", "2024-06-03", "2025-03", stop="progression"),
        *(drug(f"premed-{d}", "dexamethasone", d) for d in ("2024-06-03", "2024-06-05", "2024-06-07")),
        drug("toci", "tocilizumab", "2024-06-06"), drug("gcsf2", "filgrastim", "2024-09-10"),
        drug("ivig", "IVIG", "2024-10-01", None),
    ]


def test_the_charts_three_lines_each_with_why_it_started():
    reading = derive_lines(the_chart())
    assert [line.agents for line in reading.lines] == [
        ("bortezomib", "daratumumab", "lenalidomide", "dexamethasone"),
        ("carfilzomib", "pomalidomide", "dexamethasone"),
        ("teclistamab",),
    ]
    first, second, third = reading.lines
    assert first.transplant and "autologous stem-cell transplant 2021-07-03 (asct) planned with it" in first.reason
    assert [m.event.source for m in first.members if m.part == "conditioning"] == ["mel"]
    assert second.reason == "lenalidomide stopped for progression (len-m); carfilzomib started 2023-03-01"
    assert third.reason == "carfilzomib stopped for progression (kpd-carfilzomib); teclistamab started 2024-06-03"
    assert [h.source for h in reading.harvests] == ["harvest"]


def test_supportive_care_premedication_and_crs_management_are_set_aside_and_listed():
    reading = derive_lines(the_chart())
    roles = {a.event.source: a.role for a in reading.set_aside}
    assert roles == {
        "acv": "supportive", "asa": "supportive", "ond": "supportive", "tmp": "supportive", "gcsf": "supportive",
        "plx": "supportive", "zol": "supportive", "api": "supportive", "toci": "crs-management",
        "gcsf2": "supportive", "ivig": "supportive", "premed-2024-06-03": "premedication",
        "premed-2024-06-05": "premedication", "premed-2024-06-07": "premedication",
    }
    assert not any(m.event.source.startswith("premed") for line in reading.lines[:2] for m in line.members)


def test_a_filgrastim_dose_never_splits_a_line():
    events = [drug("tec1", "teclistamab", "2024-06-03", "2024-09-01"), drug("g", "filgrastim", "2024-09-10"),
              drug("tec2", "teclistamab", "2024-09-15", "2025-01-10")]
    assert [line.agents for line in derive_lines(events).lines] == [("teclistamab",)]


@pytest.mark.parametrize("restart", ["2020-05", "2020-05-20", "2020"])
def test_the_same_regimen_restarted_after_a_stop_for_progression_is_a_new_line_on_any_day_it_may_start(restart):
    # found by the chart property: KPd stopped on 2020-05-01 for progression and given again "2020-05"
    # was read as one line, because the month's first day is not after the stop
    kpd = ("carfilzomib", "pomalidomide", "dexamethasone")
    events = [*(drug(f"a-{n}", n, "2018-09-26", "2020-05-01", stop="progression") for n in kpd),
              *(drug(f"b-{n}", n, restart, None) for n in kpd)]
    reading = derive_lines(events)
    assert [line.agents for line in reading.lines] == [kpd, kpd]
    assert "stopped for progression" in reading.lines[1].reason


def test_a_month_only_stop_for_progression_still_keeps_the_regimen_started_with_it():
    kpd = ("carfilzomib", "pomalidomide", "dexamethasone")
    events = [*(drug(f"a-{n}", n, "2018-09-26", "2020-05", stop="progression") for n in kpd)]
    assert [line.agents for line in derive_lines(events).lines] == [kpd]


def test_lymphodepletion_and_bridging_belong_to_the_car_t_line():
    events = [
        drug("vrd", "bortezomib", "2022-01-01", "2023-01-01", stop="progression"),
        event("t-cell-collection", "aph", "2023-02-01"),
        drug("tal", "talquetamab", "2023-02-10", "2023-04-20"),
        drug("flu", "fludarabine", "2023-05-01", "2023-05-03"), drug("cy", "cyclophosphamide", "2023-05-01", "2023-05-03"),
        car_t("inf", "2023-05-06"),
        drug("dex", "dexamethasone", "2023-05-09"), drug("toci", "tocilizumab", "2023-05-08"),
    ]
    reading = derive_lines(events)
    assert len(reading.lines) == 2
    car_t_line = reading.lines[1]
    assert {m.event.source: m.part for m in car_t_line.members} == {
        "aph": "collection", "inf": "infusion", "tal": "bridging", "flu": "lymphodepletion", "cy": "lymphodepletion",
    }
    assert {a.event.source: a.role for a in reading.set_aside} == {"dex": "crs-management", "toci": "crs-management"}


def test_cyclophosphamide_outside_lymphodepletion_is_anti_myeloma_therapy():
    reading = derive_lines([drug("cy", "cyclophosphamide", "2022-01-01", "2022-03-01")])
    assert [line.agents for line in reading.lines] == [("cyclophosphamide",)]


def test_a_regimen_resumed_after_a_planned_pause_is_a_new_line():
    events = [drug("a", "daratumumab", "2020-01-01", "2020-06-01"), drug("b", "daratumumab", "2021-01-15", "2021-05-01")]
    lines = derive_lines(events).lines
    assert len(lines) == 2 and lines[1].reason.startswith("treatment resumed: daratumumab restarted 2021-01-15")


def test_an_order_without_an_end_ends_when_the_next_line_starts():
    reading = derive_lines([drug("k", "carfilzomib", "2023-03-01", None), drug("t", "teclistamab", "2024-06-03", None)])
    kpd = reading.lines[0].members[0]
    assert kpd.end is not None and kpd.end.latest.isoformat() == "2024-06-03"
    assert any("k: carfilzomib has no end date" in w for w in reading.warnings)


def test_an_unknown_drug_still_forms_a_line():
    events = [drug("v", "bortezomib", "2020-01-01", "2020-06-01"), drug("x", "Mystery-mab", "2021-01-01", "2021-02-01")]
    assert [line.agents for line in derive_lines(events).lines] == [("bortezomib",), ("Mystery-mab",)]


# --- the JSON path: document lines as written, supportive care never counted ---------------------------

BASE = {"patient_id": "L-1", "as_of": "2026-01-10", "jurisdiction": "EU", "car_t_eligible": False,
        "candidates": ["talquetamab", "teclistamab"]}


def _line(agents, start, end, **extra):
    return {"agents": agents, "start": start, "end": end, **extra}


@pytest.mark.parametrize("supportive", [["acyclovir"], ["aspirin", "tocilizumab"], ["IVIG"], ["Neupogen", "Zofran"]])
def test_supportive_drugs_in_a_document_line_are_listed_not_unknown(supportive):
    document = BASE | {"lines": [_line(["bortezomib", "lenalidomide", "dexamethasone", *supportive], "2022-01-01", "2022-12-31",
                                       stop_reason="progression")]}
    assessment = evaluate(document)
    assert "indeterminate" not in {c.verdict for c in assessment.candidates}
    listed = [n["drug"] for n in assessment.derived["not_anti_myeloma_therapy"]]
    assert len(listed) == len(supportive) and assessment.derived["unknown_agents"] == []


def test_a_document_line_of_supportive_drugs_only_counts_for_nothing():
    lines = [_line(["bortezomib", "lenalidomide", "dexamethasone"], "2022-01-01", "2022-12-31"),
             _line(["acyclovir", "aspirin"], "2023-01-01", "2023-06-01")]
    assessment = evaluate(BASE | {"lines": lines})
    assert assessment.derived["prior_lines"] == 1
    assert "lines[1]: holds no anti-myeloma drug (acyclovir, aspirin); not counted as a line" in assessment.warnings


def test_a_dexamethasone_pulse_is_not_the_last_line():
    lines = [_line(["daratumumab", "pomalidomide", "dexamethasone"], "2023-01-01", "2025-06-01", stop_reason="progression"),
             _line(["dexamethasone"], "2025-09-01", "2025-09-04", stop_reason="completed")]
    assessment = evaluate(BASE | {"lines": lines})
    assert (assessment.derived["prior_lines"], assessment.derived["progression_on_last"]) == (1, "yes")


def test_an_unknown_drug_makes_a_wait_not_confident_and_says_so_first():
    lines = [_line(["teclistamab"], "2025-01-15", "2025-10-15", stop_reason="progression"),
             _line(["Mystery-mab"], "2025-11-01", "2025-11-20")]
    assessment = evaluate(BASE | {"lines": lines})
    talquetamab = assessment.candidate("talquetamab")
    assert talquetamab.verdict == "indeterminate" and talquetamab.earliest_date is None
    interval = next(f for f in talquetamab.findings if f.rule == "review.interval")
    assert interval.effect == "indeterminate"
    assert "not a confident wait while the agent catalog does not know Mystery-mab (line 2)" in interval.message
    (action,) = assessment.actions  # said first: identify the drug, or add it to the site policy
    assert action.code == "classify-agent" and action.text.startswith("Identify Mystery-mab (line 2):")
    assert list(assessment.to_dict())[:3] == ["patient_id", "as_of", "actions"]
