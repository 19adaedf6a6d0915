"""Agreement of the OHDSI myeloma line logic with the IMWG lines, on the synthetic CDM and on
realistic FHIR charts: the figures the README gives.

    python -m tests.omop.agreement --patients 1000 --charts 300

Realistic charts (``mmsequence.testing.charts``) are drawn with a fixed seed; each Bundle is read
by the FHIR importer, and the records it hands to the line derivation are read by both readers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmsequence.catalog import load_catalog
from mmsequence.lines import Event, derive_lines
from mmsequence.omop import synthetic
from mmsequence.omop.episodes import imwg_spans, ohdsi_spans
from mmsequence.omop.ohdsi_lines import codeset, ohdsi_lines
from mmsequence.omop.readings import OHDSI_LOGIC, compared

CATALOG = load_catalog()


def chart_events(bundle: dict[str, Any]) -> list[Event]:
    """The records of a FHIR Bundle as the importer hands them to the line derivation."""
    from mmsequence.fhir import importer

    seen: list[Event] = []
    original = importer.build_lines

    def capture(exposures: Any, events: Any, warnings: Any) -> Any:
        seen.extend([*(e.event() for e in exposures if e.line_number is None), *events])
        return original(exposures, events, warnings)

    importer.build_lines = capture
    try:
        importer.read_bundle(bundle, CATALOG)
    finally:
        importer.build_lines = original
    return seen


def compare_events(person: int, events: list[Event]) -> dict[str, Any]:
    visible = codeset(CATALOG) | {e.name for e in events if e.kind == "car-t-infusion"}
    return compared(person, OHDSI_LOGIC, imwg_spans(derive_lines(events)), ohdsi_spans(ohdsi_lines(events, codeset(CATALOG))),
                    visible)


def realistic(n: int) -> Iterator[dict[str, Any]]:
    """``n`` realistic charts, the same every run, each compared."""
    from hypothesis import HealthCheck, given, settings

    from mmsequence.testing.charts import realistic_charts

    rows: list[dict[str, Any]] = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(realistic_charts())
    def collect(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
        rows.append(compare_events(len(rows) + 1, chart_events(pair[1])))

    collect()
    yield from rows


def synthetic_cdm(patients: int) -> Iterator[dict[str, Any]]:
    from mmsequence.omop.audit import run_audit
    from mmsequence.omop.sources import DuckDBSource
    from mmsequence.omop.tables import read_table

    with tempfile.TemporaryDirectory() as folder:
        synthetic.write_duckdb(Path(folder) / "cdm.duckdb", patients)
        source = DuckDBSource(Path(folder) / "cdm.duckdb")
        try:
            run_audit(source, Path(folder) / "audit", str(synthetic.synthetic_policy_path()), "parquet")
        finally:
            source.close()
        for part in sorted((Path(folder) / "audit" / "lines").glob("part-*")):
            yield from read_table(part)


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of patients with identical lines, and each kind of disagreement with its count and a first example."""
    kinds: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for row in rows:
        for kind in filter(None, row["kinds"].split(";")):
            kinds[kind] += 1
            examples.setdefault(kind, f"IMWG {row['imwg'] or '(none)'} / OHDSI {row['other'] or '(none)'}")
    identical = sum(bool(r["identical"]) for r in rows)
    return {"patients": len(rows), "identical": identical, "share_identical": round(identical / len(rows), 3) if rows else None,
            "kinds": [{"kind": k, "patients": n, "example": examples[k]} for k, n in kinds.most_common()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--charts", type=int, default=300)
    args = parser.parse_args()
    result = {"synthetic_cdm": figures(list(synthetic_cdm(args.patients))),
              "realistic_charts": figures(list(realistic(args.charts)))}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
