"""Hostile input against the reader, the CLI and the batch: limits named, no traceback, output
growing with the input, not with its square."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mmsequence.batch import input_digest, run_batch
from mmsequence.cli import main
from mmsequence.documents import READ_LIMITS, LimitExceeded, check_limits, decode_json, read_document
from mmsequence.errors import InputError

from .builders import document, line

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def nested_extension_bundle(levels: int) -> dict:
    """A FHIR Bundle whose Patient carries an extension nested ``levels`` deep."""
    extension: dict = {"url": "http://example.org/x", "valueString": "a"}
    for _ in range(levels):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    patient = {"resourceType": "Patient", "id": "p1", "extension": [extension]}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}


def unknown_drugs(count: int) -> dict:
    return document(line([f"zz-unknown-{i}" for i in range(count)], "2024-01-01", "2024-03-01"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_deeply_nested_extension_is_exit_2_naming_the_limit(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(nested_extension_bundle(150)))
    code, out, err = run(capsys, "evaluate", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "nested deeper than 64 levels (limit max_depth)" in err and "Traceback" not in err


def test_the_deepest_bundle_within_the_limit_goes_through_fhir_validation():
    levels = 1
    while True:  # the deepest extension the limit lets through
        try:
            check_limits(nested_extension_bundle(levels + 1), "document")
        except LimitExceeded:
            break
        levels += 1
    assert levels > 20
    history = read_document(nested_extension_bundle(levels))  # no RecursionError on the way
    assert history.lines == ()


@pytest.mark.parametrize("value, limit", [
    ({"a": "x" * (READ_LIMITS.max_string_chars + 1)}, "max_string_chars"),
    ({"entry": [{}] * (READ_LIMITS.max_items + 1)}, "max_items"),
    ([[[[]]]], None),
])
def test_each_limit_is_named(value, limit):
    if limit is None:
        check_limits(value, "document")
        return
    with pytest.raises(LimitExceeded) as caught:
        check_limits(value, "document")
    assert caught.value.limit == limit and f"(limit {limit})" in caught.value.problems[0]


def test_a_key_given_twice_is_an_input_error_naming_it(tmp_path, capsys):
    text = json.dumps(document()).replace('"car_t_eligible": false', '"car_t_eligible": false, "car_t_eligible": true')
    with pytest.raises(InputError, match="the key 'car_t_eligible' is given twice"):
        decode_json(text, "document")
    path = tmp_path / "twice.json"
    path.write_text(text)
    code, out, err = run(capsys, "evaluate", str(path))
    assert (code, out) == (2, "") and "'car_t_eligible' is given twice" in err


@pytest.mark.parametrize("processes", [1, 2])
def test_a_batch_goes_on_past_a_document_over_the_limits_and_records_it(tmp_path, processes):
    source, out = tmp_path / "cohort.jsonl", tmp_path / "out.jsonl"
    good = json.dumps(document(patient_id="P1"))
    twice = json.dumps(document(patient_id="P3")).replace('"car_t_eligible": false',
                                                          '"car_t_eligible": false, "car_t_eligible": true')
    source.write_text("\n".join([good, json.dumps(nested_extension_bundle(150)), twice]) + "\n")
    assert run_batch(source, out, processes=processes) == (3, 2)
    assert run_batch(source, out, processes=processes) == (0, 0)  # a resume does not die on it either
    records = [json.loads(x) for x in out.read_text().splitlines() if not x.startswith('{"header"')]
    assert [r["source"] for r in records] == ["cohort.jsonl:1", "cohort.jsonl:2", "cohort.jsonl:3"]
    assert records[0]["patient_id"] == "P1"
    assert "limit max_depth" in records[1]["errors"][0] and "given twice" in records[2]["errors"][0]


def test_a_stub_line_in_the_output_does_not_skip_its_patient_on_resume(tmp_path):
    source, out = tmp_path / "cohort.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps(document(patient_id="P1")) + "\n")
    out.write_text(json.dumps({"source": "cohort.jsonl:1"}) + "\n")
    assert run_batch(source, out) == (1, 0)
    (record,) = [json.loads(x) for x in out.read_text().splitlines() if not x.startswith("{\"header\"")]
    assert record["patient_id"] == "P1" and record["candidates"]


def _output_bytes(tmp_path: Path, doc: dict) -> int:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    command = [sys.executable, "-m", "mmsequence.cli", "evaluate", str(path)]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return len(done.stdout)


def test_output_grows_linearly_with_the_unknown_drugs_of_a_line(tmp_path):
    small, large = _output_bytes(tmp_path, unknown_drugs(150)), _output_bytes(tmp_path, unknown_drugs(600))
    assert large < 4.5 * small  # quadratic output was 16 times larger for 4 times the drugs


def test_a_drug_repeated_in_a_line_is_one_exposure(tmp_path):
    half = _output_bytes(tmp_path, document(line(["zz-unknown"] * 2500, "2024-01-01", "2024-03-01")))
    full = _output_bytes(tmp_path, document(line(["zz-unknown"] * 5000, "2024-01-01", "2024-03-01")))
    assert full < 2.2 * half  # each repetition was an exposure of its own, quoting the whole line


def _with_file_size_limit(limit: int):
    """For a subprocess: files may grow to ``limit`` bytes, then a write fails as on a full disk."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _cli(*argv: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmsequence.cli", *argv], capture_output=True, text=True, timeout=300,
                          **options)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_evaluate_to_a_full_disk_is_exit_1_with_one_line():
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "evaluate", str(EXAMPLES / "tb-014.json")],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "mmsequence: the standard output: cannot be written (No space left on device)\n"


def test_a_board_that_cannot_be_written_leaves_no_partial_file(tmp_path):
    out = tmp_path / "board.html"
    done = _cli("board", str(EXAMPLES / "board"), "--as-of", "2026-03-12", "--out", str(out),
                preexec_fn=_with_file_size_limit(4096))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "board.html: cannot be written" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_batch_that_cannot_be_written_is_exit_1_and_resumes(tmp_path):
    source, out = tmp_path / "cohort.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(document(patient_id=f"P{i}")) + "\n" for i in range(30)))
    done = _cli("batch", str(source), "--out", str(out), "--processes", "1", preexec_fn=_with_file_size_limit(20_000))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "out.jsonl: cannot be written (File too large); rerun to resume" in done.stderr
    resumed = _cli("batch", str(source), "--out", str(out), "--processes", "1")
    assert resumed.returncode == 0
    records = [json.loads(x) for x in out.read_text().splitlines() if not x.startswith('{"header"')]
    assert sorted(r["patient_id"] for r in records) == sorted(f"P{i}" for i in range(30))


def test_a_resume_reassesses_a_document_changed_since_its_line_was_written(tmp_path, capsys):
    source, out = tmp_path / "cohort.jsonl", tmp_path / "out.jsonl"
    docs = [document(patient_id=f"P{i}") for i in range(3)]
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert run_batch(source, out) == (3, 0)
    docs[1]["car_t_eligible"] = True
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    assert run_batch(source, out) == (1, 0)
    assert "cohort.jsonl:2 has changed since it was assessed" in capsys.readouterr().err
    records = [json.loads(x) for x in out.read_text().splitlines() if not x.startswith('{"header"')]
    assert sorted(r["source"] for r in records) == ["cohort.jsonl:1", "cohort.jsonl:2", "cohort.jsonl:3"]
    [changed] = [r for r in records if r["source"] == "cohort.jsonl:2"]
    assert changed["input_sha256"] == input_digest(json.dumps(docs[1]))
    assert run_batch(source, out) == (0, 0)
