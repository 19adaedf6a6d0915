"""Plain renderings of an assessment: JSON text and a terminal table."""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Callable
from typing import Any

import orjson

from .assessment import Assessment, CandidateAssessment
from .i18n import ENGLISH, action_message, anchor_message, drug_name, finding_message, format_date, timing_message, translations
from .notices import is_other_drug
from .notices import words as notice_words
from .ranking import RankReason
from .vocabulary import FAVOURABLE


def to_json(assessment: Assessment) -> str:
    """The assessment as JSON text; the same assessment always gives the same bytes."""
    return _dumps(assessment.to_dict(), orjson.OPT_INDENT_2, indent=2, ensure_ascii=False) + "\n"


def to_json_line(data: dict[str, Any]) -> str:
    """One compact JSON line (JSONL), deterministic for the same data."""
    return _dumps(data, 0, ensure_ascii=False, separators=(",", ":")) + "\n"


def _dumps(data: Any, option: int, **standard: Any) -> str:
    """orjson's text (about 10x faster), else the standard library's for what orjson refuses.

    The two write the same bytes for everything an assessment holds: strings, integers, and
    floats of magnitude 1e-4 and above (orjson writes smaller ones without an exponent;
    tests/test_render.py holds every rule to that). orjson refuses integers beyond 64 bits,
    keys that are not strings and lone surrogates; json.dumps writes them as before.
    """
    try:
        return orjson.dumps(data, option=option).decode()
    except TypeError:
        return json.dumps(data, **standard)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters take two."""
    if text.isascii():
        return len(text)
    if len(text) == 1:
        return 2 if unicodedata.east_asian_width(text) in "WF" else 1
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


_UNITS = re.compile(r"[\u2e80-\uffef]|[^\s\u2e80-\uffef]+|\s+")
#: Chinese punctuation that never starts a line (it stays at the end of the line before).
_NO_LINE_START = set("。，、；：）」』】！？”’")


def _wrap(text: str, width: int, indent: str, subsequent: str) -> list[str]:
    """Wrap to ``width`` terminal columns: on spaces (textwrap) for text without wide characters;
    text with Chinese in it breaks between any two Chinese characters or at a space, and never
    before closing punctuation."""
    if display_width(text) == len(text):
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=subsequent)
    # A unit is one wide character, a run without blanks, or a space (the text's blanks are single
    # spaces here); a line breaks before a unit that does not fit, never before a space.
    # used: the columns ``line`` takes; filled: whether it holds more than blanks.
    lines, line, used, filled = [], indent, display_width(indent), bool(indent.strip())
    for unit in _UNITS.findall(" ".join(text.split())):
        size = display_width(unit)
        if unit != " " and used + size > width and filled and unit not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = subsequent, display_width(subsequent)
        line += unit
        used += size
        filled = filled or unit != " "
    return [*lines, line.rstrip()]


def _rank_label(candidate: CandidateAssessment, assessment: Assessment) -> str:
    """The rank, with '=' where another candidate shares it."""
    return f"{candidate.rank}=" if candidate.rank_reason.equal_to else str(candidate.rank)


def rank_words(reason: RankReason, language: str, name: Callable[[str], str]) -> list[str]:
    """Why a candidate ranks where it does: 'equal to X (...)', 'ranked above Y: switches target'."""
    tr = translations(language)
    _ = tr.gettext

    def tier(name: str) -> str:
        return _("indeterminate, only for a missing fact") if name == "pending" else tr.pgettext("verdict", name)

    words = []
    if reason.equal_to:
        words.append(_("equal to {therapies} (the ranking criteria do not tell them apart)").format(
            therapies=", ".join(name(t) for t in reason.equal_to)))
    if reason.above is not None:
        first, second = (tier(t) for t in reason.tiers) if reason.criterion in ("verdict", "then") else ("", "")
        why = (_("a less restrictive verdict ({first} before {second})") if reason.criterion == "verdict" else
               _("what its wait becomes ({first} before {second})") if reason.criterion == "then" else
               reason.reason_in(language) or "")
        words.append(_("ranked above {therapy}: {reason}").format(therapy=name(reason.above),
                                                                   reason=why.format(first=first, second=second)))
    return words


def to_text(assessment: Assessment, width: int = 100, language: str = ENGLISH, verbose: bool = False) -> str:
    """What to do first, a table a person reads in a terminal, then each candidate's findings, in
    ``language``; ``verbose`` lists every record not used as well."""
    tr = translations(language)
    _ = tr.gettext

    def word(verdict: str) -> str:
        return tr.pgettext("verdict", verdict)

    def name(therapy: str) -> str:
        return drug_name(therapy, assessment.catalog, language)

    def day(value: Any) -> str:
        return format_date(value, language)

    rows = [("#", _("therapy"), _("target"), _("verdict"), _("not before"), _("rules"))]
    for c in assessment.candidates:
        rules = ", ".join(f.rule + (_(" (overridden)") if f.overridden else "")
                          for f in c.findings if f.effect not in FAVOURABLE) or "-"
        verdict = word(c.verdict) + (_(" (then {verdict})").format(verdict=word(c.then)) if c.then else "")
        rows.append((_rank_label(c, assessment), name(c.therapy), "/".join(c.target) or "?", verdict, day(c.earliest_date), rules))
    widths = [max(display_width(row[i]) for row in rows) for i in range(5)]
    lines = [
        _("Patient {patient}, as of {date} (packs: {packs}; rules {digest})").format(
            patient=assessment.patient_id, date=day(assessment.as_of), packs=", ".join(assessment.ruleset.packs),
            digest=assessment.ruleset.digest[:19]),
    ]
    if assessment.knowledge_reviewed is not None:
        lines.append(_("Knowledge last checked against its sources on {date}; review due {due}").format(
            date=day(assessment.knowledge_reviewed), due=day(assessment.ruleset.knowledge.due)))
    lines.append("")
    if assessment.actions:
        lines.append(_("To do first:"))
        for action in assessment.actions:
            lines += _wrap(f"- {action_message(action, language, assessment.catalog)}", width, "  ", "    ")
        lines.append("")
    if not assessment.gate.assessed:  # the reasons of gate.Gate, in the reader's language
        reason = notice_words(assessment.gate.reason, language, assessment.catalog)
        lines += _wrap(_("Not assessed: {reason}.").format(reason=reason), width, "", "  ")
    for row in rows if assessment.gate.assessed else ():
        lines.append("  ".join(_pad(cell, w) for cell, w in zip(row, widths)) + "  " + row[5])
    for c in assessment.candidates:
        setters = _(" (set by {rules})").format(rules=", ".join(c.earliest_date_set_by)) if c.earliest_date_set_by else ""
        verdict = timing_message(c.verdict, c.then, c.earliest_date, language)
        # the name asked for is shown only where it is not the catalog's own (a brand, a code)
        rank = str(c.rank)  # equals are said on the next line
        head = (_("{rank}. {therapy}: {verdict}").format(rank=rank, therapy=name(c.therapy), verdict=verdict)
                if c.query == name(c.therapy) else
                _("{rank}. {therapy} ({query}): {verdict}").format(
                    rank=rank, therapy=name(c.therapy), query=c.query, verdict=verdict))
        lines += ["", head + setters]
        for words in rank_words(c.rank_reason, language, name):
            lines += _wrap(words, width, "   ", "     ")
        if not c.findings:
            lines.append("   " + _("no rule fired"))
        for f in c.findings:
            mark = _(" [overridden: {reason}]").format(reason=f.overridden["reason"]) if f.overridden else ""
            message = finding_message(f, language, assessment.catalog)
            lines += _wrap(f"- {word(f.effect)}{mark} {f.rule}: {message}", width, "   ", "     ")
            if f.anchors:
                timing = _("timing: {role}, {anchors}").format(
                    role=tr.pgettext("timing", str(f.timing)), anchors=anchor_message(f.anchors, language, assessment.catalog))
                lines += _wrap(timing, width, "     ", "     ")
            evidence = _("evidence: {evidence}; {citation}").format(
                evidence=tr.pgettext("evidence", f.evidence), citation=f.citation)
            lines += _wrap(evidence, width, "     ", "     ")
    course = assessment.course
    lines += ["", _("Lines of therapy ({count}):").format(count=assessment.prior_lines)]
    for summary in course.line_summaries():
        said = notice_words(summary, language, assessment.catalog)
        lines += (textwrap.wrap(said, width, initial_indent="  ", subsequent_indent="     ") if language == ENGLISH else
                  _wrap(said, width, "  ", "     "))
    others = course.not_therapy_by_drug()
    if others:
        lines += ["", _("Not anti-myeloma therapy (never a line, never a washout):")]
        other = [n for n in others if is_other_drug(n["role"])]
        for n in others if verbose else [n for n in others if n not in other]:
            records = n["records"]
            where = records[0] if len(records) == 1 else _("{count} records").format(count=len(records))
            lines.append("  - " + _("{drug}: {role} ({where})").format(
                drug=name(n["drug"]), role=notice_words(n["role"], language, assessment.catalog), where=where))
        if other and not verbose:
            lines.append("  - " + _("{count} other drugs not in the catalog, nothing antineoplastic in their codes or"
                                    " names (--verbose lists them)").format(count=len(other)))
    if assessment.warnings:
        lines += ["", _("Warnings:")] + [f"  - {notice_words(w, language, assessment.catalog)}" for w in assessment.warnings]
    not_used = assessment.course.history.not_used
    if verbose and not_used:
        lines += ["", _("Records not used:")] + [f"  - {notice_words(r, language, assessment.catalog)}" for r in not_used]
    return "\n".join(lines) + "\n"
