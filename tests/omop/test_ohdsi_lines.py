"""The OHDSI myeloma line logic (ETL-LambdaBuilder docs/MM_treatment_Episodes.md), rule by rule,
and how it differs from the IMWG reading on charts a clinician reads one way."""

from __future__ import annotations

import datetime

from mmsequence.catalog import load_catalog
from mmsequence.dates import PartialDate
from mmsequence.lines import Event, derive_lines
from mmsequence.omop.episodes import disagreements, imwg_spans, ohdsi_spans
from mmsequence.omop.ohdsi_lines import codeset, ohdsi_lines, regimens

CATALOG = load_catalog()
DAY = datetime.date(2020, 1, 1)


def _on(days: int) -> PartialDate:
    return PartialDate.of(DAY + datetime.timedelta(days=days))


def drug(name: str, start: int, end: int) -> Event:
    return Event("drug", _on(start), f"drug_exposure/{name}-{start}", name, _on(end), CATALOG.lookup(name))


def shape(events: list[Event]) -> list[str]:
    return [line.source_value for line in ohdsi_lines(events, codeset(CATALOG))]


def test_the_codeset_is_the_documents_and_leaves_dexamethasone_out():
    names = codeset(CATALOG)
    assert {"bortezomib", "lenalidomide", "teclistamab", "ciltacabtagene autoleucel", "fludarabine"} <= names
    assert "dexamethasone" not in names and "linvoseltamab" not in names


def test_drugs_started_within_30_days_are_one_regimen_and_dexamethasone_is_not_in_it():
    events = [drug("bortezomib", 0, 200), drug("lenalidomide", 20, 200), drug("dexamethasone", 0, 200)]
    (regimen,) = regimens(events, codeset(CATALOG))
    assert (regimen.name, regimen.start, regimen.end) == ("bortezomib, lenalidomide", DAY, DAY + datetime.timedelta(days=200))


def test_a_drug_added_after_30_days_ends_the_regimen_the_day_before_and_starts_a_new_line():
    events = [drug("bortezomib", 0, 300), drug("selinexor", 120, 300)]
    assert [(r.name, r.end) for r in regimens(events, codeset(CATALOG))] == [
        ("bortezomib", DAY + datetime.timedelta(days=119)), ("bortezomib, selinexor", DAY + datetime.timedelta(days=300))]
    assert shape(events) == ["bortezomib", "bortezomib, selinexor"]


def test_an_imid_or_pi_added_within_90_days_stays_in_the_line():
    events = [drug("daratumumab", 0, 300), drug("bortezomib", 0, 300), drug("lenalidomide", 60, 300)]
    assert shape(events) == ["bortezomib, daratumumab then bortezomib, daratumumab, lenalidomide"]
    # a second PI is not an addition of a missing group: a new line
    assert len(shape([drug("daratumumab", 0, 300), drug("bortezomib", 0, 300), drug("carfilzomib", 60, 300)])) == 2


def test_a_gap_of_more_than_90_days_discontinues_a_drug():
    joined = [drug("pomalidomide", 0, 100), drug("pomalidomide", 180, 300)]  # 80 days apart: one era
    assert [r.name for r in regimens(joined, codeset(CATALOG))] == ["pomalidomide"]
    apart = [drug("pomalidomide", 0, 100), drug("pomalidomide", 200, 300)]  # 100 days apart
    assert len(regimens(apart, codeset(CATALOG))) == 2


def test_lenalidomide_maintenance_after_a_polytherapy_joins_its_line():
    events = [drug("bortezomib", 0, 120), drug("lenalidomide", 0, 120), drug("lenalidomide", 250, 500)]
    assert shape(events) == ["bortezomib, lenalidomide then lenalidomide"]
    # pomalidomide alone is not a maintenance drug: a new line
    assert len(shape([drug("bortezomib", 0, 120), drug("lenalidomide", 0, 120), drug("pomalidomide", 250, 500)])) == 2


def test_induction_transplant_and_maintenance_are_one_line():
    asct = Event("stem-cell-infusion", _on(200), "procedure_occurrence/1", "autologous stem cell transplant")
    events = [drug("bortezomib", 0, 120), drug("lenalidomide", 0, 120), drug("melphalan", 198, 198), asct,
              drug("lenalidomide", 290, 700)]
    assert shape(events) == ["bortezomib, lenalidomide then melphalan then stem cell transplant then lenalidomide"]


def test_collection_lymphodepletion_and_car_t_are_one_line():
    events = [drug("teclistamab", 0, 100),
              Event("t-cell-collection", _on(200), "procedure_occurrence/2", "T-cell collection"),
              drug("cyclophosphamide", 240, 242), drug("fludarabine", 240, 242),
              Event("car-t-infusion", _on(245), "drug_exposure/9", "ciltacabtagene autoleucel", _on(245),
                    CATALOG.lookup("cilta-cel"))]
    assert shape(events) == ["teclistamab", "apheresis then cyclophosphamide, fludarabine then ciltacabtagene autoleucel"]


def test_a_regimen_given_again_after_progression_is_one_line_for_ohdsi_and_two_for_imwg():
    """The kind of disagreement seen most on realistic charts: the OHDSI logic reads no progression."""
    events = [drug("isatuximab", 0, 200), drug("pomalidomide", 0, 200),
              Event("progression", _on(195), "observation/1", "progression"),
              drug("isatuximab", 260, 500), drug("pomalidomide", 260, 500)]
    imwg, ohdsi = imwg_spans(derive_lines(events)), ohdsi_spans(ohdsi_lines(events, codeset(CATALOG)))
    assert (len(imwg), len(ohdsi)) == (2, 1)
    assert disagreements(imwg, ohdsi, codeset(CATALOG), "the OHDSI logic") == ["fewer lines in the OHDSI logic"]


def test_a_bsab_outside_the_codeset_is_a_line_only_imwg_sees():
    events = [drug("bortezomib", 0, 100), drug("lenalidomide", 0, 100), drug("linvoseltamab", 300, 400)]
    imwg, ohdsi = imwg_spans(derive_lines(events)), ohdsi_spans(ohdsi_lines(events, codeset(CATALOG)))
    assert disagreements(imwg, ohdsi, codeset(CATALOG), "the OHDSI logic") == [
        "an IMWG line holds no drug the OHDSI logic counts"]


def test_identical_readings_have_no_disagreement():
    events = [drug("bortezomib", 0, 100), drug("lenalidomide", 0, 100), drug("dexamethasone", 1, 100),
              drug("teclistamab", 300, 400)]
    imwg, ohdsi = imwg_spans(derive_lines(events)), ohdsi_spans(ohdsi_lines(events, codeset(CATALOG)))
    assert len(imwg) == 2 and disagreements(imwg, ohdsi, codeset(CATALOG)) == []


def test_drugs_before_the_first_myeloma_diagnosis_are_not_read():
    events = [drug("cyclophosphamide", 0, 10), drug("bortezomib", 100, 200)]
    diagnosis = DAY + datetime.timedelta(days=50)
    assert [line.source_value for line in ohdsi_lines(events, codeset(CATALOG), diagnosis)] == ["bortezomib"]
