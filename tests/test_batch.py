"""Cohort evaluation: input order, resumable output, bad documents, worker processes."""

import json
from pathlib import Path

from mmsequence.batch import run_batch
from mmsequence.cli import main

from .builders import document, line

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.json"))


def cohort(tmp_path, n: int = 12) -> Path:
    path = tmp_path / "cohort.jsonl"
    docs = [document(line("teclistamab", "2025-01-01", f"2025-{1 + i % 12:02d}-15"), patient_id=f"P{i}", as_of="2026-01-10")
            for i in range(n)]
    lines = [json.dumps(d) + "\n" for d in docs]
    path.write_text("".join(lines[: n // 2] + ["{not json}\n", "\n"] + lines[n // 2:]), encoding="utf-8")
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_input_order_and_errors(tmp_path):
    out = tmp_path / "out.jsonl"
    assert run_batch(cohort(tmp_path), out) == (13, 1)
    got = records(out)
    assert [r.get("patient_id") for r in got if "errors" not in r] == [f"P{i}" for i in range(12)]
    (bad,) = [r for r in got if "errors" in r]
    assert bad["errors"][0].startswith("invalid JSON") and bad["source"].startswith("cohort.jsonl:")


def test_resume_skips_what_was_written_and_mends_a_cut_line(tmp_path):
    source, out = cohort(tmp_path), tmp_path / "out.jsonl"
    run_batch(source, out)
    full = out.read_text(encoding="utf-8")
    lines = full.splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][:40], encoding="utf-8")  # interrupted mid-line
    assert run_batch(source, out) == (8, 1)
    assert out.read_text(encoding="utf-8") == full
    assert run_batch(source, out) == (0, 0)


def test_worker_processes_give_the_same_output(tmp_path):
    source = cohort(tmp_path, 40)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run_batch(source, one, processes=1)
    run_batch(source, two, processes=2)
    assert one.read_bytes() == two.read_bytes()


def test_folder_input_and_cli_exit_code(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    code = main(["batch", str(EXAMPLES[0].parent), "--out", str(out), "--processes", "1", "--as-of", "2026-06-01"])
    assert code == 1  # examples/invalid.json
    got = records(out)
    assert [r["source"] for r in got] == [p.name for p in EXAMPLES]
    assert {r["as_of"] for r in got if "errors" not in r} == {"2026-06-01"}
    assert "1 with errors" in capsys.readouterr().err
