"""One person's lines of therapy read three ways: IMWG (mmsequence's, written as episodes), the
OHDSI myeloma logic (:mod:`.ohdsi_lines`), and the site's own EPISODE rows where it has them; and
how the others differ from the IMWG reading."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .decisions import ChartLines
from .episodes import Span, disagreements, imwg_rows, imwg_spans, ohdsi_spans
from .ohdsi_lines import ohdsi_lines

#: The per-person comparison table.
COLUMNS = ("person_id", "reading", "imwg_lines", "other_lines", "identical", "kinds", "imwg", "other")
OHDSI_LOGIC, SITE = "OHDSI logic", "site EPISODE"


def _text(spans: Sequence[Span]) -> str:
    return " | ".join(f"{s.start.isoformat()} {s.text}" for s in spans)


def compared(person_id: int, reading: str, imwg: Sequence[Span], other: Sequence[Span],
             visible: frozenset[str] | None) -> dict[str, Any]:
    kinds = disagreements(imwg, other, visible, f"the {reading} reading")
    return {"person_id": person_id, "reading": reading, "imwg_lines": len(imwg), "other_lines": len(other),
            "identical": not kinds, "kinds": ";".join(kinds), "imwg": _text(imwg), "other": _text(other)}


def read_lines(lines: ChartLines, codeset: frozenset[str],
               site: Sequence[Span] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the IMWG lines as derived-episode rows, the comparison rows: OHDSI logic, and site when given)."""
    chart, events, reading = lines.chart, lines.events, lines.reading
    records = {d.source: d.labels for d in chart.drugs}
    imwg = imwg_spans(reading)
    visible = codeset | {d.meaning.name for d in chart.drugs if d.car_t}  # the logic counts any CAR-T infusion
    rows = [compared(chart.person_id, OHDSI_LOGIC, imwg, ohdsi_spans(ohdsi_lines(events, codeset, chart.diagnosis)),
                     visible)]
    if site is not None:
        rows.append(compared(chart.person_id, SITE, imwg, site, None))
    return imwg_rows(chart.person_id, reading, records), rows
