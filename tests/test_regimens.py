"""Regimens as candidates: how they are named, what they are to the rules, and what a bad one says."""

from pathlib import Path

import pytest

from mmsequence import InputError, evaluate, parse_document
from mmsequence.catalog import CatalogError, load_catalog

from .builders import document, line

TEC = line("teclistamab", "2025-01-01", "2025-12-15", stop_reason="progression")
TEC_DARA = "teclistamab and daratumumab"


def candidate(doc, name):
    return evaluate(doc).candidate(name)


@pytest.mark.parametrize("written", [
    "Tec-Dara", "tec dara", "teclistamab + daratumumab", "Tecvayli + Darzalex Faspro", "daratumumab+teclistamab",
    TEC_DARA, {"agents": ["teclistamab", "daratumumab"]}, {"agents": ["Tecvayli", "dara"], "name": "Tec-Dara"},
])
def test_every_way_of_naming_the_combination_gives_the_same_therapy(written):
    doc = document(TEC, as_of="2026-03-01", candidates=[written])
    (assessed,) = evaluate(doc).candidates
    reference = evaluate(document(TEC, as_of="2026-03-01", candidates=["Tec-Dara"])).candidates[0]
    assert (assessed.therapy, assessed.agents, assessed.target, assessed.modality) == (
        TEC_DARA, ("teclistamab", "daratumumab"), ("BCMA", "CD38"), "bsab")
    assert [(f.rule, f.message) for f in assessed.findings] == [(f.rule, f.message) for f in reference.findings]
    assert assessed.to_dict()["agents"] == ["teclistamab", "daratumumab"]


def test_a_regimen_is_a_tcrt_through_its_bsab_and_every_sequencing_rule_applies():
    # two and a half months after teclistamab, apheresis planned, CAR-T eligible
    doc = document(TEC, as_of="2026-03-01", car_t_eligible=True, candidates=["Tec-Dara", "teclistamab"],
                   apheresis=[{"status": "planned", "date": "2026-07-01"}])
    regimen, alone = candidate(doc, "Tec-Dara"), candidate(doc, "teclistamab")
    wanted = {"review.interval", "review.no-bsab-before-apheresis", "review.car-t-first-bsab", "review.switch-target"}
    assert wanted <= {f.rule for f in regimen.findings} and wanted <= {f.rule for f in alone.findings}
    assert (regimen.verdict, regimen.earliest_date) == (alone.verdict, alone.earliest_date)


def test_a_dual_target_regimen_re_uses_only_the_target_an_earlier_tcrt_used():
    doc = document(TEC, as_of="2026-07-01", candidates=[{"agents": ["talquetamab", "teclistamab"]}])
    (assessed,) = evaluate(doc).candidates
    switch = next(f for f in assessed.findings if f.rule == "review.switch-target")
    assert switch.message.startswith("BCMA was already targeted by teclistamab (line 2)")
    assert assessed.target == ("BCMA", "GPRC5D")


def test_a_dual_target_regimen_uses_up_both_targets_for_the_reserve():
    cevostamab = line("cevostamab", "2024-01-01", "2024-12-31")
    doc = document(cevostamab, candidates=["talquetamab", "talquetamab + teclistamab"])
    assessment = evaluate(doc)
    assert "review.reserve" not in {f.rule for f in assessment.candidate("talquetamab").findings}
    regimen = assessment.candidate("talquetamab + teclistamab")
    assert {f.rule for f in regimen.findings} == {"review.reserve", "extended.investigational"}
    assert [c.query for c in assessment.candidates] == ["talquetamab", "talquetamab + teclistamab"]


def test_antigen_loss_of_one_target_rules_out_a_regimen_that_holds_it():
    doc = document(candidates=["talquetamab + teclistamab"], biomarkers={"gprc5d_loss": True})
    assert candidate(doc, "talquetamab + teclistamab").verdict == "avoid"


def test_re_treatment_is_judged_on_the_regimen_s_t_cell_redirecting_drug():
    doc = document(line("teclistamab", "2024-01-01", "2025-03-01", refractory=True),
                   line(["daratumumab", "pomalidomide", "dexamethasone"], "2025-04-01", "2025-09-30", refractory=True),
                   candidates=["Tec-Dara", "Tal-D"])
    tec_dara, tal_d = candidate(doc, "Tec-Dara"), candidate(doc, "Tal-D")
    retreatment = next(f for f in tec_dara.findings if f.rule == "extended.refractory-retreatment")
    assert retreatment.message.startswith("The disease was refractory to teclistamab in line 2:")
    # refractory to daratumumab is no re-treatment with the bispecific of Tal-D
    assert "extended.refractory-retreatment" not in {f.rule for f in tal_d.findings}


