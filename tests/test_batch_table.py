"""``batch --table``: one row per patient and candidate, the same in Parquet and CSV, what the
assessment says, a failed document as one row, every patient of a resumed output."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mmsequence import evaluate
from mmsequence.batch_table import COLUMNS, deciding_rules
from mmsequence.cli import main

from .batch import BOARD_DAY, EXAMPLES

AS_OF = BOARD_DAY.isoformat()


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["batch", *argv, "--processes", "1"])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    out = folder / "results.jsonl"
    assert main(["batch", str(EXAMPLES), "--out", str(out), "--as-of", AS_OF, "--processes", "1",
                 "--table", str(folder / "results.parquet")]) == 0
    assert main(["batch", str(EXAMPLES), "--out", str(out), "--as-of", AS_OF, "--processes", "1",
                 "--table", str(folder / "results.csv")]) == 0
    return pq.read_table(folder / "results.parquet").to_pylist(), csv_rows(folder / "results.csv")


def test_one_row_per_patient_and_candidate_as_the_assessment_says(tables):
    parquet, _ = tables
    expected = []
    for path in sorted(EXAMPLES.glob("*.json")):
        assessment = evaluate(str(path), as_of=AS_OF)
        expected += [(path.name, assessment.patient_id, c.therapy, c.rank, c.verdict, c.earliest_date)
                     for c in assessment.candidates]
    assert len(expected) > 20
    assert [(r["source"], r["patient_id"], r["therapy"], r["rank"], r["verdict"], r["earliest_date"]) for r in parquet] \
        == expected
    assert all(r["as_of"] == BOARD_DAY and r["errors"] is None for r in parquet)


def test_parquet_and_csv_hold_the_same_table(tables):
    parquet, csv = tables
    assert list(csv[0]) == list(COLUMNS) == list(parquet[0])
    as_text = [{c: "" if v is None else str(v) for c, v in row.items()} for row in parquet]
    assert as_text == csv


def test_the_deciding_rules_and_the_clock(tables):
    parquet, _ = tables
    row = next(r for r in parquet if r["patient_id"] == "TB-101" and r["therapy"] == "ciltacabtagene autoleucel")
    assert (row["verdict"], row["then"], row["earliest_date"]) == ("wait", "caution", datetime.date(2026, 6, 20))
    assert row["deciding_rules"] == "review.interval" and row["earliest_date_set_by"] == "review.interval"
    candidate = {"verdict": "caution", "findings": [
        {"rule": "b", "effect": "caution"}, {"rule": "a", "effect": "caution"}, {"rule": "c", "effect": "preferred"},
        {"rule": "d", "effect": "avoid", "overridden": {"reason": "other"}}, {"rule": "e", "effect": "caution",
                                                                               "overridden": {"reason": "other"}}]}
    assert deciding_rules(candidate) == ["a", "b"]


def test_a_failed_document_is_one_row_with_its_errors_and_a_resumed_output_is_whole(tmp_path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(EXAMPLES / "tb-101.json", folder)
    out, table = tmp_path / "out.jsonl", tmp_path / "t.csv"
    assert run(capsys, str(folder), "--out", str(out), "--as-of", AS_OF, "--table", str(table))[0] == 0
    first = csv_rows(table)
    shutil.copy(EXAMPLES / "tb-102.json", folder)
    (folder / "tb-900.json").write_text(json.dumps({"patient_id": "X", "lines": [{"agents": ["teclistamab"],
                                                                                  "start": "2025-13-01"}]}))
    code, err = run(capsys, str(folder), "--out", str(out), "--as-of", AS_OF, "--table", str(table))
    assert code == 1 and f"written to {table}" in err
    rows = csv_rows(table)
    assert {r["source"] for r in first} == {"tb-101.json"}
    assert [r["source"] for r in rows].count("tb-101.json") == len(first)   # from the first run, still there
    (failed,) = [r for r in rows if r["source"] == "tb-900.json"]
    assert "lines[0].start: '2025-13-01' is not a date" in failed["errors"] and failed["therapy"] == ""
    assert {r["source"] for r in rows} == {"tb-101.json", "tb-102.json", "tb-900.json"}


def test_a_table_that_is_neither_parquet_nor_csv_is_refused_before_the_batch(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code, err = run(capsys, str(EXAMPLES), "--out", str(out), "--table", str(tmp_path / "t.xlsx"))
    assert code == 2 and "--table: " in err and "is neither a .parquet nor a .csv file" in err
    assert not out.exists()


def test_a_record_not_assessed_is_one_row_saying_so(tmp_path, capsys):
    """A public Synthea chart (no myeloma diagnosis) is a row of its own, marked not assessed, not a
    patient that silently disappears from the table."""
    import gzip

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXAMPLES / "tb-101.json", folder)
    (folder / "synthea.json").write_bytes(gzip.decompress(
        (Path(__file__).parent / "data" / "synthea" / "Stephen_McLaughlin_7735ab79-6ac8-4b81-9936-f7ddabd18751.json.gz")
        .read_bytes()))
    table = tmp_path / "results.csv"
    assert run(capsys, str(folder), "--out", str(tmp_path / "o.jsonl"), "--as-of", AS_OF, "--table", str(table))[0] == 0
    rows = csv_rows(table)
    (synthea,) = [r for r in rows if r["source"] == "synthea.json"]
    assert synthea["myeloma_gate"] == "not-assessed" and synthea["therapy"] == synthea["verdict"] == ""
    others = [r for r in rows if r["source"] == "tb-101.json"]
    assert others and all(r["myeloma_gate"] == "assessed" and r["verdict"] for r in others)
