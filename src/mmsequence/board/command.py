"""The ``mmsequence board`` command: evaluate the batch, write the report, say what was written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..i18n import ENGLISH, check_language
from ..policy import load_policy
from .build import build_board, parse_board_date
from .report import write_report


def run_board(inputs: Sequence[str], as_of: str, out: str, fmt: str | None = None, policy: str | None = None,
              language: str = ENGLISH, paper: str = "a4") -> str:
    """The ``mmsequence board`` command: evaluate, write the report, and say what was written.

    The report is written even when some files fail; those failures are then raised as one
    :class:`InputError` (one problem per file and field) so that the exit code says so. When no
    file can be evaluated, nothing is written.
    """
    board = build_board(inputs, parse_board_date(as_of), load_policy(policy), progress=True,
                        language=check_language(language))
    target = Path(out)
    problems = [f"{f.source}: {problem}" for f in board.failures for problem in f.problems]
    if not board.patients:
        raise InputError([*problems, f"{target}: not written, no file could be evaluated"])
    fmt = fmt or {".md": "md", ".pdf": "pdf"}.get(target.suffix.lower(), "html")
    try:
        written = write_report(board, target, fmt, paper)
    except OSError as error:
        raise InputError([f"{target}: cannot be written ({error.strerror})"]) from None
    count = len(board.patients)
    done = f"{target}: {count} patient{'' if count == 1 else 's'}" + (f", {len(written) - 1} timelines beside it" if fmt == "md" else "")
    if board.failures:
        raise InputError([*problems, f"{done}; {len(board.failures)} file(s) could not be evaluated"])
    return done + "\n"
