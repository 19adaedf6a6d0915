"""Bad input never raises anything but InputError, and the command line never prints a traceback."""

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

from mmsequence import InputError, evaluate
from mmsequence.cli import main
from mmsequence.testing import invalid_documents, invalid_files

from .profiles import SEEDS, run


def _rejected(document) -> None:
    with pytest.raises(InputError) as caught:
        evaluate(document)
    problems = caught.value.problems
    assert problems and all(isinstance(p, str) and 0 < len(p) <= 200 for p in problems), problems[:3]


@SEEDS
def test_invalid_documents_raise_input_error_and_nothing_else(seed_value):
    run(_rejected, invalid_documents(), seed_value)


def evaluate_file(path, content: bytes) -> tuple[int, str, str]:
    """``mmsequence evaluate`` on ``content`` written to ``path``: exit code, stdout, stderr."""
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["evaluate", str(path)])
    return code, out.getvalue(), err.getvalue()


@SEEDS
def test_the_command_line_answers_bad_files_with_one_line_per_problem(seed_value, tmp_path):
    def rejected(content: bytes) -> None:
        code, out, err = evaluate_file(tmp_path / "document.json", content)
        assert (code, out) == (2, "")
        assert err and all(line.startswith("mmsequence: ") for line in err.splitlines())

    run(rejected, invalid_files(), seed_value)


@pytest.mark.parametrize("content", [
    b'{"patient_id": "\\udcff", "lines": []}',
    b'{"patient_id": "x", "lines": [], "biomarkers": {"soluble_bcma_ng_ml": ' + b"9" * 5000 + b"}}",
    b'{"patient_id": "x", "lines": [], "biomarkers": {"soluble_bcma_ng_ml": ' + b"9" * 400 + b"}}",
    b'{"patient_id": ' + b"[" * 990 + b"]" * 990 + b', "lines": []}',
    b"\xff\xfe{}",
], ids=["lone-surrogate", "integer-too-long", "number-too-large", "nested-990", "utf-16"])
def test_the_installed_command_prints_no_traceback(tmp_path, content):
    path = tmp_path / "document.json"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "evaluate", str(path)],
                          capture_output=True, timeout=120, env={"PYTHONIOENCODING": "utf-8", "PATH": ""})
    assert (done.returncode, done.stdout) == (2, b"")
    assert b"Traceback" not in done.stderr and done.stderr.startswith(b"mmsequence: ")
