"""CDS Hooks 2.0 cards: every field against the specification's Card definition."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from mmsequence import evaluate
from mmsequence.service.cards import OVERRIDE_SYSTEM, markdown_text, problems_response, response
from mmsequence.history import OVERRIDE_REASONS

from .builders import document, line

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CARD_FIELDS = {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
               "overrideReasons", "links"}


@pytest.fixture(scope="module")
def tb014():
    return evaluate(EXAMPLES / "tb-014.json")


def test_one_summary_card_and_one_card_per_candidate_needing_attention(tb014):
    verdicts = {c.therapy: c.verdict for c in tb014.candidates}
    assert verdicts == {"ciltacabtagene autoleucel": "caution", "talquetamab": "avoid", "teclistamab": "avoid"}
    cards = response(tb014, "hook-1")["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["summary", "candidate", "candidate", "candidate"]
    assert [c["indicator"] for c in cards] == ["info", "warning", "critical", "critical"]
    assert [c["summary"].split(" now")[0].split(":")[0] for c in cards[1:]] == [
        "Use ciltacabtagene autoleucel with caution", "Avoid talquetamab", "Avoid teclistamab"]


def test_fields_are_the_specifications_and_optional_ones_are_never_empty(tb014):
    for card in response(tb014, "hook-1")["cards"]:
        assert set(card) <= CARD_FIELDS
        assert {"summary", "indicator", "source"} <= set(card)
        assert all(value not in (None, "", [], {}) for value in card.values())
        assert set(card["source"]) == {"label", "url", "topic"}
        assert set(card["source"]["topic"]) == {"system", "code", "display"}
        for link in card["links"]:
            assert set(link) == {"label", "url", "type"} and link["type"] == "absolute"
            assert link["url"].startswith("https://")
        assert "suggestions" not in card and "selectionBehavior" not in card


def test_summary_is_one_line_under_140_characters():
    long_name = "x" * 200
    assessment = evaluate(document(candidates=[long_name]))
    for card in response(assessment)["cards"]:
        assert len(card["summary"]) < 140 and "\n" not in card["summary"]


@pytest.mark.parametrize("doc, therapy, indicator", [
    (document(line("teclistamab", "2025-01-01", "2026-05-01"), candidates=["talquetamab"]), "talquetamab", "warning"),
    (document(biomarkers={"bcma_loss": True}, candidates=["teclistamab"]), "teclistamab", "critical"),
    (document(candidates=["mystery-mab"]), "mystery-mab", "warning"),
])
def test_indicator_is_critical_only_for_avoid(doc, therapy, indicator):
    assessment = evaluate(doc)
    verdict = assessment.candidate(therapy).verdict
    [card] = response(assessment)["cards"][1:]
    assert card["indicator"] == indicator
    assert (verdict == "avoid") == (indicator == "critical")


def test_no_card_for_preferred_or_acceptable_candidates():
    assessment = evaluate(document(candidates=["talquetamab"]))
    assert assessment.candidate("talquetamab").verdict == "acceptable"
    [summary] = response(assessment)["cards"]
    assert summary["indicator"] == "info"


def test_override_reasons_are_codings_with_a_display_for_each_documented_reason(tb014):
    reasons = response(tb014)["cards"][1]["overrideReasons"]
    assert [r["code"] for r in reasons] == list(OVERRIDE_REASONS)
    assert all(r["system"] == OVERRIDE_SYSTEM and r["display"] for r in reasons)


def test_detail_is_markdown_naming_each_rule_with_its_evidence(tb014):
    detail = response(tb014)["cards"][2]["detail"]
    assert "`review.no-bsab-before-apheresis`" in detail and "*Evidence: review;" in detail


def test_text_from_the_record_cannot_inject_markup():
    assessment = evaluate(document(candidates=["<img src=x onerror=alert(1)>[click](http://evil)"]))
    for card in response(assessment)["cards"]:
        assert not re.search(r"(?<!\\)[<\[\]]", card["detail"]), card["detail"]
    assert markdown_text("a*b_c<d>") == "a\\*b\\_c\\<d\\>"


def test_uuids_are_deterministic_per_hook_instance_and_unique(tb014):
    first, again, other = response(tb014, "hook-1"), response(tb014, "hook-1"), response(tb014, "hook-2")
    assert json.dumps(first) == json.dumps(again)
    ids = [c["uuid"] for c in first["cards"]]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 5 for i in ids)
    assert not set(ids) & {c["uuid"] for c in other["cards"]}


def test_data_warnings_make_the_summary_a_warning_and_are_listed():
    assessment = evaluate(document(line("mystery-mab", "2025-01-01", "2025-02-01")))
    [summary, *_] = response(assessment)["cards"]
    assert summary["indicator"] == "warning"
    assert "mystery-mab (lines\\[1\\]): not in the agent catalog" in summary["detail"]


def test_problems_response_is_one_warning_card_listing_each_problem():
    [card] = problems_response(["entry[2].resource.subject: Field required"], "h")["cards"]
    assert card["indicator"] == "warning" and "1 data problem" in card["summary"]
    assert "entry\\[2\\].resource.subject: Field required" in card["detail"]
