"""CDS Hooks 2.0 cards: what a clinician reads, and every field against the specification's Card."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import attrs
import pytest

from mmsequence import evaluate
from mmsequence.catalog import load_catalog
from mmsequence.history import OVERRIDE_REASONS
from mmsequence.notices import Notice
from mmsequence.service.cards import (
    OVERRIDE_SYSTEM,
    Words,
    cut_card,
    markdown_text,
    order_cards,
    patient_view_cards,
    problems_card,
    reason,
    response,
    verdict_line,
    warning_groups,
)
from mmsequence.service.hooks import Order

from .builders import document, line

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CARD_FIELDS = {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
               "overrideReasons", "links"}
RULE_ID = re.compile(r"\b(safety|review|extended|labels)\.[a-z0-9-]+")
FIELD_PATH = re.compile(r"\b[a-z_]+\[\d+\]")
RAW_FACT = re.compile(r"\b[a-z]+_[a-z_]+\b|\bbsab\b")
DOCUMENTS = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "invalid.json")
DRAFT = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
         "subject": {"reference": "Patient/T-1"}, "medicationCodeableConcept": {"text": "Elrexfio"}}


@pytest.fixture(scope="module")
def tb014():
    return evaluate(EXAMPLES / "tb-014.json")


def _everyone(*lines, **fields):
    """A document whose candidates are the approved TCRTs, as an order hook assesses them."""
    names = [a.name for a in load_catalog().approved_tcrts()]
    return evaluate(document(*lines, candidates=names, **fields))


def _clinical_part(card: dict) -> str:
    """What a card shows before its rule-by-rule explanation: summary and the ranked options."""
    return card["summary"] + "\n" + card.get("detail", "").split("**Why**")[0].split("- avoid:")[0]


def test_patient_view_is_one_summary_card_never_critical(tb014):
    verdicts = {c.therapy: c.verdict for c in tb014.candidates}
    assert verdicts == {"ciltacabtagene autoleucel": "caution", "talquetamab": "avoid", "teclistamab": "avoid"}
    [card] = response(patient_view_cards(tb014, "hook-1"))["cards"]
    assert card["indicator"] == "info" and card["source"]["topic"]["code"] == "summary"
    assert card["summary"].startswith("Best TCRT option: Ciltacabtagene autoleucel: use with caution (")
    ranked = card["detail"].split("**Why**")[0]
    assert ranked.index("Ciltacabtagene") < ranked.index("Talquetamab: avoid now") < ranked.index("Teclistamab: avoid now")


def test_patient_view_is_a_warning_when_no_option_is_usable_and_still_not_critical():
    assessment = evaluate(document(biomarkers={"bcma_loss": True}, candidates=["teclistamab"]))
    assert assessment.candidate("teclistamab").verdict == "avoid"
    cards = response(patient_view_cards(assessment))["cards"]
    assert [c["indicator"] for c in cards] == ["warning"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_what_a_clinician_reads_has_no_rule_ids_field_paths_or_fact_names(path):
    cards = response(patient_view_cards(evaluate(path), "h"))["cards"]
    assert 1 <= len(cards) <= 2 and all(c["indicator"] != "critical" for c in cards)
    for card in cards:
        shown = _clinical_part(card)
        assert not RULE_ID.search(shown) and not FIELD_PATH.search(shown) and not RAW_FACT.search(shown), shown
        assert not FIELD_PATH.search(card.get("detail", "")), card["detail"]


def test_verdict_line_says_when_and_why_in_clinical_words():
    assessment = evaluate(document(line("talquetamab", "2025-06-01", "2026-03-01"), candidates=["teclistamab"]))
    teclistamab = assessment.candidate("teclistamab")
    assert teclistamab.verdict == "wait"
    assert verdict_line(teclistamab) == (
        f"Teclistamab: wait until {teclistamab.earliest_date} (T-cell recovery after talquetamab), then acceptable")


def test_a_reason_is_the_rule_files_phrase_in_the_cards_language(tb014):
    finding = next(f for f in tb014.candidate("teclistamab").findings if f.rule == "review.interval")
    assert reason(finding) == "T-cell recovery after teclistamab"
    rephrased = attrs.evolve(finding, reasons=(("en", "recovery from {interval_from:agent}"), ("zh-CN", "自 {interval_from:agent}")))
    assert reason(rephrased) == "recovery from teclistamab"
    assert reason(rephrased, Words("zh-CN", tb014.catalog)) == "自 " + tb014.catalog.lookup("teclistamab").display_name("zh-CN")


def test_data_warnings_are_grouped_and_said_once_on_one_data_quality_card():
    unknown = Notice("course.not-in-catalog", "lines[1]", subject=Notice("subject.line-agent", "lines[1]", drug="ZX-9001"))
    warnings = [unknown, Notice("course.not-in-catalog", subject=Notice("subject.candidate", drug="fooximab")), unknown,
                Notice("fhir.observation-status", "Observation/m1", status="preliminary")]
    assert warning_groups(warnings) == ["Not in the agent catalog: ZX-9001 (line 2), candidate fooximab",
                                        "Observation/m1: not used (status 'preliminary')"]
    assessment = evaluate(document(line("mystery-mab", "2025-01-01", "2025-02-01"), line("other-mab", "2025-03-01")))
    summary, quality = response(patient_view_cards(assessment))["cards"]
    assert quality["indicator"] == "warning" and quality["source"]["topic"]["code"] == "data-quality"
    assert "not in the agent catalog: mystery-mab (line 2), other-mab (line 3)" in quality["detail"].lower()
    assert summary["source"]["topic"]["code"] == "summary"


def test_a_grouped_warning_keeps_the_case_of_the_record_text_and_acronyms_it_starts_with():
    chart_text = Notice("fhir.no-end", "MedicationRequest/r1", drug="PACLitaxel 100 MG Injection")
    product = Notice("fhir.unknown-product", "Procedure/p1", drug="zevor-cel")
    assert warning_groups([chart_text, product]) == [
        "MedicationRequest/r1: PACLitaxel 100 MG Injection: no end date recorded; counted as ongoing (the latest possible last dose)",
        "Procedure/p1: CAR-T product 'zevor-cel' is not in the agent catalog; kept as an unknown agent"]
    twice = Notice("fhir.no-end", "MedicationRequest/r2", drug="PACLitaxel 100 MG Injection")
    assert warning_groups([chart_text, twice]) == [
        "PACLitaxel 100 MG Injection: no end date recorded; counted as ongoing (the latest possible last dose):"
        " MedicationRequest/r1, MedicationRequest/r2"]


def test_an_avoided_order_is_critical_with_a_suggestion_to_order_the_best_alternative():
    assessment = _everyone(line("teclistamab", "2023-01-01", "2023-06-01"),
                           line("ciltacabtagene autoleucel", "2024-01-10", "2024-01-10"))
    assert assessment.candidate("elranatamab").verdict == "avoid"
    best = next(c for c in assessment.candidates if c.verdict in ("preferred", "acceptable", "caution"))
    [card] = response(order_cards(assessment, [Order("elranatamab", DRAFT)], load_catalog(), "h"))["cards"]
    assert card["indicator"] == "critical"
    assert card["summary"] == "Elranatamab: avoid now (third therapy against BCMA)"
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == f"Order {best.therapy} instead" and uuid.UUID(suggestion["uuid"])
    delete, create = suggestion["actions"]
    assert (delete["type"], delete["resourceId"]) == ("delete", "MedicationRequest/draft-1")
    assert create["type"] == "create" and create["description"] and delete["description"]
    order = create["resource"]
    assert (order["resourceType"], order["status"], order["intent"], order["subject"]) == (
        "MedicationRequest", "draft", "order", {"reference": "Patient/T-1"})
    assert order["medicationCodeableConcept"]["text"] == best.therapy
    assert "`extended.third-same-target`" in card["detail"]  # the rule stays in the detail


def test_an_acceptable_order_is_info_without_suggestion_or_override_reasons():
    assessment = _everyone()
    talquetamab = assessment.candidate("talquetamab")
    assert talquetamab.verdict == "acceptable"
    [card] = response(order_cards(assessment, [Order("talquetamab", DRAFT)], load_catalog()))["cards"]
    assert card["indicator"] == "info" and "suggestions" not in card and "overrideReasons" not in card


def test_no_suggestion_without_a_draft_id_to_replace():
    assessment = _everyone(line("teclistamab", "2023-01-01", "2023-06-01"),
                           line("ciltacabtagene autoleucel", "2024-01-10", "2024-01-10"))
    draft = {k: v for k, v in DRAFT.items() if k != "id"}
    [card] = response(order_cards(assessment, [Order("elranatamab", draft)], load_catalog()))["cards"]
    assert card["indicator"] == "critical" and "suggestions" not in card and "selectionBehavior" not in card


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_fields_are_the_specifications_and_optional_ones_are_never_empty(path):
    assessment = evaluate(path)
    orders = [Order(c.therapy, DRAFT) for c in assessment.candidates]
    for card in response([*patient_view_cards(assessment), *order_cards(assessment, orders, load_catalog())])["cards"]:
        assert set(card) <= CARD_FIELDS
        assert {"uuid", "summary", "indicator", "source"} <= set(card)
        assert card["indicator"] in ("info", "warning", "critical")
        assert all(value not in (None, "", [], {}) for value in card.values())
        assert set(card["source"]) == {"label", "url", "topic"}
        assert set(card["source"]["topic"]) == {"system", "code", "display"}
        assert len(card["summary"]) < 140 and "\n" not in card["summary"]
        for link in card["links"]:
            assert set(link) == {"label", "url", "type"} and link["type"] == "absolute"
            assert link["url"].startswith("https://")
        assert ("suggestions" in card) == ("selectionBehavior" in card)
        for suggestion in card.get("suggestions", ()):
            assert set(suggestion) == {"label", "uuid", "actions"}
            for action in suggestion["actions"]:
                assert action["type"] in ("create", "delete") and action["description"]
                assert ("resource" in action) == (action["type"] == "create")
                assert ("resourceId" in action) == (action["type"] == "delete")


def test_order_override_reasons_are_codings_with_a_display_for_each_documented_reason(tb014):
    [card] = response(order_cards(tb014, [Order("teclistamab", DRAFT)], load_catalog()))["cards"]
    reasons = card["overrideReasons"]
    assert [r["code"] for r in reasons] == list(OVERRIDE_REASONS)
    assert all(r["system"] == OVERRIDE_SYSTEM and r["display"] for r in reasons)


def test_detail_names_each_rule_with_its_evidence_and_lists_each_source_once(tb014):
    [card] = response(patient_view_cards(tb014))["cards"]
    detail = card["detail"]
    assert re.search(r"`review.no-bsab-before-apheresis`, evidence: review, source \d", detail)
    sources = detail.split("**Sources**")[1]
    numbered = re.findall(r"^\d+\. (.+)$", sources, re.MULTILINE)
    assert numbered and len(numbered) == len(set(numbered))


def test_text_from_the_record_cannot_inject_markup():
    assessment = evaluate(document(candidates=["<img src=x onerror=alert(1)>[click](http://evil)"]))
    for card in response(patient_view_cards(assessment))["cards"]:
        assert not re.search(r"(?<!\\)[<\[\]]", card["detail"]), card["detail"]
    assert markdown_text("a*b_c<d>") == "a\\*b\\_c\\<d\\>"


def test_uuids_are_deterministic_per_hook_instance_and_unique(tb014):
    def cards_of(instance):
        return response([*patient_view_cards(tb014, instance), *order_cards(
            tb014, [Order("teclistamab", DRAFT)], load_catalog(), instance)])
    first, again, other = cards_of("hook-1"), cards_of("hook-1"), cards_of("hook-2")
    assert json.dumps(first) == json.dumps(again)
    ids = [c["uuid"] for c in first["cards"]]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 5 for i in ids)
    assert not set(ids) & {c["uuid"] for c in other["cards"]}


def test_problems_card_is_one_warning_listing_each_problem_in_words():
    [card] = response([problems_card(["entry[2].resource.subject: Field required"], "h")])["cards"]
    assert card["indicator"] == "warning" and "1 data problem to correct" in card["summary"]
    assert "FHIR entry 3 resource subject: Field required" in card["detail"]


def test_cut_card_says_the_record_was_not_assessed():
    [card] = response([cut_card("the FHIR server did not give all data within 10 s")])["cards"]
    assert card["indicator"] == "warning" and "not assessed" in card["summary"]
    assert "within 10 s" in card["detail"] and card["source"]["topic"]["code"] == "data-cut"


def test_an_order_uncertain_only_for_a_missing_fact_gets_the_action_that_firms_it_up_not_a_swap():
    # CAR-T first with eligibility not recorded: the CAR-T ranks above the bsAbs the same missing fact
    # cautions, so the card never suggests ordering a bsAb instead; it asks to record eligibility
    assessment = evaluate(document(candidates=["cilta-cel", "talquetamab"], car_t_eligible=None))
    cilta, talq = assessment.candidate("cilta-cel"), assessment.candidate("talquetamab")
    assert (cilta.verdict, talq.verdict) == ("indeterminate", "caution") and cilta.rank < talq.rank
    [card] = response(order_cards(assessment, [Order("cilta-cel", DRAFT)], load_catalog()))["cards"]
    assert "suggestions" not in card or card["suggestions"] == []
    assert "To do first" in card["detail"] and "eligib" in card["detail"].split("To do first")[1].lower()


def test_options_the_ranking_criteria_cannot_tell_apart_are_shown_as_equal_best():
    assessment = evaluate(document(candidates=["teclistamab", "talquetamab"], car_t_eligible=True))
    assert [c.rank for c in assessment.candidates] == [1, 1]
    [summary] = [c for c in response(patient_view_cards(assessment))["cards"] if c["source"]["topic"]["code"] == "summary"]
    assert summary["summary"] == "Best TCRT options, equal: Teclistamab, Talquetamab"
