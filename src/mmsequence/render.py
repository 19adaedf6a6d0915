"""Plain renderings of an assessment: JSON text and a terminal table."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from .assessment import Assessment
from .messages import anchor_words, timing_words


def to_json(assessment: Assessment) -> str:
    """The assessment as JSON text; the same assessment always gives the same bytes."""
    return json.dumps(assessment.to_dict(), indent=2, ensure_ascii=False) + "\n"


def to_json_line(data: dict[str, Any]) -> str:
    """One compact JSON line (JSONL), deterministic for the same data."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def to_text(assessment: Assessment, width: int = 100) -> str:
    """What to do first, a table a person reads in a terminal, then each candidate's findings."""
    rows = [("#", "therapy", "target", "verdict", "not before", "rules")]
    for c in assessment.candidates:
        rules = ", ".join(f.rule + (" (overridden)" if f.overridden else "")
                          for f in c.findings if f.effect not in ("acceptable", "preferred")) or "-"
        rows.append((str(c.rank), c.therapy, "/".join(c.target) or "?", c.verdict + (f" (then {c.then})" if c.then else ""),
                     c.earliest_date.isoformat() if c.earliest_date else "", rules))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        f"Patient {assessment.patient_id}, as of {assessment.as_of} "
        f"(packs: {', '.join(assessment.ruleset.packs)}; rules {assessment.ruleset.digest[:19]})",
    ]
    knowledge = assessment.ruleset.knowledge
    if knowledge.reviewed is not None:
        lines.append(f"Knowledge last checked against its sources on {knowledge.reviewed}; review due {knowledge.due}")
    lines.append("")
    if assessment.actions:
        lines.append("To do first:")
        for action in assessment.actions:
            lines += textwrap.wrap(f"- {action.text}", width, initial_indent="  ", subsequent_indent="    ")
        lines.append("")
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])
    for c in assessment.candidates:
        setters = f" (set by {', '.join(c.earliest_date_set_by)})" if c.earliest_date_set_by else ""
        lines += ["", f"{c.rank}. {c.therapy} ({c.query}): {timing_words(c.verdict, c.then, c.earliest_date)}{setters}"]
        if not c.findings:
            lines.append("   no rule fired")
        for f in c.findings:
            mark = f" [overridden: {f.overridden['reason']}]" if f.overridden else ""
            lines += textwrap.wrap(f"- {f.effect}{mark} {f.rule}: {f.message}", width, initial_indent="   ", subsequent_indent="     ")
            if f.anchors:
                lines += textwrap.wrap(f"timing: {f.timing}, {anchor_words(f.anchors)}", width,
                                       initial_indent="     ", subsequent_indent="     ")
            lines += textwrap.wrap(f"evidence: {f.evidence}; {f.citation}", width, initial_indent="     ", subsequent_indent="     ")
    course = assessment.course
    lines += ["", f"Lines of therapy ({course.prior_lines}):"]
    for summary in course.line_summaries():
        lines += textwrap.wrap(summary, width, initial_indent="  ", subsequent_indent="     ")
    others = course.not_therapy_by_drug()
    if others:
        lines += ["", "Not anti-myeloma therapy (never a line, never a washout):"]
        for n in others:
            records = n["records"]
            where = records[0] if len(records) == 1 else f"{len(records)} records"
            lines.append(f"  - {n['drug']}: {n['role']} ({where})")
    if assessment.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in assessment.warnings]
    return "\n".join(lines) + "\n"
