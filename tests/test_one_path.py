"""One evaluator, one patient course, one input path: each defect the redesign removed, pinned.

A site's policy (its own agents and names) reaches every adapter through the assessment; every
command reads documents and FHIR Bundles the same way; numbers reach the engine in a form it
reads; every error carries all its problems.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmsequence import Evaluator, InputError, MmsequenceError, PartialDate, evaluate, load_policy
from mmsequence.batch import run_batch
from mmsequence.board import build_board
from mmsequence.board.geometry import build_timeline
from mmsequence.catalog import load_catalog
from mmsequence.fhir import read_bundle
from mmsequence.testing import check
from mmsequence.testing.strategies import SITE_AGENTS

from .builders import document, line
from .fhir_builders import administration, bundle, statement

ROOT = Path(__file__).parents[1]
SITE = load_policy(ROOT / "examples" / "policies" / "site-example.yaml")
BOARD_DAY = "2026-06-01"


def site_document() -> dict:
    """A patient given the site's own bsAb (examplimab, GPRC5D), known only to the site policy."""
    return document(line("examplimab", "2025-01-01", "2025-11-01"), candidates=["teclistamab", "talquetamab"])


class TestTheSitesCatalogTravels:
    def test_the_assessment_carries_the_policy_and_its_catalog(self):
        assessment = evaluate(site_document(), policy=SITE)
        assert assessment.policy is SITE
        assert assessment.catalog.lookup("examplimab") is not None
        assert assessment.course.exposures[-1].agent.name == "examplimab"
        assert assessment.warnings == ()

    def test_the_timeline_draws_a_site_drug_by_its_name(self):
        timeline = build_timeline(evaluate(site_document(), policy=SITE))
        assert [row.label for row in timeline.rows][-1] == "2 · examplimab"
        assert timeline.bars[-1].targets == ("GPRC5D",) and timeline.bars[-1].kind == "tcrt"

    def test_the_board_summarises_a_site_drug_as_a_tcrt(self, tmp_path):
        path = tmp_path / "p.json"
        path.write_text(json.dumps(site_document()), encoding="utf-8")
        board = build_board([path], PartialDate.parse(BOARD_DAY).earliest, SITE)
        assert board.patients[0].summary.tcrts == ("examplimab",)
        assert "(unknown)" not in board.patients[0].timeline.rows[-1].title

    def test_the_invariants_read_the_document_with_the_policys_catalog(self):
        assert check(site_document(), SITE) == []

    def test_a_bundle_names_site_drugs_through_the_evaluators_catalog(self):
        history = Evaluator(SITE).read(bundle(administration("a1", "examplimab", "2025-03-01")))
        assert history.lines[0].agents == ("examplimab",)
        assert not any("not in the agent catalog" in w for w in history.warnings)

    def test_generated_policies_add_site_agents_that_histories_name(self):
        from hypothesis import given, settings

        from mmsequence.testing.strategies import policies

        seen = []

        @settings(max_examples=80, database=None)
        @given(policies())
        def collect(policy):
            seen.append(policy.agents)

        collect()
        assert () in seen and SITE_AGENTS in seen


class TestOneInputPath:
    def test_a_bundle_becomes_a_history_directly(self):
        history = read_bundle(bundle(administration("a1", "teclistamab", "2025-03")), load_catalog())
        assert history.format == "fhir" and history.lines[0].start == PartialDate.parse("2025-03")
        assert history.lines[0].origin is not None and history.lines[0].origin.method == "derived"

    def test_batch_reads_bundles_and_survives_an_integer_too_long(self, tmp_path):
        source = tmp_path / "in.jsonl"
        rows = [
            json.dumps(bundle(administration("a1", "teclistamab", "2025-03-01"), timestamp="2026-01-10T09:00:00Z")),
            '{"patient_id": "x", "lines": [], "biomarkers": {"soluble_bcma_ng_ml": ' + "9" * 5000 + "}}",
            json.dumps(document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")),
        ]
        source.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out = tmp_path / "out.jsonl"
        assert run_batch(source, out, full=True) == (3, 1)  # the full record shows how the Bundle was read
        records = [r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines()) if "header" not in r]
        assert records[0]["derived"]["fhir"]["lines"][0]["method"] == "derived"
        assert records[1]["errors"][0].startswith("invalid JSON (Exceeds the limit")
        assert records[2]["candidates"][0]["verdict"] == "wait"

    def test_the_board_reads_a_bundle_as_evaluate_does(self, tmp_path):
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle(administration("a1", "teclistamab", "2025-03-01"))), encoding="utf-8")
        board = build_board([path], PartialDate.parse(BOARD_DAY).earliest, load_policy())
        assert board.failures == () and board.patients[0].summary.tcrts == ("teclistamab",)

    def test_a_corrupt_complete_output_line_is_reported_and_done_again(self, tmp_path, capsys):
        source = tmp_path / "in.jsonl"
        docs = [document(patient_id=f"P{i}", as_of="2026-01-10") for i in range(3)]
        source.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        out = tmp_path / "out.jsonl"
        run_batch(source, out, full=True)
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
        out.write_text(lines[0] + '{"source": "in.jsonl:2", "patient_id": "P1", "cand\n' + lines[2], encoding="utf-8")
        assert run_batch(source, out, full=True) == (1, 0)
        assert "out.jsonl:2: unreadable output line dropped" in capsys.readouterr().err
        sources = [json.loads(x)["source"] for x in out.read_text(encoding="utf-8").splitlines()]
        assert sorted(sources) == ["in.jsonl:1", "in.jsonl:2", "in.jsonl:3"]


class TestNumbersTheEngineReads:
    @pytest.mark.parametrize("value, fires", [(1e-05, False), (2e20, True), (1e300, True), (400.5, True)])
    def test_floats_json_writes_with_an_exponent(self, value, fires):
        doc = document(line("talquetamab", "2024-01-01", "2024-06-01"), biomarkers={"soluble_bcma_ng_ml": value},
                       candidates=["teclistamab"])
        fired = {f.rule for f in evaluate(doc).candidate("teclistamab").findings}
        assert ("extended.soluble-bcma" in fired) is fires


class TestOneErrorModel:
    def test_every_error_has_its_problems(self):
        assert MmsequenceError("the service needs the service extra").problems == ("the service needs the service extra",)
        assert InputError(["a: x", "b: y"]).problems == ("a: x", "b: y")

    def test_a_bundle_reports_every_bad_resource_not_just_the_first(self):
        undated = [{k: v for k, v in statement(rid, drug, "2025-01-01").items() if k != "effectivePeriod"}
                   for rid, drug in (("s1", "teclistamab"), ("s2", "talquetamab"))]
        bad = bundle(*undated)
        with pytest.raises(InputError) as caught:
            read_bundle(bad, load_catalog())
        assert len(caught.value.problems) == 2
        assert all("effective[x]: is required" in p for p in caught.value.problems)
