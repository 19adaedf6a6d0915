"""The tumor-board batch: which files are read, what a failing file gives, each patient's summary row."""

from __future__ import annotations

import datetime
import html
import re
from pathlib import Path

import pytest

from mmsequence.board import build_board, collect_inputs
from mmsequence.board.command import run_board
from mmsequence.errors import InputError
from mmsequence.policy import load_policy

from .batch import BOARD_DAY, EXAMPLES, example_board, write
from .builders import document, line

# patient: (best option, its verdict, its date), waits (option, until), blocking rules, warnings
SUMMARIES = {
    "TB-101": (("ciltacabtagene autoleucel", "wait", "2026-06-20"), [("ciltacabtagene autoleucel", "2026-06-20")],
               ["review.interval", "review.no-bsab-before-apheresis"], 0),
    "TB-102": (("ciltacabtagene autoleucel", "preferred", None), [], [], 0),
    "TB-103": (("talquetamab", "acceptable", None), [], [], 0),
    # the two BCMA bsAbs wait to the same day and share a rank: listed in the order they were asked in
    "TB-104": (("belantamab mafodotin", "acceptable", None),
               [("teclistamab", "2026-09-12"), ("elranatamab", "2026-09-12")],
               ["review.interval"], 0),
    "TB-105": (("talquetamab", "wait", "2026-03-30"), [("talquetamab", "2026-03-30")], ["review.interval-uncertain"], 0),
    "TB-106": (("talquetamab", "acceptable", None), [], ["extended.antigen-loss"], 0),
    # eligibility unknown: the CAR-T whose only problem is the missing fact ranks ahead of the bsAbs
    "TB-107": (("ciltacabtagene autoleucel", "indeterminate", None), [], ["review.car-t-eligibility-unknown"], 0),
    # both acceptable once the team overrides elranatamab's cautions: the approved therapy before the trial-only one
    "TB-108": (("elranatamab", "acceptable", None), [], [], 0),
    "TB-109": (("ciltacabtagene autoleucel", "caution", None), [("talquetamab", "2026-05-14")], ["review.interval"], 0),
    "TB-110": (("talquetamab", "indeterminate", None), [], ["safety.unknown-agent"], 1),
    "TB-111": (("ciltacabtagene autoleucel", "wait", "2026-05-30"),
               [("ciltacabtagene autoleucel", "2026-05-30"), ("cevostamab", "2026-05-30")], ["review.interval"], 0),
}


@pytest.fixture(scope="module")
def board():
    return example_board()


def row_of(board, patient_id):
    return next(p.summary for p in board.patients if p.summary.patient_id == patient_id)


def test_the_example_batch_is_a_whole_board_in_patient_order(board):
    assert [p.summary.patient_id for p in board.patients] == sorted(SUMMARIES)
    assert board.failures == ()
    assert len({p.slug for p in board.patients}) == len(board.patients)
    assert all(p.assessment.as_of == BOARD_DAY for p in board.patients)


@pytest.mark.parametrize("patient_id", sorted(SUMMARIES))
def test_summary_row(board, patient_id):
    (therapy, verdict, until), waits, blocking, warnings = SUMMARIES[patient_id]
    row = row_of(board, patient_id)
    assert (row.best.therapy, row.best.verdict, row.best.earliest_date) == (
        therapy, verdict, until and datetime.date.fromisoformat(until))
    assert [(c.therapy, c.earliest_date.isoformat()) for c in row.waits] == waits
    assert list(row.blocking_rules) == blocking
    assert len(row.warnings) == warnings


def test_summary_row_lists_tcrts_in_order_and_leaves_out_overridden_findings(board):
    row = row_of(board, "TB-108")
    assert row.tcrts == ("teclistamab", "talquetamab")
    elranatamab = next(p for p in board.patients if p.summary.patient_id == "TB-108").assessment.candidate("elranatamab")
    assert elranatamab.verdict == "acceptable"
    assert "review.switch-target" not in row.blocking_rules


def test_a_broken_file_fails_alone_naming_its_fields(tmp_path):
    write(tmp_path, "good.json", document(line("teclistamab", "2025-01-01", "2025-06-01"), patient_id="TB-1"))
    write(tmp_path, "bad.json", document(line("teclistamab", "2025-01-01", "2025-13-01"), patient_id="TB-2", colour="red"))
    write(tmp_path, "late.json", document(line("teclistamab", "2025-01-01", "2026-04-01"), patient_id="TB-3"))
    board = build_board([tmp_path], BOARD_DAY, load_policy())
    assert [p.summary.patient_id for p in board.patients] == ["TB-1"]
    assert [(f.source, f.problems) for f in board.failures] == [
        (str(tmp_path / "bad.json"), ("colour: unknown field", "lines[1].end: '2025-13-01' is not a date")),
        (str(tmp_path / "late.json"), ("lines[1].end: '2026-04-01' is after as_of 2026-03-12",)),
    ]


def test_a_missing_file_is_a_failure_naming_it(tmp_path):
    board = build_board([tmp_path / "absent.json"], BOARD_DAY, load_policy())
    assert board.patients == ()
    assert board.failures[0].source == str(tmp_path / "absent.json")
    assert "cannot be read" in board.failures[0].problems[0]


