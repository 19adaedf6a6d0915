"""OMOP audit benchmark: a synthetic CDM audited on DuckDB (one and two processes) and on Spark in
local mode with two executors' cores, the audit's memory at two cohort sizes with one batch size,
and the same CDM with a real chart's volume of lab results the audit has no use for.

Each target is reported met or missed beside its baseline from the same run. The DuckDB audit runs
in a fresh interpreter that also evaluates the same decisions' expected documents (the JSON path,
no CDM reading), half just before the audit and half just after, so the audit's own cost over
evaluation is a ratio measured in one process; Spark's rate per executor is set beside DuckDB's rate
per process. Run from the repository root:

    python benchmarks/omop.py                          # 53,000 patients, 100,000 decisions (about 25 minutes on 2 cores)
    python benchmarks/omop.py --patients 5000 --only duckdb spark   # a few minutes
    python benchmarks/omop.py --smoke                  # a few hundred decisions, for CI: checks that it runs
    python benchmarks/omop.py --json out.json          # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from mmsequence.omop import synthetic  # noqa: E402

#: The synthetic cohort averages 1.9 decisions a patient: 53,000 patients hold about 100,000.
SIZES = {"full": {"patients": 53_000, "batch": 1000}, "smoke": {"patients": 300, "batch": 100}}
POLICY = str(synthetic.synthetic_policy_path())
SECTIONS = ("duckdb", "two", "memory", "labs", "spark")
#: Lab results a person of the ``labs`` run has besides the synthetic chart's own records: a real
#: chart is mostly records the audit has no use for (concepts the site maps to nothing).
LABS = 500
#: Executors of the Spark run (``local[2]``): its rate per executor is its rate over this.
EXECUTORS = 2
#: The targets (issue #23): decisions per second of one DuckDB process, and Spark's rate per
#: executor as a share of it.
DUCKDB_RATE, SPARK_SHARE = 1000, 0.75

_AUDIT = """
import datetime, json, resource, sys, time
from pathlib import Path
from mmsequence.evaluator import Evaluator
from mmsequence.history import parse_document
from mmsequence.omop.audit import run_audit
from mmsequence.omop.concordance import assess
from mmsequence.omop.decisions import Decision
from mmsequence.omop.sources import DuckDBSource
from mmsequence.policy import load_policy
cdm, out, policy, batch, processes, expected = sys.argv[1:7]
documents = [json.loads(line) for line in open(expected, encoding="utf-8")] if expected != "-" else []
evaluator = Evaluator(load_policy(policy))

def bare(part):
    start = time.perf_counter()
    for e in part:
        assess(evaluator, Decision(e["person_id"], datetime.date.fromisoformat(e["decision_date"]), e["therapy"],
                                   e["line"], parse_document(e["document"])))
    return time.perf_counter() - start

