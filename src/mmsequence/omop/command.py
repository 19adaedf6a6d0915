"""``mmsequence audit`` and ``mmsequence omop-synthetic``: argument wiring only (heavy imports on use)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import MmsequenceError, missing_extra


def _needs(extra: str, error: ModuleNotFoundError) -> MmsequenceError:
    return missing_extra("this", extra, error.name)


def _audit(args: argparse.Namespace) -> str:
    out = Path(args.out)
    try:
        if args.spark is not None:
            from .spark import local_session, run_spark_audit

            out.mkdir(parents=True, exist_ok=True)
            spark = local_session(args.spark_master)
            try:
                job = run_spark_audit(spark, args.spark, out, args.policy, args.format, args.partitions,
                                      args.lines, args.write_episodes)
            finally:
                spark.stop()
            report(job.diagnostics, job.episodes, args.spark)
            print(f"mmsequence: {job.decisions} decisions written to {out}", file=sys.stderr)
            return ""
        from .audit import run_audit
        from .sources import open_source

        source = open_source(args.db, args.url)
    except ModuleNotFoundError as error:
        raise _needs("spark" if args.spark else "postgres" if args.url else "omop", error) from None
    try:
        run = run_audit(source, out, args.policy, args.format, args.batch, args.processes, progress=True,
                        lines=args.lines, write_episodes=args.write_episodes)
    finally:
        source.close()
    report(run.diagnostics, run.episodes, source.label)
    print(f"mmsequence: {run.decisions} decisions of {run.persons} persons written to {out}"
          f" ({run.parts} parts in all)", file=sys.stderr)
    return ""


def report(diagnostics: tuple[str, ...], episodes: int | None, where: str) -> None:
    """An audit's diagnostics, and the episodes it wrote to ``where``, on stderr."""
    for finding in diagnostics:
        print(f"mmsequence: warning: {finding}", file=sys.stderr)
    if episodes is not None:
        print(f"mmsequence: {episodes} episodes (lines of therapy and regimens) written to {where}"
              " (EPISODE and EPISODE_EVENT; earlier mmsequence rows replaced)", file=sys.stderr)


def _synthetic(args: argparse.Namespace) -> str:
    try:
        from . import synthetic

        if args.duckdb:
            expected = synthetic.write_duckdb(Path(args.duckdb), args.patients, args.seed)
        elif args.parquet:
            expected = synthetic.write_parquet(Path(args.parquet), args.patients, args.seed)
        else:
            expected = synthetic.write_postgres(args.url, args.patients, args.seed)
    except ModuleNotFoundError as error:
        raise _needs("postgres" if args.url else "omop", error) from None
    if args.expected:
        from ..evaluator import Evaluator
        from ..policy import load_policy
        from ..render import to_json_line

        evaluator = Evaluator(load_policy(str(synthetic.synthetic_policy_path())))
        with open(args.expected, "w", encoding="utf-8") as handle:
            for e in expected:
                handle.write(to_json_line({"person_id": e.person_id, "decision_date": e.day.isoformat(),
                                           "therapy": e.therapy, "line": e.line,
                                           "document": synthetic.batch_document(e, evaluator)}))
    print(f"mmsequence: {args.patients} synthetic patients, {len(expected)} decisions", file=sys.stderr)
    return ""


def add_omop_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="concordance of every TCRT decision in an OMOP CDM (resumable)")
    where = audit.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="a DuckDB file, or a folder of Parquet files (one per CDM table)")
    where.add_argument("--url", help="a PostgreSQL URL: postgresql://user@host:port/database")
    where.add_argument("--spark", metavar="CDM_DIR", help="run the Spark job on a folder of Parquet folders")
    audit.add_argument("--policy", required=True, help="site policy with its omop section (YAML or JSON)")
    audit.add_argument("--out", required=True, help="output folder; an interrupted audit resumes into it")
    audit.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="table format (default parquet)")
    audit.add_argument("--batch", type=int, default=1000, help="persons read and written at a time (default 1000)")
    audit.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    audit.add_argument("--lines", choices=("imwg", "both", "site"), default="imwg",
                       help="imwg: the IMWG lines (default); both: IMWG lines, the site's EPISODE lines compared;"
                            " site: the decisions on the site's EPISODE lines, the IMWG lines compared")
    audit.add_argument("--write-episodes", action="store_true",
                       help="write the IMWG lines to the CDM's EPISODE and EPISODE_EVENT tables (replacing mmsequence's earlier rows)")
    audit.add_argument("--spark-master", default="local[2]", help="Spark master for --spark (default local[2])")
    audit.add_argument("--partitions", type=int, help="Spark partitions of the records (default: Spark's parallelism)")
    audit.set_defaults(run=_audit)
    synthetic = commands.add_parser("omop-synthetic", help="write a synthetic OMOP CDM with known decisions")
    target = synthetic.add_mutually_exclusive_group(required=True)
    target.add_argument("--duckdb", help="DuckDB file to create")
    target.add_argument("--parquet", help="folder to write one Parquet folder per table into")
    target.add_argument("--url", help="PostgreSQL URL (the CDM tables are dropped and created)")
    synthetic.add_argument("--patients", type=int, default=1000)
    synthetic.add_argument("--seed", type=int, default=20261201)
    synthetic.add_argument("--expected", help="JSONL file for each decision's expected patient-history document")
    synthetic.set_defaults(run=_synthetic)
