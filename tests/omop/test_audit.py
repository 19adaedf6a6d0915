"""The OMOP audit on a real DuckDB file: every decision as its expected document says, resumable,
the same with two processes, from Parquet folders, and every unmapped concept listed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import tqdm

from mmsequence.errors import InputError
from mmsequence.evaluator import Evaluator
from mmsequence.history import parse_document
from mmsequence.omop import sql, synthetic
from mmsequence.omop.audit import run_audit
from mmsequence.omop.chart import ChartReader
from mmsequence.omop.concordance import assess
from mmsequence.omop.decisions import Decision
from mmsequence.omop.mapping import omop_mapping
from mmsequence.omop.sources import DuckDBSource, read_persons, read_vocabulary
from mmsequence.policy import load_policy

from .conftest import POLICY, decisions, table


def _expected_rows(cdm) -> list[dict]:
    """Each expected decision's document, evaluated through the JSON path (not the OMOP reader)."""
    evaluator = Evaluator(load_policy(POLICY))
    rows = [assess(evaluator, Decision(e.person_id, e.day, e.therapy, e.line, parse_document(e.document)))
            for e in cdm.expected]
    return sorted(rows, key=lambda r: (r["person_id"], r["decision_date"], r["therapy"]))


def test_every_decision_is_what_its_expected_document_gives(cdm, reference):
    got = decisions(reference)
    expected = _expected_rows(cdm)
    assert len(got) == len(expected) > 300
    assert got == expected
    # the cohort exercises every outcome and the recorded overrides, so the comparison means something
    outcomes = Counter(r["concordance"] for r in got)
    assert {"concordant", "discordant", "indeterminate"} <= set(outcomes), outcomes
    assert any(r["overridden"] for r in got) and any(r["override_recorded"] and not r["overridden"] for r in got)
    assert {r["therapy"] for r in got} >= {"teclistamab", "ciltacabtagene autoleucel", "idecabtagene vicleucel",
                                           synthetic.UNKNOWN_CAR_T}


def test_unknown_data_is_never_concordant(reference):
    for row in decisions(reference):
        if row["therapy"] == synthetic.UNKNOWN_CAR_T or "safety.unknown-agent" in row["against"]:
            assert row["concordance"] == "indeterminate", row


def test_aggregates_add_up_the_decisions(reference):
    rows = decisions(reference)
    by_year = table(reference, "by_year")
    assert sum(y["decisions"] for y in by_year) == len(rows)
    for year in by_year:
        mine = [r for r in rows if r["year"] == year["year"]]
        assert year["concordant"] == sum(r["concordance"] == "concordant" for r in mine)
        decided = year["concordant"] + year["discordant"]
        assert year["concordance_rate"] == (round(year["concordant"] / decided, 4) if decided else None)
    by_rule = {r["rule"]: r for r in table(reference, "by_rule")}
    against = Counter(rule for r in rows for rule in r["against"].split(";") if rule)
    assert {k: v["against_given"] for k, v in by_rule.items() if v["against_given"]} == dict(against)
    by_therapy = table(reference, "by_therapy")
    assert Counter({t["therapy"]: t["decisions"] for t in by_therapy}) == Counter(r["therapy"] for r in rows)


def test_every_unmapped_record_is_listed_with_its_count(cdm, reference):
    listed = {(u["domain"], u["concept_id"]): u for u in table(reference, "unmapped")}
    with duckdb.connect(str(cdm.duckdb), read_only=True) as db:
        cohort = f"SELECT person_id FROM condition_occurrence WHERE condition_concept_id IN ({synthetic.MYELOMA}, {synthetic.MYELOMA_RELAPSE})"

        def count(sql: str) -> tuple[int, int]:
            return db.execute(f"SELECT count(*), count(DISTINCT person_id) FROM ({sql}) x WHERE person_id IN ({cohort})").fetchone()

        for domain, key, sql in (
            ("condition", synthetic.HYPERTENSION, f"SELECT person_id FROM condition_occurrence WHERE condition_concept_id = {synthetic.HYPERTENSION}"),
            ("measurement", synthetic.HEMOGLOBIN, f"SELECT person_id FROM measurement WHERE measurement_concept_id = {synthetic.HEMOGLOBIN}"),
            ("procedure", synthetic.MARROW_BIOPSY, f"SELECT person_id FROM procedure_occurrence WHERE procedure_concept_id = {synthetic.MARROW_BIOPSY}"),
            ("drug", synthetic.DARA_COMBINATION, f"SELECT person_id FROM drug_exposure WHERE drug_concept_id = {synthetic.DARA_COMBINATION}"),
        ):
            records, persons = count(sql)
            assert records > 0
            assert (listed[(domain, key)]["records"], listed[(domain, key)]["persons"]) == (records, persons)
    assert listed[("drug", synthetic.DARA_COMBINATION)]["outcome"] == "set aside by its ATC class (hyaluronidase)"
    assert ("drug", synthetic.drug_id("zoledronic acid")) not in listed  # supportive care the catalog knows
    assert listed[("drug", synthetic.drug_id("synthetic investigational compound"))]["outcome"].startswith("kept as an unknown agent")
    assert listed[("condition", synthetic.HYPERTENSION)]["concept_name"] == "Essential hypertension (synthetic concept)"


