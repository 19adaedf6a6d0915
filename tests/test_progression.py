"""Progression dates: refractoriness by the IMWG definition (progression on therapy or within 60 days
of the last dose), three-valued, with the recorded flag as fallback and override."""

import pytest

from mmsequence import InputError, PartialDate, Policy, evaluate, parse_document
from mmsequence.course import line_refractory, refractory_by_date
from mmsequence.history import Line

from .builders import document, line


def refractory(progression, end="2025-06-30", **extra):
    """Teclistamab's refractoriness with a progression date (as_of 2026-03-01)."""
    doc = document(line("teclistamab", "2024-09-01", end, progression=progression, **extra), as_of="2026-03-01")
    assessment = evaluate(doc)
    (exposure,) = [e for e in assessment.course.exposures if e.agent.name == "teclistamab"]
    return exposure.refractory, assessment


@pytest.mark.parametrize("progression, expected", [
    ("2025-06-15", "yes"),   # on therapy
    ("2025-08-29", "yes"),   # the 60th day after the last dose
    ("2025-08-30", "no"),    # the 61st
    ("2025-08", "unknown"),  # 1-29 August within, 30-31 not
    ("2025-07", "yes"),      # every day of July is within
    ("2025-10", "no"),
])
def test_refractoriness_follows_the_60_day_window_three_valued(progression, expected):
    assert refractory(progression)[0] == expected


def test_an_ongoing_line_with_a_progression_is_refractory_on_therapy():
    assert refractory("2025-10-01", end=None)[0] == "yes"


def test_an_imprecise_last_dose_can_leave_it_open_too():
    assert refractory("2025-08-15", end="2025-06")[0] == "unknown"
    assert refractory("2025-07-15", end="2025-06")[0] == "yes"


def test_a_car_t_infusion_is_its_last_dose():
    car_t = Line(("ciltacabtagene autoleucel",), PartialDate.parse("2025-01-10"), PartialDate.parse("2025-01-10"))
    assert line_refractory(car_t, car_t.start, one_infusion=True, progression=PartialDate.parse("2025-02-20")).value == "yes"
    assert line_refractory(car_t, car_t.start, one_infusion=True, progression=PartialDate.parse("2025-09-20")).value == "no"
    # without a date, a CAR-T's progression says nothing
    assert line_refractory(Line(car_t.agents, car_t.start, stop_reason="progression"), car_t.start, one_infusion=True).value == "unknown"


def test_the_open_date_is_named():
    within = line_refractory(Line(("x",), PartialDate.parse("2024-01-01")), PartialDate.parse("2025-06-30"),
                             progression=PartialDate.parse("2025-08"))
    assert (within.value, within.open_date) == ("unknown", "progression")
    assert refractory_by_date(PartialDate.parse("2025-08-15"), PartialDate.parse("2025-06")) is None


def test_the_recorded_flag_overrides_the_date_and_a_contradiction_is_a_warning():
    value, assessment = refractory("2025-08-15", refractory=False)
    assert value == "no"
    assert ("lines[1].refractory: recorded false, but the progression on '2025-08-15' came within 60 days after the last "
            "dose (2025-06-30), so the line is refractory by the IMWG definition; the recorded value is used") in assessment.warnings
    value, assessment = refractory("2025-12-01", stop_reason="progression")
    assert value == "no"
    assert any(w.startswith("lines[1]: the progression on '2025-12-01' came more than 60 days") and
               "counts as relapsed, not refractory (for information" in w for w in assessment.warnings)
    # agreeing records say nothing
    assert not any("lines[1]" in w for w in refractory("2025-07-01", refractory=True, stop_reason="progression")[1].warnings)


def test_an_imprecise_progression_date_asks_for_the_exact_day_and_avoids_re_treatment():
    _, assessment = refractory("2025-08")
    (action,) = assessment.actions
    assert action.code == "record-progression-date" and action.facts["field"] == "lines[1].progression"
    assert action.text.startswith("Record the exact date of the progression after line 2 (teclistamab), now recorded as 2025-08")
    assert assessment.candidate("talquetamab").verdict == "acceptable"  # another target: nothing to avoid


