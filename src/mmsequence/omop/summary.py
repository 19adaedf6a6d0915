"""The audit's aggregates (per rule, per year, per therapy), the unmapped concepts, and the HTML summary.

Aggregates are added up part by part, so memory follows a part, not the cohort. The summary is
one self-contained HTML file; its plots are SVG drawn by matplotlib (no clock in the output, a
fixed hash salt: the same decisions give the same bytes).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tables import read_table, write_table

if TYPE_CHECKING:
    from .audit import Journal
    from .mapping import OmopMapping
    from .sources import Source

OUTCOME_COLUMNS = ("decisions", "concordant", "discordant", "indeterminate", "error", "concordance_rate", "best_ranked_rate")
RULE_COLUMNS = ("rule", "against_given", "overridden_given")
UNMAPPED_COLUMNS = ("domain", "concept_id", "concept_name", "vocabulary_id", "outcome", "records", "persons")
_COLOURS = {"concordant": "#2e7d32", "discordant": "#c62828", "indeterminate": "#f9a825", "error": "#616161"}

Names = Callable[[list[int]], Mapping[int, tuple[str, str]]]


class Tally:
    """Decisions added up by year, by therapy and by rule."""

    def __init__(self) -> None:
        self.by_year: dict[int, Counter[str]] = {}
        self.by_therapy: dict[str, Counter[str]] = {}
        self.against: Counter[str] = Counter()
        self.overridden: Counter[str] = Counter()
        self.total: Counter[str] = Counter()

    def add(self, row: Mapping[str, Any]) -> None:
        counts = Counter({"decisions": 1, row["concordance"]: 1, "best_ranked": int(bool(row["best_ranked"]))})
        for table, key in ((self.by_year, row["year"]), (self.by_therapy, row["therapy"])):
            table.setdefault(key, Counter()).update(counts)
        self.total.update(counts)
        self.against.update(r for r in row["against"].split(";") if r)
        self.overridden.update(r for r in row["overridden"].split(";") if r)

    def rules(self) -> list[dict[str, Any]]:
        rules = sorted(set(self.against) | set(self.overridden), key=lambda r: (-self.against[r], r))
        return [{"rule": r, "against_given": self.against[r], "overridden_given": self.overridden[r]} for r in rules]


def _outcomes(counts: Counter[str]) -> dict[str, Any]:
    decided = counts["concordant"] + counts["discordant"]
    return {
        "decisions": counts["decisions"], "concordant": counts["concordant"], "discordant": counts["discordant"],
        "indeterminate": counts["indeterminate"], "error": counts["error"],
        "concordance_rate": round(counts["concordant"] / decided, 4) if decided else None,
        "best_ranked_rate": round(counts["best_ranked"] / counts["decisions"], 4) if counts["decisions"] else None,
    }


def finish(out: Path, journal: Journal, source: Source, diagnostics: Sequence[str] = (),
           mapping: OmopMapping | None = None) -> None:
    """The aggregates and summary of an audit run through a :class:`~mmsequence.audit.Journal`."""
    from .sources import concept_names

    write_summary(out, journal.fmt, journal.part_files(), journal.unmapped(), lambda ids: concept_names(source, ids),
                  source.label, diagnostics, journal.part_files("lines"), concepts_note(mapping))


def concepts_note(mapping: OmopMapping | None) -> str:
    if mapping is None or not mapping.defaults:
        return ""
    from .standard import LAMBDA

    return (f"{', '.join(mapping.defaults)}: the OMOP standard concepts by default (multiple myeloma 437233 and its"
            f" descendants; CAR-T introduction 43018384, 43018388; T-cell collection 927059), from {LAMBDA};"
            " the policy's omop section replaces them.")


def compare_lines(parts: Iterable[Path]) -> list[dict[str, Any]]:
    """Per reading: persons compared and identical, then each kind of disagreement with a first example."""
    persons: Counter[str] = Counter()
    identical: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for part in parts:
        for row in read_table(part):
            reading = row["reading"]
            persons[reading] += 1
            identical[reading] += bool(row["identical"])
            for kind in filter(None, row["kinds"].split(";")):
                kinds[(reading, kind)] += 1
                examples.setdefault((reading, kind), f"person {row['person_id']}: IMWG {row['imwg'] or '(none)'};"
                                                     f" {reading} {row['other'] or '(none)'}")
    rows = []
    for reading in sorted(persons):
        share = round(identical[reading] / persons[reading], 4)
        rows.append({"reading": reading, "kind": "identical lines", "persons": identical[reading],
                     "share_identical": share, "example": ""})
        for (r, kind), n in sorted(kinds.items(), key=lambda item: (-item[1], item[0])):
            if r == reading:
                rows.append({"reading": reading, "kind": kind, "persons": n, "share_identical": share,
                             "example": examples[(r, kind)]})
    return rows


LINES_COLUMNS = ("reading", "kind", "persons", "share_identical", "example")


def write_summary(out: Path, fmt: str, parts: Iterable[Path], unmapped: Mapping[tuple[str, int, str], list[int]],
                  names: Names, source: str, diagnostics: Sequence[str] = (), line_parts: Iterable[Path] = (),
                  concepts: str = "") -> Tally:
    """Add up the decision parts, write by_year, by_therapy, by_rule, unmapped, lines_compared and summary.html."""
    tally = Tally()
    for part in parts:
        for row in read_table(part):
            tally.add(row)
    years = [{"year": y, **_outcomes(c)} for y, c in sorted(tally.by_year.items())]
    therapies = [{"therapy": t, **_outcomes(c)} for t, c in sorted(tally.by_therapy.items())]
    write_table(out / "by_year", ("year", *OUTCOME_COLUMNS), years, fmt)
    write_table(out / "by_therapy", ("therapy", *OUTCOME_COLUMNS), therapies, fmt)
    write_table(out / "by_rule", RULE_COLUMNS, tally.rules(), fmt)
    known = names(sorted({concept for _, concept, _ in unmapped}))
    listed = [
        {"domain": d, "concept_id": c, "concept_name": known.get(c, ("(not in the concept table)", ""))[0],
         "vocabulary_id": known.get(c, ("", ""))[1], "outcome": o, "records": n[0], "persons": n[1]}
        for (d, c, o), n in sorted(unmapped.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))
    ]
    write_table(out / "unmapped", UNMAPPED_COLUMNS, listed, fmt)
    compared = compare_lines(line_parts)
    write_table(out / "lines_compared", LINES_COLUMNS, compared, fmt)
    page = _html(tally, years, therapies, listed, source, list(diagnostics), compared, concepts)
    (out / "summary.html").write_text(page, encoding="utf-8")
    return tally


# --- the HTML summary ------------------------------------------------------------------------

def _svg(draw: Callable[[Any], None], height: float) -> str:
    """An SVG figure drawn by ``draw(axes)``, without its XML prologue, the same bytes for the same data."""
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "mmsequence-audit"
    figure = Figure(figsize=(8, height))
    draw(figure.add_subplot())
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _stacked(labels: list[str], rows: list[dict[str, Any]], title: str, horizontal: bool) -> Callable[[Any], None]:
    def draw(axes: Any) -> None:
        base = [0] * len(rows)
        for outcome in ("concordant", "discordant", "indeterminate", "error"):
            values = [r[outcome] for r in rows]
            if horizontal:
                axes.barh(labels, values, left=base, color=_COLOURS[outcome], label=outcome)
            else:
                axes.bar(labels, values, bottom=base, color=_COLOURS[outcome], label=outcome)
            base = [b + v for b, v in zip(base, values)]
        axes.set_title(title)
        _legend_outside(axes)
        if horizontal:
            axes.invert_yaxis()
            axes.set_xlabel("decisions")
        else:
            axes.set_ylabel("decisions")
    return draw


def _rules_plot(rules: list[dict[str, Any]]) -> Callable[[Any], None]:
    def draw(axes: Any) -> None:
        top = rules[:15]
        axes.barh([r["rule"] for r in top], [r["against_given"] for r in top], color=_COLOURS["discordant"],
                  label="went against")
        axes.barh([r["rule"] for r in top], [r["overridden_given"] for r in top],
                  left=[r["against_given"] for r in top], color="#90a4ae", label="overridden")
        axes.invert_yaxis()
        axes.set_xlabel("decisions")
        axes.set_title("Rules the therapy given went against")
        _legend_outside(axes)
    return draw


def _legend_outside(axes: Any) -> None:
    """The legend to the right of the plot, outside the axes, so that it never covers a bar."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def _html(tally: Tally, years: list[dict[str, Any]], therapies: list[dict[str, Any]], unmapped: list[dict[str, Any]],
          source: str, diagnostics: list[str], compared: list[dict[str, Any]], concepts: str) -> str:
    import jinja2
    import markupsafe

    env = jinja2.Environment(loader=jinja2.PackageLoader("mmsequence.omop", "templates"),
                             autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    rules = tally.rules()
    plots = {
        "years": _svg(_stacked([str(y["year"]) for y in years], years, "Decisions by year", False), 3.5) if years else "",
        "therapies": _svg(_stacked([t["therapy"] for t in therapies], therapies, "Decisions by therapy given", True),
                          1.2 + 0.35 * len(therapies)) if therapies else "",
        "rules": _svg(_rules_plot(rules), 1.2 + 0.35 * min(len(rules), 15)) if rules else "",
    }
    return env.get_template("summary.html").render(
        source=source, total=_outcomes(tally.total), outcome_columns=OUTCOME_COLUMNS, years=years, therapies=therapies,
        rules=rules, rule_columns=RULE_COLUMNS, unmapped=unmapped[:100], unmapped_columns=UNMAPPED_COLUMNS,
        diagnostics=diagnostics, compared=compared, lines_columns=LINES_COLUMNS, concepts=concepts,
        plots={k: markupsafe.Markup(v) for k, v in plots.items()})
