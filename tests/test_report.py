"""The report files and the ``mmsequence board`` command: failures, exit codes, formats, same bytes."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree

import pytest

from mmsequence.board import build_board
from mmsequence.board.report import render_html, render_markdown
from mmsequence.cli import main
from mmsequence.policy import load_policy

from .batch import BOARD_DAY, EXAMPLES, example_board, write
from .builders import document, line


@pytest.fixture(scope="module")
def board():
    return example_board()


def test_a_broken_file_gets_its_own_section_and_the_rest_of_the_batch_is_reported(tmp_path, capsys):
    batch = tmp_path / "batch"
    shutil.copytree(EXAMPLES, batch)
    write(batch, "tb-900-broken.json", document(line("teclistamab", "2025-01-01", "2025-13-01"), patient_id="TB-900"))
    write(batch, "tb-901-truncated.json", '{"patient_id": "TB-901", "lines": [')
    out = tmp_path / "report.html"

    code = main(["board", str(batch), "--as-of", "2026-03-12", "--out", str(out)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert f"{batch / 'tb-900-broken.json'}: lines[1].end: '2025-13-01' is not a date" in captured.err
    assert f"{batch / 'tb-901-truncated.json'}: invalid JSON at line 1" in captured.err
    assert "Traceback" not in captured.err
    html = out.read_text(encoding="utf-8")
    failures = html[html.index('id="failures"'):html.index('class="patient"')]
    assert "Files that could not be evaluated (2)" in failures
    assert "tb-900-broken.json" in failures and "lines[1].end: &#39;2025-13-01&#39; is not a date" in failures
    assert html.count('<section class="patient"') == len(list(EXAMPLES.glob("*.json")))


def test_a_board_of_no_readable_file_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "y.html"
    assert main(["board", str(tmp_path / "nonexist"), "--as-of", "2026-03-12", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"mmsequence: {tmp_path / 'nonexist'}: " in captured.err and "cannot be read" in captured.err
    assert f"{out}: not written, no file could be evaluated" in captured.err
    assert not out.exists()


def test_the_board_date_must_be_a_full_day(tmp_path, capsys):
    assert main(["board", str(EXAMPLES), "--as-of", "2026-03", "--out", str(tmp_path / "r.html")]) == 2
    assert "--as-of: '2026-03' is not a full date (YYYY-MM-DD)" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_the_report_is_the_same_bytes_every_time(tmp_path, capsys):
    outputs = []
    for run in ("one", "two"):
        out = tmp_path / run / "board.md"
        assert main(["board", str(EXAMPLES), "--as-of", "2026-03-12", "--out", str(out)]) == 0
        assert main(["board", str(EXAMPLES), "--as-of", "2026-03-12", "--out", str(out.with_suffix(".html"))]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.parent.iterdir())})
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 2 + len(list(EXAMPLES.glob("*.json")))  # board.md, board.html and one SVG each
    captured = capsys.readouterr()
    assert captured.out == ""  # the summary goes to stderr, as batch's and audit's do
    # no progress bar when stderr is not a terminal: only the summary of each of the four runs
    assert captured.err.splitlines() == [f"mmsequence: {tmp_path / run / name}: 11 patients" + timelines
                                         for run in ("one", "two") for name, timelines in
                                         (("board.md", ", 11 timelines beside it"), ("board.html", ""))]


def test_the_html_report_is_one_self_contained_file(board):
    html = render_html(board)
    assert "<link" not in html and " src=" not in html and "@import" not in html
    assert html.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http") == 0
    assert html.count("<svg ") == len(board.patients)
    assert "size: A4 landscape;" in html
    assert "size: letter landscape;" in render_html(board, paper="letter")


def test_markdown_carries_each_timeline_as_an_svg_file_beside_it(board, tmp_path):
    out = tmp_path / "board.md"
    files = render_markdown(board, out)
    text = files[out]
    for patient in board.patients:
        image = out.with_name(f"board-{patient.slug}.svg")
        assert f"]({image.name})" in text
        assert ElementTree.fromstring(files[image]).tag == "{http://www.w3.org/2000/svg}svg"
    for finding in (f for p in board.patients for c in p.assessment.candidates for f in c.findings):
        assert f"`{finding.rule}`" in text


def test_text_from_documents_is_escaped(tmp_path):
    write(tmp_path, "x.json", document(patient_id="<b>TB|1</b>", comment="a <script>alert(1)</script> note"))
    board = build_board([tmp_path], BOARD_DAY, load_policy())
    html = render_html(board)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    assert "<b>TB" not in html
    markdown = render_markdown(board, tmp_path / "r.md")[tmp_path / "r.md"]
    assert "\\<b\\>TB\\|1\\</b\\>" in markdown


def test_a_patient_in_two_files_is_flagged_in_the_report(tmp_path):
    write(tmp_path, "old.json", document(patient_id="TB-1"))
    write(tmp_path, "new.json", document(patient_id="TB-1"))
    html = render_html(build_board([tmp_path], BOARD_DAY, load_policy()))
    assert "Patient <strong>TB-1</strong> appears in 2 files" in html
