"""The tumor-board report: one self-contained HTML file, or Markdown with an SVG timeline per patient.

All markup lives in Jinja2 templates under ``templates/``; this module only chooses the
template and formats values. Output depends on the board alone (no clock, no host, no
randomness), so the same inputs give the same bytes.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from .._version import __version__
from ..verdicts import SEVERITY

if TYPE_CHECKING:
    from .build import Board, PatientReport

FORMATS = ("html", "md")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _number(value: float) -> str:
    """An SVG coordinate: two decimals at most, no trailing zeros, never '-0'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _markdown(value: object) -> str:
    """Text safe inside a Markdown paragraph or table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


@functools.lru_cache(maxsize=None)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mmsequence.board", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "svg"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(n=_number, md=_markdown)
    env.globals.update(version=__version__, severity=SEVERITY)
    return env


def render_timeline(patient: PatientReport) -> str:
    """The patient's timeline as a standalone SVG document."""
    return _environment().get_template("timeline.svg").render(t=patient.timeline, uid=f"tl-{patient.slug}")


def render_html(board: Board) -> str:
    """The whole report as one HTML file: inline CSS, inline SVG, a small sorting script, no network."""
    timelines = {p.slug: Markup(render_timeline(p)) for p in board.patients}
    return _environment().get_template("report.html").render(board=board, timelines=timelines)


def timeline_file(out: Path, patient: PatientReport) -> Path:
    """Where the Markdown report keeps a patient's timeline: beside the report."""
    return out.with_name(f"{out.stem}-{patient.slug}.svg")


def render_markdown(board: Board, out: Path) -> dict[Path, str]:
    """The Markdown report at ``out`` and each patient's timeline SVG beside it, by path."""
    images = {p.slug: timeline_file(out, p).name for p in board.patients}
    files = {out: _environment().get_template("report.md").render(board=board, images=images)}
    files.update((timeline_file(out, p), render_timeline(p)) for p in board.patients)
    return files


def write_report(board: Board, out: Path, fmt: str) -> list[Path]:
    """Write the report in ``fmt`` (html or md); returns the files written."""
    files = {out: render_html(board)} if fmt == "html" else render_markdown(board, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8", newline="\n")
    return list(files)
