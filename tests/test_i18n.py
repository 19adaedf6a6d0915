"""Outputs in the reader's language: the gettext catalog covers every fixed word, Chinese text output
and dates, drug names from the catalog, English unchanged."""

from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from mmsequence import evaluate
from mmsequence.cli import main
from mmsequence.errors import RuleFileError
from mmsequence.i18n import LANGUAGES, finding_message, format_date, negotiate, po_file, translations
from mmsequence.messages import _EVENTS as EVENTS
from mmsequence.messages import ACTION_TEXTS
from mmsequence.render import display_width, to_text
from mmsequence.rulebook import load_rulebook

from .builders import document, line

ROOT = Path(__file__).resolve().parents[1]
_PLACEHOLDER = re.compile(r"\{\w+(?::\w+)?\}|%\(\w+\)[sd]")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The messages the code and templates use, as pybabel extracts them with babel.cfg."""
    pot = tmp_path_factory.mktemp("pot") / "mmsequence.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "NP_:1c,2",
                                "-k", "pgettext:1c,2", "-k", "w", "-o", str(pot), str(ROOT)])
    with pot.open("rb") as source:
        return read_po(source)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_is_translated_and_keeps_its_placeholders(extracted, language):
    with po_file(language).open("rb") as source:
        catalog = read_po(source)
    wanted = {(m.context, m.id) for m in extracted if m.id}
    have = {(m.context, m.id): m for m in catalog if m.id}
    assert sorted(map(str, wanted - have.keys())) == []  # nothing untranslated
    assert sorted(map(str, have.keys() - wanted)) == []  # nothing obsolete
    english_of = {("action", code): text for code, text in ACTION_TEXTS.items()}
    english_of.update((("event", code), text) for code, text in EVENTS.items())
    for key, message in have.items():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        ids = (english_of[key],) if key in english_of else ids  # translated by code: the English is in messages.py
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, key
        assert all(sorted(_PLACEHOLDER.findall(s)) == sorted(_PLACEHOLDER.findall(ids[-1])) for s in strings), key


def test_english_is_the_messages_themselves():
    assert type(translations("en")).__name__ == "NullTranslations"
    assert format_date(datetime.date(2026, 3, 1)) == "2026-03-01"


def test_a_chinese_reader_gets_chinese_words_dates_and_drug_names():
    assessment = evaluate(document(line("teclistamab", "2025-01-01", "2025-12-01"), candidates=["tec", "cilta-cel"],
                                   as_of="2026-03-01", car_t_eligible=True))
    text = to_text(assessment, language="zh-CN")
    assert text.startswith("患者 T-1，评估日期 2026年3月1日")
    assert "特立妥单抗（tec）：需等待至 2026年6月1日，之后慎用" in text
    assert "ciltacabtagene autoleucel" in text  # no Chinese display name in the catalog: the canonical name
    table = text.splitlines()
    first = next(i for i, row in enumerate(table) if "靶点" in row)  # after the header lines (patient, knowledge)
    header, *rows = table[first:first + 3]
    # columns line up by display width (a Chinese character takes two columns)
    starts = [display_width(row[:row.index("BCMA")]) for row in (*rows,)]
    assert len(set(starts)) == 1 and "靶点" in header
    english = to_text(assessment)
    assert "teclistamab (tec): wait until 2026-06-01, then caution" in english and "特立妥单抗" not in english


def test_lang_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text('{"patient_id": "P-1", "lines": [], "candidates": ["elranatamab"], "as_of": "2026-03-01"}',
                    encoding="utf-8")
    assert main(["evaluate", str(path), "--format", "text", "--lang", "zh-CN"]) == 0
    text = capsys.readouterr().out
    assert "埃纳妥单抗" in text
    # --lang alone chooses the text output; JSON asked for explicitly stays English, and says so
    assert main(["evaluate", str(path), "--lang", "zh-CN"]) == 0
    assert capsys.readouterr().out == text
    assert main(["evaluate", str(path), "--format", "json", "--lang", "zh-CN"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--lang: zh-CN is for --format text, the default with --lang (JSON is for programs and stays English)" in captured.err
    with pytest.raises(SystemExit):
        main(["evaluate", str(path), "--format", "text", "--lang", "fr"])


def test_every_rule_message_reads_in_chinese_for_every_example():
    examples = sorted((ROOT / "examples").glob("*.json")) + sorted((ROOT / "examples" / "board").glob("*.json"))
    seen = 0
    for path in examples:
        if path.stem == "invalid":
            continue
        assessment = evaluate(path)
        for finding in (f for c in assessment.candidates for f in c.findings):
            message = finding_message(finding, "zh-CN", assessment.catalog)
            assert _CJK.search(message) and "{" not in message, (path.name, finding.rule, message)
            assert finding_message(finding, "en", assessment.catalog) == finding.message
            seen += 1
    assert seen > 50


def test_rules_check_fails_for_a_rule_without_its_chinese(tmp_path, capsys):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "review" / "switch-target.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("zh-CN:")
    path.write_text(text[:start] + text[text.index("facts:"):], encoding="utf-8")
    assert main(["rules", "--check", "--rules-dir", str(rules)]) == 1
    assert "review/switch-target.yaml: zh-CN: missing" in capsys.readouterr().err


def test_a_translation_must_quote_the_facts_its_english_quotes(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "review" / "switch-target.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("已被 {candidate.same_target_agents} 作为靶点", "已被既往药物作为靶点"),
                    encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"review/switch-target.yaml: zh-CN: message: quotes"):
        load_rulebook(rules)


@pytest.mark.parametrize(("header", "language"), [
    (None, "en"), ("", "en"), ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-Hans-CN;q=0.9, en;q=0.8", "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("fr, zh-CN;q=0.2", "zh-CN"), ("zh-CN;q=0, en", "en"), ("de, *;q=0.1", "en"),
    ("zh-TW", "en"), ("zh-CN;q=x", "en"),
])
def test_accept_language_picks_chinese_or_english(header, language):
    assert negotiate(header) == language
