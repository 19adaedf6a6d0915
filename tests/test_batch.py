"""Cohort evaluation: input order, resumable output, bad documents, worker processes, the header
record and bounded streaming."""

import json
import queue
import threading
import time
from pathlib import Path

import pytest

from mmsequence.batch import _Window, run_batch
from mmsequence.cli import main

from .builders import document, line

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.json"))


def cohort(tmp_path, n: int = 12) -> Path:
    path = tmp_path / "cohort.jsonl"
    docs = [document(line("teclistamab", "2025-01-01", f"2025-{1 + i % 12:02d}-15"), patient_id=f"P{i}", as_of="2026-01-10")
            for i in range(n)]
    lines = [json.dumps(d) + "\n" for d in docs]
    path.write_text("".join([*lines[:n // 2], "{not json}\n", "\n", *lines[n // 2:]]), encoding="utf-8")
    return path


def lines_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def records(path: Path) -> list[dict]:
    """The patient lines (headers left out)."""
    return [r for r in lines_of(path) if "header" not in r]


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
    out.write_text("".join(lines[:6]) + lines[6][:40], encoding="utf-8")  # header + 5 lines, then cut mid-line
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


def test_a_rerun_does_not_claim_success_over_error_lines_that_remain(tmp_path, capsys):
    source, out = cohort(tmp_path), tmp_path / "out.jsonl"
    assert main(["batch", str(source), "--out", str(out), "--processes", "1"]) == 1
    capsys.readouterr()
    assert main(["batch", str(source), "--out", str(out), "--processes", "1"]) == 1  # nothing new, one error left
    assert f"0 written to {out}, 0 with errors; 1 lines with errors from an earlier run remain" in capsys.readouterr().err


def _policy_file(tmp_path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text("interval:\n  months: 3\n", encoding="utf-8")
    return path


def test_the_shared_blocks_are_written_once_and_each_line_is_the_full_records_summary(tmp_path):
    source = cohort(tmp_path)
    short, full = tmp_path / "short.jsonl", tmp_path / "full.jsonl"
    run_batch(source, short)
    run_batch(source, full, full=True)
    (head, *rest), shared = lines_of(short), {"ruleset", "policy"}
    assert set(head) == {"header"} and set(head["header"]) == shared | {"rules"}
    assert head["header"]["policy"] == lines_of(full)[0]["policy"]
    assert any("errors" in r for r in rest) and any("errors" not in r for r in rest)
    assert rest == [_summary(record) for record in lines_of(full)]


def _summary(record: dict) -> dict:
    """What the compact line keeps of a full record: no shared blocks, no derived course, no rank
    reasons, and of each finding its rule, its effect and whether it was overridden."""
    record = {k: v for k, v in record.items() if k not in ("ruleset", "policy", "derived")}
    for candidate in record.get("candidates", ()):
        del candidate["rank_reason"]
        candidate["findings"] = [{k: v for k, v in f.items() if k in ("rule", "effect", "overridden")}
                                 for f in candidate["findings"]]
    return record


def test_a_compact_line_stays_small_where_the_full_record_does_not(tmp_path):
    source, short, full = cohort(tmp_path), tmp_path / "short.jsonl", tmp_path / "full.jsonl"
    run_batch(source, short)
    run_batch(source, full, full=True)
    lines = [line for line in short.read_bytes().splitlines() if b'"candidates"' in line]
    assert lines and max(map(len, lines)) <= 4096 < max(map(len, full.read_bytes().splitlines()))


def test_a_resumed_run_under_another_policy_writes_its_own_header(tmp_path):
    source, out = cohort(tmp_path), tmp_path / "out.jsonl"
    run_batch(source, out)
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:4]), encoding="utf-8")
    assert run_batch(source, out, policy=str(_policy_file(tmp_path))) == (10, 1)
    got = lines_of(out)
    headers = [i for i, r in enumerate(got) if "header" in r]
    assert headers == [0, 4]
    assert got[0]["header"]["policy"]["interval"]["months"] != got[4]["header"]["policy"]["interval"]["months"] == 3
    assert run_batch(source, out, policy=str(_policy_file(tmp_path))) == (0, 0)
    run_batch(source, out)  # nothing left to write: no header either
    assert [i for i, r in enumerate(lines_of(out)) if "header" in r] == [0, 4]


def test_a_complete_but_corrupt_line_is_reported_and_written_again(tmp_path, capsys):
    source, out = cohort(tmp_path), tmp_path / "out.jsonl"
    run_batch(source, out)
    good = out.read_bytes()
    lines = good.splitlines(keepends=True)
    lines[3] = lines[3][:20] + b"\x00garbage\n"
    out.write_bytes(b"".join(lines))
    assert run_batch(source, out) == (1, 0)
    assert f"{out}:4: unreadable output line dropped" in capsys.readouterr().err
    got = out.read_bytes().splitlines(keepends=True)
    assert sorted(got) == sorted(good.splitlines(keepends=True)) and got[-1] == good.splitlines(keepends=True)[3]


def test_full_records_from_the_command_line(tmp_path):
    out = tmp_path / "out.jsonl"
    main(["batch", str(cohort(tmp_path)), "--out", str(out), "--processes", "1", "--full-records"])
    assert all("header" not in r for r in lines_of(out))
    assert all("policy" in r for r in lines_of(out) if "errors" not in r)


@pytest.mark.parametrize("size", [1, 5])
def test_the_window_keeps_at_most_its_size_in_flight(size):
    """The pool's feeder thread reads ahead only as far as the window lets it, however slow the writer."""
    pulled, handed = [], queue.Queue()
    window = _Window(size)

    def documents():
        for i in range(60):
            pulled.append(i)
            yield i

    def feeder():  # what the pool's task thread does with the items
        for item in window.feed(documents()):
            handed.put(item)
        handed.put(None)

    thread = threading.Thread(target=feeder)
    thread.start()
    ahead, consumed = [], 0
    for _ in window.drain(iter(handed.get, None)):
        consumed += 1
        time.sleep(0.002)  # a slow writer
        ahead.append(len(pulled) - consumed)
    thread.join()
    # the reader ran ahead up to the window (plus the one document it holds while it waits), no further
    assert consumed == 60 and size <= max(ahead) <= size + 1
