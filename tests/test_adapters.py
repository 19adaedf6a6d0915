"""Every adapter displays the assessment it is given: for the histories the testing kit draws (its
strategies and its realistic charts, the FHIR Bundle as well as the clean document), evaluated on
days spread over two years after the record, the text and JSON outputs in English and Chinese, the
board in HTML and Markdown in both languages, the CDS Hooks cards and the audit's per-decision row
all render, and the line counts they show are the assessment's."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import attrs
import hypothesis.strategies as st
from hypothesis import settings

from mmsequence import Evaluator, load_policy
from mmsequence.board import assemble_board
from mmsequence.board.report import render_html, render_markdown
from mmsequence.i18n import translations
from mmsequence.omop.concordance import COLUMNS, assess
from mmsequence.omop.decisions import Decision
from mmsequence.policy import policy_from_mapping
from mmsequence.render import to_json, to_text
from mmsequence.service.cards import patient_view_cards, response
from mmsequence.testing.charts import POLICY, realistic_charts
from mmsequence.testing.strategies import patient_histories

from .profiles import SEEDS, VALIDATION, run

EVALUATOR = Evaluator(policy_from_mapping(POLICY, "chart policy", load_policy()))
LANGUAGES = ("en", "zh-CN")
#: Every adapter renders each example twice (two languages): a fifth of the profile's examples.
ADAPTERS = settings(VALIDATION, max_examples=max(VALIDATION.max_examples // 5, 20))


def _lines_phrase(count: int, language: str) -> str:
    """The board's line count as its templates write it."""
    return translations(language).ngettext("%(num)d prior line", "%(num)d prior lines", count) % {"num": count}


def _every_adapter_renders(case: tuple[dict, int]) -> None:
    document, days = case
    history = EVALUATOR.read(document)
    recorded = history.as_of  # the document's as_of, the Bundle's timestamp
    assert recorded is not None
    as_of = recorded + datetime.timedelta(days=days)
    assessment = EVALUATOR.evaluate(history, as_of=as_of)
    prior = assessment.prior_lines
    assert prior == assessment.derived["prior_lines"]

    assert json.loads(to_json(assessment))["derived"]["prior_lines"] == prior
    for language in LANGUAGES:
        text = to_text(assessment, language=language)
        assert assessment.patient_id in text

        board = assemble_board([("chart.json", assessment)], as_of, EVALUATOR.policy, language=language,
                               evaluator=EVALUATOR)
        (report,) = board.patients
        assert report.summary.prior_lines == prior
        html = render_html(board)
        markdown = render_markdown(board, Path("board.md"))[Path("board.md")]
        if assessment.candidates:
            assert _lines_phrase(prior, language) in html and _lines_phrase(prior, language) in markdown

        cards = response(patient_view_cards(assessment, "hook", language))["cards"]
        assert cards and all(card["summary"] for card in cards)

    if assessment.candidates:
        therapy = assessment.candidates[0].query
        row = assess(EVALUATOR, Decision(1, as_of, therapy, prior + 1, attrs.evolve(history, as_of=as_of)))
        assert set(row) == set(COLUMNS) and row["errors"] == "", row["errors"]
        assert row["rank"] == 1 and row["best_ranked"]



@SEEDS
def test_every_adapter_renders_a_drawn_history_on_any_day(seed_value):
    run(_every_adapter_renders, st.tuples(patient_histories(), st.integers(0, 730)), seed_value, ADAPTERS)


@SEEDS
def test_every_adapter_renders_a_realistic_chart_on_any_day(seed_value):
    charts = realistic_charts().flatmap(st.sampled_from)  # the clean document or its FHIR Bundle
    run(_every_adapter_renders, st.tuples(charts, st.integers(0, 730)), seed_value, ADAPTERS)
