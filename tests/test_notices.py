"""Notices: codes and values, said in words in one place. A Chinese reader of the text output
reads no English sentence (drug names, identifiers and citations aside); English is unchanged."""

from __future__ import annotations

import gzip
import json
import pickle
import re
from pathlib import Path
from string import Formatter

import pytest
from hypothesis import strategies as st

from mmsequence import evaluate
from mmsequence.assessment import Assessment
from mmsequence.i18n import translations
from mmsequence.notices import TEMPLATES, Notice, words
from mmsequence.render import to_json, to_text
from mmsequence.service.cards import Words, warning_groups
from mmsequence.testing.charts import realistic_charts
from mmsequence.testing.strategies import patient_histories

from .profiles import SEEDS, run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in [*(ROOT / "examples").glob("*.json"), *(ROOT / "examples" / "fhir").glob("*.json")]
                  if p.stem != "invalid")
SYNTHEA = sorted((ROOT / "tests" / "data" / "synthea").glob("*.json.gz"))[:2]

#: Words that are identifiers, not English: FHIR resource types, the product's name, a policy key.
IDENTIFIERS = {"Procedure", "Observation", "Claim", "Encounter", "ExplanationOfBenefit", "DiagnosticReport",
               "Immunization", "Condition", "CarePlan", "Organization", "Practitioner", "MedicationRequest",
               "MedicationAdministration", "MedicationStatement", "Medication", "ServiceRequest", "Bundle",
               "Patient", "NutritionOrder", "mmsequence", "observations"}  # the last: the site policy's key
_QUOTED = re.compile(r"'[^'\s]*'")
_TOKEN = re.compile(r"[^\s，、；：（）。“”,;:()]+")
_WORD = re.compile(r"[A-Z]?[a-z]{3,}")


def allowed_names(assessment: Assessment) -> list[str]:
    """What may stay in another script: drug names and codes, record ids, rule ids, citations."""
    history, catalog = assessment.course.history, assessment.catalog
    names = {a.name for a in catalog.agents} | {s for a in catalog.agents for s in a.synonyms}
    names |= {r.name for r in catalog.regimens} | {r.abbreviation for r in catalog.regimens if r.abbreviation}
    names |= {agent for line in history.lines for agent in line.agents} | {n[0] for n in history.not_therapy}
    names |= {c.query for c in assessment.candidates} | {assessment.patient_id} | set(assessment.ruleset.packs)
    # a regimen the catalog does not name is named by its drugs ("elranatamab and daratumumab")
    names |= {c.therapy for c in assessment.candidates}
    names |= {record.resource for line in history.lines if line.origin for record in line.origin.records}
    # the rules' own translations name the evidence level in both languages; a change to a rule file is
    # a change to the ruleset's digest, so they are kept
    names |= {"mmsequence interpretation"}
    names |= {f.citation for c in assessment.candidates for f in c.findings} | {f.rule for c in assessment.candidates
                                                                                for f in c.findings}
    return sorted((" ".join(n.split()) for n in names if n), key=len, reverse=True)


def english_left(text: str, assessment: Assessment) -> list[str]:
    """The English words of ``text`` outside drug names, identifiers and citations."""
    rest = " ".join(text.split())
    for name in allowed_names(assessment):
        rest = rest.replace(name, " ")
    rest = _QUOTED.sub(" ", rest)
    return [token for token in _TOKEN.findall(rest)
            if _WORD.fullmatch(token.strip("'\"")) and token.strip("'\"") not in IDENTIFIERS]


def _synthea(path: Path, tmp_path: Path) -> Path:
    out = tmp_path / path.name.removesuffix(".gz")
    out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


@pytest.mark.parametrize("path", EXAMPLES + SYNTHEA, ids=lambda p: p.name)
def test_a_chinese_reader_reads_no_english_sentence(path, tmp_path):
    source = _synthea(path, tmp_path) if path.suffix == ".gz" else path
    assessment = evaluate(source)
    for verbose in (False, True):
        text = to_text(assessment, language="zh-CN", verbose=verbose)
        assert english_left(text, assessment) == [], (path.name, text)


def test_the_checker_finds_english():
    assessment = evaluate(ROOT / "examples" / "after-car-t.json")
    assert english_left("1. 2025年1月1日 至 2025年3月1日：teclistamab；stopped for progression", assessment) == [
        "stopped", "for", "progression"]
    assert english_left("特立妥单抗 teclistamab（lines[0]）sha256:b865fc", assessment) == []


def test_a_notice_is_its_english_and_says_itself_in_chinese():
    assessment = evaluate(ROOT / "examples" / "fhir" / "car-t-bridging.json")
    notice = Notice("fhir.no-end", "MedicationRequest/r1", drug="teclistamab")
    assert notice == "MedicationRequest/r1: teclistamab: no end date recorded; counted as ongoing (the latest possible last dose)"
    assert (notice.code, notice.path, notice.values) == ("fhir.no-end", "MedicationRequest/r1", {"drug": "teclistamab"})
    assert words(notice, "zh-CN", assessment.catalog) == (
        "MedicationRequest/r1：特立妥单抗：未记录结束日期；按进行中计（末次给药取最晚可能日期）")
    copy = pickle.loads(pickle.dumps(notice))  # the batch sends assessments between processes
    assert (copy, copy.code, copy.values) == (notice, notice.code, notice.values)


def test_every_warning_of_a_fhir_record_is_a_notice_with_its_code_in_the_json():
    assessment = evaluate(ROOT / "examples" / "fhir" / "car-t-bridging.json")
    assert assessment.warnings and all(isinstance(w, Notice) and w.code in TEMPLATES for w in assessment.warnings)
    out = json.loads(to_json(assessment))
    assert out["warnings"] == [str(w) for w in assessment.warnings]
    assert [n["code"] for n in out["notices"]] == ["fhir.not-used-one", "fhir.harvest", "fhir.car-t-order"]
    assert out["notices"][1]["path"] == "Procedure/harvest"


def test_cards_group_warnings_by_their_codes_in_chinese():
    assessment = evaluate(ROOT / "examples" / "unknown-agent.json")
    english = warning_groups(assessment.warnings)
    chinese = warning_groups(assessment.warnings, Words("zh-CN", assessment.catalog))
    assert english == ["Not in the agent catalog: ZX-9001 (line 2), candidate fooximab"]
    assert chinese == ["ZX-9001（第 2 线）、候选治疗 fooximab：不在药物目录中"]


@SEEDS
def test_a_chinese_reader_reads_no_english_for_generated_histories_and_charts(seed_value):
    def check(drawn):
        document, bundle = drawn
        for record in (document, bundle):
            assessment = evaluate(record)
            text = to_text(assessment, language="zh-CN", verbose=True)
            assert english_left(text, assessment) == [], text

    run(check, st.tuples(patient_histories(), realistic_charts(common_drugs=True)).map(
        lambda pair: (pair[0], pair[1][1])), seed_value)


def test_every_chinese_template_keeps_the_fields_of_its_english():
    fields = Formatter()
    for code, english in TEMPLATES.items():
        chinese = translations("zh-CN").pgettext(code, english)
        assert chinese != english or not re.search("[a-z]{3}", re.sub(r"\{[^}]*\}", "", english)), code
        assert sorted(f[1:3] for f in fields.parse(chinese) if f[1]) == sorted(f[1:3] for f in fields.parse(english)
                                                                              if f[1]), code
