"""The tumor-board report: one self-contained HTML file, a PDF printed from it, or Markdown with
an SVG timeline per patient.

All markup lives in Jinja2 templates under ``templates/``; this module only chooses the
template and formats values. Fixed words go through gettext (Jinja2's i18n extension, with the
board's language from :mod:`mmsequence.i18n`). Output depends on the board alone (no clock, no
host, no randomness), so the same inputs give the same bytes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from .._atomic import write_atomically
from .._version import __version__
from ..i18n import (
    action_message,
    anchor_message,
    drug_name,
    finding_message,
    format_date,
    format_when,
    timing_message,
    translations,
)
from ..notices import words as notice_words
from ..plan_text import step_start_words, step_when_short
from ..vocabulary import EFFECTS, SCHEDULE, VERDICTS
from .geometry import FONT_SIZE, SMALL_SIZE, short_therapy
from .pdf import print_pdf

if TYPE_CHECKING:
    from .build import Board, PatientReport

FORMATS = ("html", "md", "pdf")
#: Printed pages, landscape, as CSS ``@page`` sizes.
PAPERS = {"a4": "A4 landscape", "letter": "letter landscape"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _number(value: float) -> str:
    """An SVG coordinate: two decimals at most, no trailing zeros, never '-0'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def verdict_column(words: Iterable[str]) -> str:
    """A CSS width for the findings' verdict column, from the longest of ``words``: one ``ch`` a letter,
    nearly two a wide CJK character; the same for every patient of the board. The column still grows
    to a word that is wider in upper case and bold (``max-content``), so a word never runs into the message."""
    longest = max(sum(1.8 if unicodedata.east_asian_width(c) in "WF" else 1.0 for c in word) for word in words)
    return f"{longest:.1f}ch"


def _markdown(value: object) -> str:
    """Text safe inside a Markdown paragraph or table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


@functools.cache
def _environment(language: str = "en") -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mmsequence.board", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "svg"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    tr = translations(language)
    env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        n=_number, md=_markdown,
        date=lambda day: format_date(day, language) if day else "",
        when=lambda value: format_when(value, language),
        verdict=lambda word: tr.pgettext("verdict", word),
        effect=lambda word: tr.pgettext("timing" if word == SCHEDULE else "verdict", word),
        evidence=lambda level: tr.pgettext("evidence", level),
        zip=zip,
    )
    env.globals.update(version=__version__, severity=VERDICTS, lang=language, font_size=FONT_SIZE, small_size=SMALL_SIZE,
                       verdict_width=verdict_column(env.filters["effect"](effect) for effect in EFFECTS),
                       drug=lambda name, catalog: drug_name(name, catalog, language),
                       message=lambda finding, catalog: finding_message(finding, language, catalog),
                       action=lambda act, catalog: action_message(act, language, catalog),
                       notice=lambda note, catalog: notice_words(note, language, catalog),
                       anchors=lambda anchors, catalog: anchor_message(anchors, language, catalog),
                       timing=lambda c: timing_message(c.verdict, c.then, c.earliest_date, language),
                       plan_start=lambda step, plans: step_start_words(step, plans.months is not None, language),
                       plan_when=lambda step: step_when_short(step, language),
                       short=lambda name, catalog: short_therapy(name, catalog, language))
    return env


def render_timeline(patient: PatientReport, language: str = "en") -> str:
    """The patient's timeline as a standalone SVG document."""
    return _environment(language).get_template("timeline.svg").render(t=patient.timeline, uid=f"tl-{patient.slug}")


def render_html(board: Board, paper: str = "a4") -> str:
    """The whole report as one HTML file: inline CSS, inline SVG, a small sorting script, no network;
    printed on ``paper`` (a4 or letter), landscape."""
    timelines = {p.slug: Markup(render_timeline(p, board.language)) for p in board.patients}
    return _environment(board.language).get_template("report.html").render(
        board=board, timelines=timelines, page_size=PAPERS[paper])


def timeline_file(out: Path, patient: PatientReport) -> Path:
    """Where the Markdown report keeps a patient's timeline: beside the report."""
    return out.with_name(f"{out.stem}-{patient.slug}.svg")


def render_markdown(board: Board, out: Path) -> dict[Path, str]:
    """The Markdown report at ``out`` and each patient's timeline SVG beside it, by path."""
    images = {p.slug: timeline_file(out, p).name for p in board.patients}
    files = {out: _environment(board.language).get_template("report.md").render(board=board, images=images)}
    files.update((timeline_file(out, p), render_timeline(p, board.language)) for p in board.patients)
    return files


def write_report(board: Board, out: Path, fmt: str, paper: str = "a4") -> list[Path]:
    """Write the report in ``fmt`` (html, md or pdf) on ``paper``; returns the files written.

    A PDF is the HTML report printed by headless Chromium, so the two never differ.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        print_pdf(render_html(board, paper), out)
        return [out]
    files = {out: render_html(board, paper)} if fmt == "html" else render_markdown(board, out)
    for path, text in files.items():
        write_atomically(path, text)
    return list(files)
