"""The audit's aggregates (per rule, per year, per therapy), the unmapped concepts, and the HTML summary.

Aggregates are added up part by part, so memory follows a part, not the cohort. The summary is
one self-contained HTML file; its plots are SVG drawn by matplotlib (no clock in the output, a
fixed hash salt: the same decisions give the same bytes).
"""

from __future__ import annotations

import html
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .tables import read_table, write_table

if TYPE_CHECKING:
    from .audit import Journal
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


def finish(out: Path, journal: Journal, source: Source) -> None:
    """The aggregates and summary of an audit run through a :class:`~mmsequence.audit.Journal`."""
    from .sources import concept_names

    write_summary(out, journal.fmt, journal.part_files(), journal.unmapped(), lambda ids: concept_names(source, ids),
                  source.label)


def write_summary(out: Path, fmt: str, parts: Iterable[Path], unmapped: Mapping[tuple[str, int, str], list[int]],
                  names: Names, source: str) -> Tally:
    """Add up the decision parts, write by_year, by_therapy, by_rule, unmapped and summary.html."""
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
    (out / "summary.html").write_text(_html(tally, years, therapies, listed, source), encoding="utf-8")
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
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
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
        axes.legend(loc="best", fontsize="small")
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
        axes.legend(loc="best", fontsize="small")
    return draw


def _table(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r[c]))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#212121}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bdbdbd;padding:.2em .6em;text-align:left}
th{background:#eeeeee}h2{margin-top:2em}.note{color:#555}svg{max-width:100%;height:auto}"""


def _html(tally: Tally, years: list[dict[str, Any]], therapies: list[dict[str, Any]], unmapped: list[dict[str, Any]],
          source: str) -> str:
    total = _outcomes(tally.total)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mmsequence concordance audit</title>",
        f"<style>{_CSS}</style></head><body><h1>Concordance audit</h1>",
        f"<p class='note'>CDM: {html.escape(source)}. Each decision is the start of a T-cell redirecting therapy,"
        " assessed with the history of the day before, the therapy given and every approved alternative.</p>",
        _table(OUTCOME_COLUMNS, [total]),
        "<p class='note'>concordant: the therapy given was ranked first (or had the verdict of the first, preferred or"
        " acceptable); discordant: another candidate ranked before it; indeterminate: a finding for it was indeterminate"
        " (data missing or unknown), whatever its verdict; error: the history could not be evaluated. The rate is concordant over concordant"
        " plus discordant.</p>",
    ]
    if years:
        parts += ["<h2>By year</h2>", _svg(_stacked([str(y["year"]) for y in years], years, "Decisions by year", False), 3.5),
                  _table(("year", *OUTCOME_COLUMNS), years)]
    if therapies:
        parts += ["<h2>By therapy</h2>",
                  _svg(_stacked([t["therapy"] for t in therapies], therapies, "Decisions by therapy given", True),
                       1.2 + 0.35 * len(therapies)),
                  _table(("therapy", *OUTCOME_COLUMNS), therapies)]
    rules = tally.rules()
    if rules:
        parts += ["<h2>By rule</h2>", _svg(_rules_plot(rules), 1.2 + 0.35 * min(len(rules), 15)),
                  _table(RULE_COLUMNS, rules)]
    parts += ["<h2>Unmapped concepts</h2><p class='note'>Records the audit did not use, or used as an unknown agent"
              " (which makes its decisions indeterminate), by concept; map them in the policy's omop section or the"
              " catalog. The full list is in the unmapped table.</p>", _table(UNMAPPED_COLUMNS, unmapped[:100]),
              "</body></html>\n"]
    return "\n".join(parts)