def test_records_the_site_maps_to_nothing_are_counted_by_the_database_and_never_read(cdm, tmp_path):
    """A real chart is mostly labs and diagnoses the audit has no use for: they are counted where
    they are (a record of no matching concept, 0, too) and only the records the chart reads come
    out of the database."""
    path = tmp_path / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    with duckdb.connect(str(path)) as db:
        first = db.execute(f"SELECT min(person_id) FROM measurement WHERE measurement_concept_id = {synthetic.HEMOGLOBIN}"
                           ).fetchone()[0]
        db.execute(f"INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, measurement_date,"
                   f" measurement_type_concept_id) SELECT 900000000 + i, {first}, CASE WHEN i = 0 THEN 0 ELSE"
                   f" {synthetic.HEMOGLOBIN} END, DATE '2024-01-01', 32817 FROM range(4) t(i)")
    source = DuckDBSource(path)
    mapping = omop_mapping(load_policy(POLICY))
    vocabulary = read_vocabulary(source, mapping)
    persons = [int(r[0]) for r in source.rows(sql.cohort_sql(vocabulary.myeloma, None, 40))]
    read = read_persons(source, persons, mapping, vocabulary)
    source.close()
    assert [p.person_id for p in read] == persons and first in persons
    rows = [r for p in read for r in p.rows]
    assert {r.domain for r in rows} == {"drug", "condition", "observation", "measurement", "procedure"}
    assert all(r.domain == "drug" or r.concept_id in mapping.read or r.concept_id in vocabulary.myeloma for r in rows)
    counted = {p.person_id: {(d, c): n for d, c, n in p.unmapped} for p in read}
    assert counted[first][("measurement", synthetic.HEMOGLOBIN)] == 1 + 3
    assert counted[first][("measurement", 0)] == 1
    with duckdb.connect(str(path), read_only=True) as db:
        hypertension = dict(db.execute(
            f"SELECT person_id, count(*) FROM condition_occurrence WHERE condition_concept_id = {synthetic.HYPERTENSION}"
            f" AND person_id IN ({sql.ids(persons)}) GROUP BY 1").fetchall())
    assert hypertension and {p: c[("condition", synthetic.HYPERTENSION)] for p, c in counted.items()
                             if ("condition", synthetic.HYPERTENSION) in c} == hypertension
    chart = ChartReader(Evaluator(load_policy(POLICY)).catalog, mapping, vocabulary).read(read[persons.index(first)])
    assert chart.unmapped[("measurement", synthetic.HEMOGLOBIN, "not mapped")] == 4
    assert chart.unmapped[("measurement", 0, "not mapped")] == 1


def test_parquet_folders_and_parquet_output_give_the_same_decisions(cdm, reference, tmp_path):
    run_audit(DuckDBSource(cdm.parquet), tmp_path / "audit", POLICY, "parquet", batch=500)
    assert sorted(p.suffix for p in (tmp_path / "audit" / "decisions").iterdir()) == [".parquet"]
    assert decisions(tmp_path / "audit") == decisions(reference)
    for name in ("by_year", "by_therapy", "by_rule", "unmapped"):
        assert table(tmp_path / "audit", name) == table(reference, name)