@pytest.mark.parametrize("end, rule", [
    ("2025-03", "extended.same-target-refractory-uncertain"),  # progression 31-61 days after: open
    ("2025-03-28", "extended.same-target-refractory"),  # 34 days: refractory
    ("2025-03-01", None),  # 61 days: not refractory
])
def test_an_imprecise_last_dose_cautions_another_same_target_agent_as_its_worst_case(end, rule):
    # found by the property tests: the month-only end of elranatamab left refractoriness unknown,
    # and teclistamab was acceptable although every day from the 2nd on made it a caution
    doc = document(line("elranatamab", "2025-01-01", end, progression="2025-05-01"),
                   as_of="2025-09-30", candidates=["teclistamab"])
    policy = Policy(disabled_rules=("review.switch-target",))
    candidate = evaluate(doc, policy=policy).candidate("teclistamab")
    assert [f.rule for f in candidate.findings] == ([rule] if rule else [])
    assert candidate.verdict == ("caution" if rule else "acceptable")


@pytest.mark.parametrize("end, rule", [
    ("2016-01", "extended.tec-dara-anti-cd38-refractory-uncertain"),  # progression 31-61 days after: open
    ("2016-01-31", "extended.tec-dara-anti-cd38-refractory"),  # 31 days: refractory
    ("2016-01-01", None),  # 61 days: not refractory
])
def test_an_imprecise_anti_cd38_last_dose_cautions_the_combination_as_its_worst_case(end, rule):
    # found by the property tests: teclistamab with daratumumab was acceptable while every day of the
    # month but the first made the disease refractory to daratumumab, which MajesTEC-3 excluded
    doc = {"patient_id": "T-1", "as_of": "2016-03-02", "car_t_eligible": False,
           "lines": [{"agents": ["daratumumab"], "start": "2016-01-01", "end": end, "progression": "2016-03-02"}],
           "candidates": ["teclistamab and daratumumab"]}
    candidate = evaluate(doc).candidate("teclistamab and daratumumab")
    assert [f.rule for f in candidate.findings] == ([rule] if rule else [])
    assert candidate.verdict == ("caution" if rule else "acceptable")


def test_the_label_reads_lenalidomide_refractoriness_from_the_date():
    def cilta_cel(progression):
        doc = document(as_of="2026-03-01", jurisdiction="US", car_t_eligible=True, candidates=["cilta-cel"])
        doc["lines"] = [line(["bortezomib", "lenalidomide", "dexamethasone"], "2022-01-01", "2025-12-10", progression=progression)]
        return {f.rule for f in evaluate(doc).candidate("cilta-cel").findings}
    assert cilta_cel("2026-01-20") == {"review.car-t-first"}                      # 41 days after: refractory
    assert cilta_cel("2026-02") == {"review.car-t-first", "labels.cilta-cel-us"}  # 1-8 February within, 9-28 not: not confirmed


def test_progression_on_the_last_line_is_read_from_its_date():
    doc = document(line("teclistamab", "2024-09-01", "2025-06-30", progression="2025-12-01"), as_of="2026-03-01")
    assert evaluate(doc).derived["progression_on_last"] == "yes"


@pytest.mark.parametrize("progression, problem", [
    ("2024-08-31", "lines[1].progression: '2024-08-31' is before start '2024-09-01' (a progression on or after the line)"),
    ("2025-13", "lines[1].progression: '2025-13' is not a date"),
])
def test_a_progression_date_that_cannot_be_is_an_error_naming_its_field(progression, problem):
    with pytest.raises(InputError) as raised:
        parse_document(document(line("teclistamab", "2024-09-01", "2025-06-30", progression=progression)))
    assert list(raised.value.problems) == [problem]


def test_a_progression_after_as_of_is_an_error():
    with pytest.raises(InputError) as raised:
        evaluate(document(line("teclistamab", "2024-09-01", "2025-06-30", progression="2026-07-01"), as_of="2026-06-01"))
    assert list(raised.value.problems) == ["lines[1].progression: '2026-07-01' is after as_of 2026-06-01"]


def test_a_progression_date_reads_back_from_the_document_it_writes():
    history = parse_document(document(line("teclistamab", "2024-09-01", "2025-06-30", progression="2025-08")))
    assert history.to_document()["lines"][1]["progression"] == "2025-08"
    assert parse_document(history.to_document()) == history