before = bare(documents[0::2])
start = time.perf_counter()
run = run_audit(DuckDBSource(Path(cdm)), Path(out), policy, "parquet", batch=int(batch), processes=int(processes))
seconds = time.perf_counter() - start
after = bare(documents[1::2])
print(run.decisions, seconds, before + after, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

_SPARK = """
import sys, time
from pathlib import Path
from mmsequence.omop.spark import local_session, run_spark_audit
spark = local_session("local[2]")
start = time.perf_counter()
n = run_spark_audit(spark, sys.argv[1], Path(sys.argv[2]), sys.argv[3], "parquet", partitions=8).decisions
print(n, time.perf_counter() - start, 0, 0)
spark.stop()
"""


def _run(script: str, *args: object) -> tuple[int, float, float, float]:
    """(decisions, audit seconds, bare evaluation seconds, peak RSS MB) of one run in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    decisions, seconds, bare, rss = done.stdout.split()[-4:]
    return int(decisions), float(seconds), float(bare), float(rss)


def _with_labs(source: Path, target: Path, labs: int) -> int:
    """A copy of the DuckDB CDM where each person's hemoglobin result is ``labs`` results, a day
    apart (a concept the policy maps to nothing); returns the measurement rows it holds."""
    import shutil

    import duckdb

    shutil.copy(source, target)
    with duckdb.connect(str(target)) as db:
        columns = [row[0] for row in db.execute("DESCRIBE measurement").fetchall()]
        made = {"measurement_id": "CAST(2000000000 - row_number() OVER () AS INTEGER)",
                "measurement_date": "m.measurement_date - CAST(r.range AS INTEGER)"}
        db.execute(f"INSERT INTO measurement SELECT {', '.join(made.get(c, f'm.{c}') for c in columns)}"
                   f" FROM measurement m CROSS JOIN range(1, {int(labs)}) r"
                   f" WHERE m.measurement_concept_id = {synthetic.HEMOGLOBIN}")
        return int(db.execute("SELECT count(*) FROM measurement").fetchone()[0])


def _write_expected(path: Path, expected: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for e in expected:
            handle.write(json.dumps({"person_id": e.person_id, "decision_date": e.day.isoformat(), "therapy": e.therapy,
                                     "line": e.line, "document": e.document}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred decisions, for CI")
    parser.add_argument("--patients", type=int, help="synthetic patients (default 53,000; about 1.9 decisions each)")
    parser.add_argument("--batch", type=int, help="persons per part (default 1,000)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="the runs to make: duckdb (always made: the baseline of the others), two (2 processes),"
                             f" memory (a quarter cohort), labs (the CDM with {LABS} lab results a person), spark")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    size = dict(SIZES["smoke" if args.smoke else "full"])
    size.update({k: v for k, v in (("patients", args.patients), ("batch", args.batch)) if v})
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
                               "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], **size}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        expected = synthetic.write_duckdb(folder / "cdm.duckdb", size["patients"])
        _write_expected(folder / "expected.jsonl", expected)
        print(f"synthetic CDM: {size['patients']} patients, {len(expected)} decisions, written in"
              f" {time.perf_counter() - start:.0f} s", flush=True)

        one = _run(_AUDIT, folder / "cdm.duckdb", folder / "one", POLICY, size["batch"], 1, folder / "expected.jsonl")
        assert one[0] == len(expected), (one[0], len(expected))
        rate, bare_rate = one[0] / one[1], len(expected) / one[2]
        figures |= {"decisions": one[0], "duckdb_1_process_s": one[1], "evaluation_alone_s": one[2],
                    "duckdb_rate": rate, "evaluation_alone_rate": bare_rate, "audit_vs_evaluation_alone": one[1] / one[2]}
        print(f"duckdb, 1 process: {one[0]} decisions in {one[1]:.1f} s ({rate:.0f}/s), peak RSS {one[3]:.0f} MB;"
              f" evaluation alone of the same documents in the same process: {one[2]:.1f} s ({bare_rate:.0f}/s):"
              f" the audit takes {one[1] / one[2]:.2f}x that", flush=True)
        targets = [{"target": f">= {DUCKDB_RATE:,} decisions/s on DuckDB, one process", "measured": f"{rate:.0f}/s",
                    "baseline": f"evaluation alone {bare_rate:.0f}/s in the same process; the audit takes"
                                f" {one[1] / one[2]:.2f}x its time", "met": rate >= DUCKDB_RATE}]

        if "two" in args.only:
            two = _run(_AUDIT, folder / "cdm.duckdb", folder / "two", POLICY, size["batch"], 2, "-")
            figures["duckdb_2_processes_s"] = two[1]
            print(f"duckdb, 2 processes: {two[1]:.1f} s, {one[1] / two[1]:.2f}x the 1-process rate", flush=True)
        if "memory" in args.only:
            quarter = max(size["patients"] // 4, size["batch"] * 2)
            synthetic.write_duckdb(folder / "quarter.duckdb", quarter)
            small = _run(_AUDIT, folder / "quarter.duckdb", folder / "quarter", POLICY, size["batch"], 1, "-")
            figures["rss_mb"] = {"quarter": small[3], "full": one[3], "quarter_decisions": small[0]}
            print(f"memory: peak RSS {small[3]:.0f} MB for {small[0]} decisions, {one[3]:.0f} MB for {one[0]}"
                  f" (batch {size['batch']}): {one[3] - small[3]:+.0f} MB", flush=True)
        if "labs" in args.only:
            rows = _with_labs(folder / "cdm.duckdb", folder / "labs.duckdb", LABS)
            labs = _run(_AUDIT, folder / "labs.duckdb", folder / "labs", POLICY, size["batch"], 1, "-")
            assert labs[0] == one[0], (labs[0], one[0])
            figures |= {"labs_per_person": LABS, "labs_measurement_rows": rows, "duckdb_labs_s": labs[1],
                        "duckdb_labs_rate": labs[0] / labs[1], "labs_vs_plain": one[1] / labs[1]}
            print(f"duckdb, {LABS} lab results a person ({rows:,} measurement rows): {labs[0] / labs[1]:.0f}/s,"
                  f" {one[1] / labs[1]:.2f}x the plain CDM's rate; peak RSS {labs[3]:.0f} MB", flush=True)
        if "spark" in args.only:
            synthetic.write_parquet(folder / "parquet", size["patients"])
            spark = _run(_SPARK, folder / "parquet", folder / "spark", POLICY)
            assert spark[0] == one[0], (spark[0], one[0])
            executor = spark[0] / spark[1] / EXECUTORS
            figures |= {"spark_local_2_s": spark[1], "spark_rate_per_executor": executor}
            print(f"spark local[{EXECUTORS}]: {spark[1]:.1f} s, {executor:.0f}/s per executor,"
                  f" {executor / rate:.2f}x the DuckDB rate per process", flush=True)
            targets.append({"target": f"Spark per executor within {1 - SPARK_SHARE:.0%} of DuckDB per process",
                            "measured": f"{executor:.0f}/s per executor ({executor / rate:.2f}x)",
                            "baseline": f"DuckDB {rate:.0f}/s per process in the same run",
                            "met": executor >= SPARK_SHARE * rate})
    figures["targets"] = targets
    for target in targets:
        print(f"{target['target']}: {target['measured']} -> {'met' if target['met'] else 'MISSED'}"
              f" (baseline: {target['baseline']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
