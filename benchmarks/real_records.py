"""Reading real hospital records: the largest public Synthea bundle, and the same entries repeated.

Evaluates the largest Synthea R4 bundle of the committed subset (1,111 entries; tests/data/synthea)
and a bundle of about 22,000 entries made of its entries repeated (ids made unique, one Patient),
each in a fresh process as ``mmsequence evaluate`` does: wall time (and of it, reading the bundle)
and peak memory (max RSS), and,
in the same process, the time to validate the bundle with fhir.resources alone (the floor any
reading pays) so that each time is also a ratio.

    python benchmarks/real_records.py            # 1,111 and 22,000 entries, best of 3
    python benchmarks/real_records.py --smoke    # 1,111 entries once, for CI
    python benchmarks/real_records.py --json out.json
    python benchmarks/real_records.py --src ../other/src   # another checkout's code, for a before/after
"""

from __future__ import annotations

import argparse
import compileall
import copy
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LARGEST = ROOT / "tests" / "data" / "synthea" / "Fletcher_Hyatt_fe0562b5-f517-4951-8366-32fdab088930.json.gz"

#: Run in a fresh process: evaluate one bundle file (as the CLI does), then validate it alone.
_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
start = time.perf_counter()
from mmsequence import Evaluator
evaluator = Evaluator()
reading = time.perf_counter()
history = evaluator.read(sys.argv[1])
read = time.perf_counter() - reading
evaluator.evaluate(history, as_of="2024-03-15")
evaluate = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from fhir.resources.R4B.bundle import Bundle
start = time.perf_counter()
Bundle.model_validate(json.loads(open(sys.argv[1], encoding="utf-8").read()))
validate = time.perf_counter() - start
print(json.dumps({"seconds": evaluate, "read_seconds": read, "peak_mb": peak, "validate_seconds": validate}))
"""


def repeated(bundle: dict, size: int) -> dict:
    """The bundle's entries repeated up to ``size`` entries: one Patient, every other id made unique."""
    others = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    copy_number = 0
    while len(entries) < size:
        for entry in others[: size - len(entries)]:
            entry = copy.deepcopy(entry)
            entry["resource"]["id"] = f"{entry['resource']['id']}-{copy_number}"
            entry["fullUrl"] = f"{entry['fullUrl']}-{copy_number}"
            entries.append(entry)
        copy_number += 1
    return {**bundle, "entry": entries}


def measure(path: Path, repeat: int, src: Path) -> dict:
    """Fresh processes reading ``path``, the package's bytecode compiled first, as installed (with
    PYTHONDONTWRITEBYTECODE set, each process would otherwise compile the reader's sources again)."""
    compileall.compile_dir(src / "mmsequence", quiet=1)
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(src)], check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    best = min(runs, key=lambda r: r["seconds"])
    return {"seconds": round(best["seconds"], 2), "read_seconds": round(min(r["read_seconds"] for r in runs), 3),
            "peak_mb": round(max(r["peak_mb"] for r in runs)),
            "validate_seconds": round(best["validate_seconds"], 2),
            "ratio_to_validation": round(best["seconds"] / best["validate_seconds"], 1)}


#: entries -> (seconds to read the bundle, MB of the whole process) at most, in a fresh process.
TARGETS = {1111: (0.15, None), 22_000: (2.0, 250)}


def _targets(results: dict) -> list[tuple[str, bool]]:
    """(target beside its measure and the validation baseline, met) for each size measured."""
    rows = []
    for size, (seconds, megabytes) in TARGETS.items():
        if size not in results:
            continue
        found = results[size]
        rows.append((f"{size:,} entries read in <= {seconds} s: {found['read_seconds']} s"
                     f" ({found['read_seconds'] / found['validate_seconds']:.2f}x validation alone)",
                     found["read_seconds"] <= seconds))
        if megabytes is not None:
            rows.append((f"{size:,} entries in <= {megabytes} MB: {found['peak_mb']} MB", found["peak_mb"] <= megabytes))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the mmsequence source to measure")
    args = parser.parse_args()
    bundle = json.loads(gzip.decompress(LARGEST.read_bytes()))
    sizes = [len(bundle["entry"])] if args.smoke else [len(bundle["entry"]), 22_000]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"bundle-{size}.json"
            path.write_text(json.dumps(bundle if size == len(bundle["entry"]) else repeated(bundle, size)), encoding="utf-8")
            results[size] = measure(path, 1 if args.smoke else 3, args.src.resolve())
            print(f"{size:>6} entries: {results[size]['seconds']:6.2f} s (reading {results[size]['read_seconds']:.3f} s),"
                  f" peak {results[size]['peak_mb']:4d} MB"
                  f" (validation alone {results[size]['validate_seconds']:.2f} s;"
                  f" {results[size]['ratio_to_validation']}x)")
    for target, met in _targets(results):
        print(f"{'met' if met else 'MISSED':6}  {target}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