def test_a_combination_the_catalog_does_not_name_is_investigational():
    (assessed,) = evaluate(document(candidates=["elranatamab + daratumumab"])).candidates
    assert assessed.therapy == "elranatamab and daratumumab"
    assert [f.rule for f in assessed.findings] == ["extended.investigational"]


def test_a_regimen_with_a_drug_the_catalog_does_not_know_is_an_unknown_candidate():
    assessment = evaluate(document(candidates=["teclistamab + fooximab"]))
    (assessed,) = assessment.candidates
    assert (assessed.verdict, [f.rule for f in assessed.findings]) == ("indeterminate", ["safety.unknown-candidate"])
    assert "candidate teclistamab + fooximab: not in the agent catalog" in assessment.warnings


@pytest.mark.parametrize("candidates, problem", [
    (["Tec-Dara", "teclistamab + daratumumab"], "candidates[1]: 'teclistamab + daratumumab' names the same therapy as candidates[0]"),
    (["cilta-cel + daratumumab"], "candidates[0]: 'cilta-cel + daratumumab' holds a CAR-T, which is given on its own"),
    (["teclistamab + tec"], "candidates[0]: 'teclistamab + tec' names one drug twice"),
    (["teclistamab + "], "candidates[0]: 'teclistamab +' has an empty drug name between its '+'"),
    ([{"agents": ["talquetamab", "daratumumab"], "name": "Tec-Dara"}],
     "candidates[0].name: 'Tec-Dara' is the regimen 'teclistamab and daratumumab', whose agents differ"),
])
def test_a_candidate_regimen_that_cannot_be_right_is_an_error_naming_its_field(candidates, problem):
    with pytest.raises(InputError) as raised:
        evaluate(document(candidates=candidates))
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


@pytest.mark.parametrize("written, problem", [
    ({"agents": ["teclistamab"]}, "candidates[0].agents: a regimen holds at least two agents"),
    ({"agents": ["teclistamab", "daratumumab"], "colour": "red"}, "candidates[0].colour: unknown field"),
    ({"name": "Tec-Dara"}, "candidates[0].agents: is required"),
    ({"agents": ["teclistamab", 3]}, "candidates[0].agents[1]: expected a non-empty string"),
])
def test_a_malformed_structured_candidate_names_its_field(written, problem):
    with pytest.raises(InputError) as raised:
        parse_document(document(candidates=[written]))
    assert any(p.startswith(problem) for p in raised.value.problems), raised.value.problems


def test_a_structured_candidate_reads_back_from_the_document_it_writes():
    doc = document(candidates=[{"agents": ["teclistamab", "daratumumab"], "name": "Tec-Dara"}, "talquetamab"])
    history = parse_document(doc)
    assert parse_document(history.to_document()) == history
    assert history.to_document()["candidates"] == doc["candidates"]


def _catalog_with(tmp_path: Path, regimen: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "version: 1\nagents:\n"
        "  - {name: teclistamab, synonyms: [Tecvayli], targets: [BCMA], modality: bsab, class: t-cell-engager, status: approved, role: anti-myeloma}\n"
        "  - {name: daratumumab, synonyms: [dara], targets: [CD38], modality: conventional, class: anti-cd38, status: approved, role: anti-myeloma}\n"
        f"regimens:\n  - {regimen}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("regimen, problem", [
    ("{name: x, agents: [teclistamab, daratumumab], abbreviations: [dara]}", "regimens[0].abbreviations[0]: 'dara' is also a name of the agent 'daratumumab'"),
    ("{name: x, agents: [teclistamab, daratumumab], abbreviations: [X], status: sold}", "regimens[0].status: 'sold' is not one of"),
    ("{name: x, agents: [teclistamab, daratumumab], abbreviations: [], source: [1]}", "regimens[0].source[0]: 1 is not a non-empty string"),
])
def test_a_regimen_name_that_clashes_or_a_bad_status_is_a_catalog_error(tmp_path, regimen, problem):
    with pytest.raises(CatalogError) as raised:
        load_catalog(_catalog_with(tmp_path, regimen))
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_the_catalog_names_the_t_cell_redirecting_combinations_with_status_and_source():
    catalog = load_catalog()
    tec_dara = catalog.regimen_named("Tec-Dara")
    assert (tec_dara.name, tec_dara.status, tec_dara.sources) == (TEC_DARA, "approved", ("majestec-3",))
    assert catalog.regimen_named("talquetamab and teclistamab").status == "investigational"
    assert catalog.source("majestec-3").citation.startswith("MajesTEC-3 (NCT05083169; Costa et al., NEJM 2026;394:739-752")
