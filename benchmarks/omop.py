"""OMOP audit benchmark: 100,000 decision points on DuckDB (one and two processes) and on Spark in
local mode with two executors' cores, and the audit's memory at two cohort sizes with one batch size.

Every figure is a ratio against the baseline run in the same process: the DuckDB audit in one
process. The evaluation-only figure (the same decisions' expected documents evaluated through the
JSON path, without any CDM reading) says what the OMOP reading adds. Run from the repository root:

    python benchmarks/omop.py                  # 100,000 decisions (about 30 minutes on 2 cores)
    python benchmarks/omop.py --smoke          # a few hundred, for CI: checks that it runs
    python benchmarks/omop.py --json out.json  # also write the figures as JSON
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

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from mmsequence.evaluator import Evaluator  # noqa: E402
from mmsequence.history import parse_document  # noqa: E402
from mmsequence.omop import synthetic  # noqa: E402
from mmsequence.omop.concordance import assess  # noqa: E402
from mmsequence.omop.decisions import Decision  # noqa: E402
from mmsequence.policy import load_policy  # noqa: E402

#: Patients for about 100,000 decisions (the synthetic cohort averages 1.9 decisions a patient).
SIZES = {"full": {"patients": 53_000, "batch": 1000}, "smoke": {"patients": 300, "batch": 100}}
POLICY = str(synthetic.synthetic_policy_path())

_AUDIT = """
import resource, sys, time
from pathlib import Path
from mmsequence.omop.audit import run_audit
from mmsequence.omop.sources import DuckDBSource
start = time.perf_counter()
run = run_audit(DuckDBSource(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3], "parquet",
                batch=int(sys.argv[4]), processes=int(sys.argv[5]))
print(run.decisions, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

_SPARK = """
import sys, time
from pathlib import Path
from mmsequence.omop.spark import local_session, run_spark_audit
spark = local_session("local[2]")
start = time.perf_counter()
n = run_spark_audit(spark, sys.argv[1], Path(sys.argv[2]), sys.argv[3], "parquet", partitions=8).decisions
print(n, time.perf_counter() - start, 0)
spark.stop()
"""


def _run(script: str, *args: object) -> tuple[int, float, float]:
    """(decisions, seconds, peak RSS MB of the driver) of one audit in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    decisions, seconds, rss = done.stdout.split()[-3:]
    return int(decisions), float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = SIZES["smoke" if args.smoke else "full"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        quarter = max(size["patients"] // 4, size["batch"] * 2)
        start = time.perf_counter()
        expected = synthetic.write_duckdb(folder / "cdm.duckdb", size["patients"])
        synthetic.write_duckdb(folder / "quarter.duckdb", quarter)
        synthetic.write_parquet(folder / "parquet", size["patients"])
        written = time.perf_counter() - start
        print(f"synthetic CDM: {size['patients']} patients, {len(expected)} decisions, written in {written:.0f} s", flush=True)

        one = _run(_AUDIT, folder / "cdm.duckdb", folder / "one", POLICY, size["batch"], 1)
        print(f"duckdb, 1 process: {one[0]} decisions in {one[1]:.1f} s ({one[0] / one[1]:.0f}/s), peak RSS {one[2]:.0f} MB", flush=True)
        two = _run(_AUDIT, folder / "cdm.duckdb", folder / "two", POLICY, size["batch"], 2)
        print(f"duckdb, 2 processes: {two[1]:.1f} s, {one[1] / two[1]:.2f}x the 1-process rate", flush=True)
        small = _run(_AUDIT, folder / "quarter.duckdb", folder / "quarter", POLICY, size["batch"], 1)
        print(f"memory: peak RSS {small[2]:.0f} MB for {small[0]} decisions, {one[2]:.0f} MB for {one[0]}"
              f" (batch {size['batch']}): {one[2] - small[2]:+.0f} MB", flush=True)
        spark = _run(_SPARK, folder / "parquet", folder / "spark", POLICY)
        print(f"spark local[2]: {spark[1]:.1f} s, {one[1] / spark[1]:.2f}x the DuckDB 1-process rate", flush=True)
        assert one[0] == two[0] == spark[0] == len(expected), (one[0], two[0], spark[0], len(expected))

        evaluator = Evaluator(load_policy(POLICY))
        start = time.perf_counter()
        for e in expected:
            assess(evaluator, Decision(e.person_id, e.day, e.therapy, e.line, parse_document(e.document)))
        alone = time.perf_counter() - start
        print(f"evaluation alone (expected documents, JSON path): {alone:.1f} s; the DuckDB audit takes"
              f" {one[1] / alone:.2f}x that", flush=True)
    figures = {
        "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "cpus": os.cpu_count(),
        "patients": size["patients"], "decisions": one[0], "batch": size["batch"],
        "duckdb_1_process_s": one[1], "duckdb_2_processes_s": two[1], "spark_local_2_s": spark[1],
        "evaluation_alone_s": alone, "rss_mb": {"quarter": small[2], "full": one[2], "quarter_decisions": small[0]},
        "ratios": {"duckdb_2_vs_1": one[1] / two[1], "spark_vs_duckdb_1": one[1] / spark[1],
                   "audit_vs_evaluation_alone": one[1] / alone},
    }
    duckdb_rate, executor_rate = one[0] / one[1], spark[0] / spark[1] / 2
    figures["targets"] = [
        {"target": ">= 1,000 decisions/s on DuckDB, one process", "measured": f"{duckdb_rate:.0f}/s",
         "met": duckdb_rate >= 1000},
        {"target": "Spark per executor within 25% of DuckDB per process",
         "measured": f"{executor_rate / duckdb_rate:.2f}x ({executor_rate:.0f}/s per executor)",
         "met": executor_rate >= 0.75 * duckdb_rate},
    ]
    for target in figures["targets"]:
        print(f"{target['target']}: {target['measured']} -> {'met' if target['met'] else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
