"""Plain renderings of an assessment: JSON text and a terminal table."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import orjson

from .assessment import Assessment


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


def to_text(assessment: Assessment, width: int = 100) -> str:
    """A table a person reads in a terminal, then each candidate's findings."""
    rows = [("#", "therapy", "target", "verdict", "from", "rules")]
    for c in assessment.candidates:
        rules = ", ".join(f.rule for f in c.findings if f.effect not in ("acceptable", "preferred")) or "-"
        rows.append((str(c.rank), c.therapy, "/".join(c.target) or "?", c.verdict,
                     c.earliest_date.isoformat() if c.earliest_date else "", rules))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        f"Patient {assessment.patient_id}, as of {assessment.as_of} "
        f"(packs: {', '.join(assessment.ruleset.packs)}; rules {assessment.ruleset.digest[:19]})",
        "",
    ]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])
    for c in assessment.candidates:
        lines += ["", f"{c.rank}. {c.therapy} ({c.query}): {c.verdict}" + (f" until {c.earliest_date}" if c.earliest_date else "")]
        if not c.findings:
            lines.append("   no rule fired")
        for f in c.findings:
            mark = f" [overridden: {f.overridden['reason']}]" if f.overridden else ""
            lines += textwrap.wrap(f"- {f.effect}{mark} {f.rule}: {f.message}", width, initial_indent="   ", subsequent_indent="     ")
            lines += textwrap.wrap(f"evidence: {f.evidence}; {f.citation}", width, initial_indent="     ", subsequent_indent="     ")
    if assessment.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in assessment.warnings]
    return "\n".join(lines) + "\n"