def test_two_processes_give_the_same_decisions(cdm, reference, tmp_path):
    run = run_audit(DuckDBSource(cdm.duckdb), tmp_path / "audit", POLICY, "csv", batch=40, processes=2)
    assert run.parts == -(-_cohort_size(cdm) // 40)
    assert decisions(tmp_path / "audit") == decisions(reference)
    assert (tmp_path / "audit" / "summary.html").read_bytes() == (reference / "summary.html").read_bytes()


def _cohort_size(cdm) -> int:
    with duckdb.connect(str(cdm.duckdb), read_only=True) as db:
        return db.execute("SELECT count(DISTINCT person_id) FROM condition_occurrence WHERE condition_concept_id"
                          f" IN ({synthetic.MYELOMA}, {synthetic.MYELOMA_RELAPSE})").fetchone()[0]


class _Interrupted(Exception):
    pass


class _StopsAfter(DuckDBSource):
    """A source whose connection fails after ``n`` pages of the cohort (a crash mid-run)."""

    def __init__(self, path: Path, n: int) -> None:
        super().__init__(path)
        self.left = n

    def rows(self, query: str):
        if query.lstrip().startswith("SELECT DISTINCT person_id"):
            if self.left == 0:
                raise _Interrupted
            self.left -= 1
        return super().rows(query)


def test_an_interrupted_audit_resumes_to_the_same_result(cdm, reference, tmp_path):
    out = tmp_path / "audit"
    with pytest.raises(_Interrupted):
        run_audit(_StopsAfter(cdm.duckdb, 3), out, POLICY, "csv", batch=50)
    progress = (out / "progress.jsonl").read_text().splitlines()
    assert 1 <= len(progress) <= 3
    # the last recorded part's line cut off mid-write, and a half-written part file left behind
    (out / "progress.jsonl").write_text("\n".join(progress[:-1]) + ("\n" if len(progress) > 1 else "") + progress[-1][:20])
    (out / "decisions" / ".part-00009.csv.partial").write_text("person_id\n1\n")
    run_audit(DuckDBSource(cdm.duckdb), out, POLICY, "csv", batch=50)
    assert decisions(out) == decisions(reference)
    parts = [json.loads(line)["part"] for line in (out / "progress.jsonl").read_text().splitlines()]
    assert parts == list(range(-(-_cohort_size(cdm) // 50)))
    assert table(out, "by_rule") == table(reference, "by_rule")
    assert table(out, "unmapped") == table(reference, "unmapped")


class _Bar:
    """Stands in for tqdm: records the total it is given and the persons it is advanced by."""

    made: list[_Bar] = []

    def __init__(self, total: int, **options) -> None:
        self.total, self.done, self.options = total, 0, options
        _Bar.made.append(self)

    def update(self, n: int) -> None:
        self.done += n


def test_the_progress_bar_counts_to_the_cohort_and_on_resuming_to_what_is_left(cdm, tmp_path, monkeypatch):
    monkeypatch.setattr(tqdm, "tqdm", _Bar)
    monkeypatch.setattr(_Bar, "made", [])
    out = tmp_path / "audit"
    with pytest.raises(_Interrupted):
        run_audit(_StopsAfter(cdm.duckdb, 3), out, POLICY, "csv", batch=50, progress=True)
    run_audit(DuckDBSource(cdm.duckdb), out, POLICY, "csv", batch=50, progress=True)
    first, resumed = _Bar.made
    assert first.total == _cohort_size(cdm) and 0 < first.done < first.total
    assert resumed.total == resumed.done == first.total - first.done
    assert resumed.options["unit"] == "person" and resumed.options["disable"] is None  # quiet off a terminal


def test_resuming_with_another_policy_is_refused(cdm, reference, tmp_path):
    out = tmp_path / "audit"
    shutil.copytree(reference, out)
    other = tmp_path / "other.yaml"
    other.write_text(Path(POLICY).read_text() + "washout: {days: 21}\n")
    with pytest.raises(InputError, match="audited with another policy"):
        run_audit(DuckDBSource(cdm.duckdb), out, str(other), "csv")


def test_summary_is_self_contained_html_with_svg_plots(reference):
    page = (reference / "summary.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "Essential hypertension (synthetic concept)" in page
    assert "review.car-t-first-bsab" in page


def test_the_command_line_audits_and_reports_bad_input_with_exit_code_2(cdm, tmp_path):
    command = [sys.executable, "-m", "mmsequence.cli", "audit", "--db", str(cdm.duckdb), "--policy", POLICY,
               "--out", str(tmp_path / "audit"), "--format", "csv", "--batch", "500"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "decisions of" in done.stderr and (tmp_path / "audit" / "summary.html").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("omop: {myeloma: [], apheresis: {12: collected}, colour: blue}\n")
    done = subprocess.run([*command[:7], str(bad), "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{bad}: omop.colour: unknown key" in done.stderr
    assert f"{bad}: omop.myeloma: expected a non-empty list of concept ids" in done.stderr
    assert f"{bad}: omop.apheresis.12: 'collected' is not one of planned, done, failed, cancelled" in done.stderr
    assert not (tmp_path / "bad").exists()


def test_expected_documents_are_evaluated_by_batch_without_error(tmp_path):
    expected = tmp_path / "expected.jsonl"
    done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "omop-synthetic", "--duckdb", str(tmp_path / "c.duckdb"),
                           "--patients", "150", "--expected", str(expected)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in expected.read_text(encoding="utf-8").splitlines()]
    commented = [r for r in records if "did not fire" in r["document"].get("comment", "")]
    assert commented, "the cohort records overrides of rules that do not fire: the case must be exercised"
    documents = tmp_path / "documents.jsonl"
    documents.write_text("".join(json.dumps(r["document"]) + "\n" for r in records), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "batch", str(documents), "--out", str(tmp_path / "out.jsonl"),
                           "--policy", POLICY, "--processes", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and f"{len(records)} written" in done.stderr and ", 0 with errors" in done.stderr, done.stderr