def test_a_batch_without_documents_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"no patient documents \(\*\.json\)"):
        build_board([tmp_path], BOARD_DAY, load_policy())


def test_inputs_are_files_and_folders_of_json_each_file_once(tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    first = write(tmp_path / "a", "2.json", document())
    second = write(nested, "1.json", document())
    write(nested, "notes.txt", "not a patient")
    assert collect_inputs([tmp_path / "a", first, second]) == [tmp_path / "a" / "2.json", nested / "1.json"]


def test_same_patient_in_two_files_is_flagged(tmp_path):
    write(tmp_path, "old.json", document(patient_id="TB-1"))
    write(tmp_path, "new.json", document(patient_id="TB-1"))
    board = build_board([tmp_path], BOARD_DAY, load_policy())
    assert board.duplicate_ids == (("TB-1", (str(tmp_path / "new.json"), str(tmp_path / "old.json"))),)
    assert [p.slug for p in board.patients] == ["TB-1", "TB-1-2"]


MONTHLY = [datetime.date(2026 + (2 + k) // 12, (2 + k) % 12 + 1, 1) for k in range(12)]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_example_board_is_written_on_the_first_of_every_month_for_a_year(tmp_path, language):
    """A finding that only schedules (a washout's not-before date) is not a restriction: the board
    reports it rather than failing on it, whatever the day and the language."""
    effects, schedule_words = set(), set()
    for day in MONTHLY:
        out = tmp_path / f"{day}.html"
        assert run_board([str(EXAMPLES)], day.isoformat(), str(out), language=language).startswith(f"{out}: 11 patients")
        schedule_words |= set(re.findall(r'<span class="effect e-schedule">([^<]*)</span>', out.read_text(encoding="utf-8")))
        board = build_board([EXAMPLES], day, load_policy(), language=language)
        effects |= {f.effect for p in board.patients for c in p.assessment.candidates for f in c.findings}
        assert out.stat().st_size > 0
    assert len(MONTHLY) == 12 and MONTHLY[0] == datetime.date(2026, 3, 1) and MONTHLY[-1] == datetime.date(2027, 2, 1)
    assert "schedule" in effects
    assert schedule_words == {"schedule" if language == "en" else "排期"}   # the word in the board's language


def test_prior_lines_are_the_lines_of_therapy_the_text_output_counts(tmp_path):
    chart = Path(__file__).resolve().parents[1] / "examples" / "fhir" / "car-t-bridging.json"
    board = build_board([chart], BOARD_DAY, load_policy())
    (patient,) = board.patients
    assert len(patient.history.lines) == 4   # four records, one of them bridging within a line
    assert patient.summary.prior_lines == patient.assessment.course.prior_lines == 3
    out = tmp_path / "b.html"
    run_board([str(chart)], BOARD_DAY.isoformat(), str(out))
    html = out.read_text(encoding="utf-8")
    assert "3 prior lines" in html and "4 prior lines" not in html


@pytest.mark.parametrize(("language", "said", "not_said"), [
    ("en", "Read from a FHIR Bundle; each line's comment says how it was formed.", "读取自"),
    ("zh-CN", "读取自 FHIR Bundle；每条治疗线的备注说明其如何形成。", "Read from a FHIR Bundle")])
def test_a_chart_read_from_fhir_says_so_in_the_boards_language(tmp_path, language, said, not_said):
    chart = Path(__file__).resolve().parents[1] / "examples" / "fhir" / "car-t-bridging.json"
    for paper in ("b.html", "b.md"):
        run_board([str(chart)], BOARD_DAY.isoformat(), str(tmp_path / paper), language=language)
        text = html.unescape((tmp_path / paper).read_text(encoding="utf-8"))
        assert said in text and not_said not in text


@pytest.mark.parametrize(("language", "words"), [("en", "Not assessed: the record says the patient died."),
                                                 ("zh-CN", "未评估：病历记载患者已死亡。")])
def test_a_record_not_assessed_is_one_row_saying_why_beside_the_others(tmp_path, language, words):
    """A public Synthea chart (no myeloma, a recorded death) on the same board as the shipped
    patients: the board is written, the row says why it was not assessed and offers no option, and
    it sorts after every assessed patient."""
    import gzip

    chart = tmp_path / "synthea.json"
    chart.write_bytes(gzip.decompress((Path(__file__).parent / "data" / "synthea" /
                                       "Alejandro_Riojas_a9fcc685-c7a2-4474-bf25-26c8fe4b48f9.json.gz").read_bytes()))
    out = tmp_path / "b.md"
    assert run_board([str(chart), str(EXAMPLES)], BOARD_DAY.isoformat(), str(out), language=language) \
        .startswith(f"{out}: 12 patients")
    assert words in out.read_text(encoding="utf-8")
    board = build_board([chart, EXAMPLES], BOARD_DAY, load_policy(), language=language)
    (dead,) = [p for p in board.patients if not p.assessment.gate.assessed]
    assert dead.summary.best is None and dead.plans is None
    assert dead.summary.best_order > max(p.summary.best_order for p in board.patients if p is not dead)
