"""Shared helpers of the tumor-board tests: the example batch and small document files."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from mmsequence.board import Board, build_board
from mmsequence.policy import load_policy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "board"
BOARD_DAY = datetime.date(2026, 3, 12)


def example_board() -> Board:
    return build_board([EXAMPLES], BOARD_DAY, load_policy())


def write(folder: Path, name: str, content: object) -> Path:
    """A file holding ``content``: text as is, anything else as JSON."""
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path
