"""Line derivation on large charts: time against chart size, and against sorting the same records.

Builds charts of 1,000 to 10,000 drug administrations (a realistic mix: regimens, a transplant,
a CAR-T with bridging and lymphodepletion, supportive care and premedication around every dose),
derives their lines of therapy, and reports the time beside the time to sort the same records
(the floor any derivation pays) in the same process, so that the figure is a ratio.

    python benchmarks/lines.py            # 1,000 / 2,000 / 5,000 / 10,000 administrations
    python benchmarks/lines.py --smoke    # 1,000 and 2,000, for CI
    python benchmarks/lines.py --fhir     # also the whole FHIR import of a 10,000-administration Bundle
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mmsequence.catalog import load_catalog  # noqa: E402
from mmsequence.dates import PartialDate  # noqa: E402
from mmsequence.lines import Event, _sort_key, derive_lines  # noqa: E402

CATALOG = load_catalog()
REGIMENS = [("daratumumab", "bortezomib", "lenalidomide", "dexamethasone"), ("carfilzomib", "pomalidomide", "dexamethasone"),
            ("isatuximab", "pomalidomide", "dexamethasone"), ("teclistamab",), ("elranatamab",), ("talquetamab",)]
SUPPORT = ("acyclovir", "ondansetron", "filgrastim", "aspirin", "pantoprazole", "zoledronic acid")


def chart(size: int) -> list[Event]:
    """About ``size`` administrations: regimens of weekly doses, each with supportive care beside it."""
    day = datetime.date(2010, 1, 1)
    events: list[Event] = []
    while len(events) < size:
        for regimen in REGIMENS:
            for week in range(20):
                when = PartialDate.of(day + datetime.timedelta(weeks=week))
                for name in (*regimen, *SUPPORT[: 1 + week % len(SUPPORT)]):
                    agent = CATALOG.lookup(name)
                    events.append(Event("drug", when, f"MedicationAdministration/{len(events)}", agent.name, when, agent))
            day += datetime.timedelta(weeks=30)
    return events[:size]


def _best(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        events = chart(n)
        derive = _best(lambda events=events: derive_lines(events))
        sort = _best(lambda events=events: sorted(events, key=_sort_key))
        lines = len(derive_lines(events).lines)
        rows.append({"administrations": n, "lines": lines, "derive_s": round(derive, 4), "sort_s": round(sort, 4),
                     "derive_over_sort": round(derive / sort, 1), "us_per_record": round(derive / n * 1e6, 1)})
    return rows


def fhir_import(n: int) -> dict:
    from mmsequence.fhir import read_bundle

    resources = [{"resourceType": "Patient", "id": "p"}]
    for e in chart(n):
        resources.append({"resourceType": "MedicationAdministration", "id": e.source.split("/")[1], "status": "completed",
                          "medicationCodeableConcept": {"text": e.name}, "subject": {"reference": "Patient/p"},
                          "effectiveDateTime": str(e.start)})
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)]}
    t0 = time.perf_counter()
    history = read_bundle(bundle, CATALOG)
    return {"administrations": n, "import_s": round(time.perf_counter() - t0, 2), "history_lines": len(history.lines)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--fhir", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = measure([1000, 2000] if args.smoke else [1000, 2000, 5000, 10_000])
    print(f"{'administrations':>15} {'lines':>6} {'derive s':>9} {'sort s':>8} {'derive/sort':>12} {'us/record':>10}")
    for r in rows:
        print(f"{r['administrations']:>15} {r['lines']:>6} {r['derive_s']:>9} {r['sort_s']:>8} {r['derive_over_sort']:>12}"
              f" {r['us_per_record']:>10}")
    growth = rows[-1]["us_per_record"] / rows[0]["us_per_record"]
    print(f"time per record, largest over smallest chart: {growth:.2f} (1.0 is linear)")
    result = {"derivation": rows, "per_record_growth": round(growth, 2)}
    if args.fhir:
        result["fhir"] = fhir_import(10_000 if not args.smoke else 1000)
        print(f"FHIR import of {result['fhir']['administrations']} administrations: {result['fhir']['import_s']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
