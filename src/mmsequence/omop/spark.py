"""The audit as a PySpark job, for a CDM beyond one machine: the same decisions, computed where the data lives.

Spark SQL reads the CDM tables (Parquet folders, one per table) and finds the cohort; each
person's records (and, with ``lines`` ``both`` or ``site``, the site's line episodes, as rows of
their own kind) are brought together in one partition (``repartition`` by person, sorted within
it) and assessed by ``mapInArrow``; each Python worker builds one evaluator and keeps it for every
partition it is given. The decisions are written by Spark; the unmapped concepts are added up by
Spark; the aggregates and the summary are then made on the driver from the decisions files, as
for the other engines. Spark retries a failed task by itself, so a run is not resumed: it
replaces its output folder's decisions.

Run it in local mode from the command line (``mmsequence audit --spark CDM_DIR ...``) or submit it
to a cluster (the workers need mmsequence installed with the ``omop`` extra)::

    spark-submit --master yarn "$(python -m mmsequence.omop.spark --path)" \\
        --cdm hdfs:///cdm --policy site.yaml --out audit/
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..errors import InputError
from ..policy import Policy, load_policy
from . import episodes, readings, sql
from .audit import LINES, Auditor
from .chart import NOT_MAPPED, PersonRecords, Row
from .command import report
from .concordance import COLUMNS
from .diagnostics import diagnose
from .mapping import omop_mapping
from .sources import concept_names, read_vocabulary
from .summary import concepts_note, write_summary
from .vocabulary import Vocabulary

_UNMAPPED = ("domain", "concept_id", "outcome", "records")
#: The domain of a site line episode among a person's records in the job (no CDM domain).
SITE_LINE = "site line"
_SPARK_TYPES = {int: "bigint", str: "string", bool: "boolean"}
#: Every column of the job's output: a decision, an unmapped count, a derived episode or a compared reading.
_OUTPUT = tuple(dict.fromkeys((*COLUMNS, *_UNMAPPED, *episodes.COLUMNS, *readings.COLUMNS)))


def _schema() -> str:
    from .tables import TYPES

    fields = [("kind", "string"), *((c, _SPARK_TYPES[TYPES[c]]) for c in _OUTPUT)]
    return ", ".join(f"{name} {kind}" for name, kind in fields)


class SparkSource:
    """Spark SQL over the CDM's temporary views, for the vocabulary and concept-name queries."""

    dialect = sql.SPARK

    def __init__(self, spark: Any, label: str) -> None:
        self.spark, self.label = spark, label
        self.where: tuple[str | None, str | None] = (None, None)  # the session is not reopened elsewhere

    def rows(self, query: str) -> Sequence[tuple[Any, ...]]:
        return [tuple(row) for row in self.spark.sql(query).collect()]

    def rows_of_each(self, queries: Sequence[str]) -> list[Sequence[tuple[Any, ...]]]:
        """Each query's rows, the queries run as concurrent jobs (each a job's start-up, on a small
        vocabulary mostly waiting)."""
        with concurrent.futures.ThreadPoolExecutor(len(queries)) as pool:
            return list(pool.map(self.rows, queries))

    def close(self) -> None:
        """The session belongs to the caller."""


_AUDITORS: dict[tuple[str, str], Auditor] = {}


def _auditor(policy: Policy, vocabulary: Vocabulary, lines: str) -> Auditor:
    """The auditor of this Python worker: one evaluator per worker, built on its first partition."""
    auditor = _AUDITORS.get((policy.digest, lines))
    if auditor is None:
        auditor = _AUDITORS[policy.digest, lines] = Auditor(policy, vocabulary, lines)
    return auditor


class AuditPartition:
    """The ``mapInArrow`` function: Arrow batches of records (a person's rows together, in order)
    in, Arrow batches of decisions and unmapped counts out; ``lines`` as :class:`Auditor`'s; the
    derived episodes too when ``episodes`` (they are written to the CDM)."""

    def __init__(self, policy: Policy, vocabulary: Vocabulary, batch: int = 500, lines: str = "imwg",
                 episodes: bool = False) -> None:
        self.policy, self.vocabulary, self.batch, self.lines, self.episodes = policy, vocabulary, batch, lines, episodes

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        auditor = _auditor(self.policy, self.vocabulary, self.lines)
        out: list[dict[str, Any]] = []
        for person, site in _persons(batches):
            result = auditor.person(person, site)
            out += [{"kind": "decision", **row} for row in result.rows]
            out += [{"kind": "unmapped", "person_id": person.person_id, "domain": d, "concept_id": c, "outcome": o,
                     "records": n} for (d, c, o), n in sorted(result.unmapped.items())]
            out += [{"kind": "drugs", "person_id": person.person_id, "records": result.drug_records}]
            if self.episodes:
                out += [{"kind": "episode", **row} for row in result.episodes]
            out += [{"kind": "line", **row} for row in result.lines]
            if len(out) >= self.batch:
                yield pa.RecordBatch.from_pylist(out, schema=_arrow_schema())
                out = []
        if out:
            yield pa.RecordBatch.from_pylist(out, schema=_arrow_schema())


def _arrow_schema() -> Any:
    import pyarrow as pa

    from .tables import TYPES

    types = {int: pa.int64(), str: pa.string(), bool: pa.bool_()}
    return pa.schema([("kind", pa.string()), *((c, types[TYPES[c]]) for c in _OUTPUT)])


def site_lines_sql(dialect: sql.Dialect, persons: str) -> str:
    """The site's line episodes of the persons as rows of the records query: domain
    ``SITE_LINE``, the episode number as record id, the source value as value text."""
    d = dialect.double
    return (f"SELECT CAST(person_id AS BIGINT) AS person_id, '{SITE_LINE}' AS domain,"
            f" CAST(episode_number AS BIGINT) AS record_id, CAST(0 AS BIGINT) AS concept_id,"
            f" CAST(episode_start_date AS DATE) AS start_date, CAST(episode_end_date AS DATE) AS end_date,"
            f" CAST(NULL AS {d}) AS value_number,"
            f" CAST(NULL AS BIGINT) AS value_concept_id, episode_source_value AS value_text,"
            f" CAST(NULL AS BIGINT) AS unit_concept_id FROM ({episodes.site_lines_sql(persons, ordered=False)}) site")


def _persons(batches: Iterator[Any]) -> Iterator[tuple[PersonRecords, list[episodes.Span]]]:
    """Consecutive rows of one person (rows come sorted by person) as one PersonRecords and the
    site's lines of the person in order of start (as :func:`.sources.read_site_lines` reads them)."""
    person: int | None = None
    rows: list[Row] = []
    site: list[tuple[Any, ...]] = []

    def done(person: int) -> tuple[PersonRecords, list[episodes.Span]]:
        # in order of start and number, a missing number last (as DuckDB and PostgreSQL order them)
        spans = episodes.site_spans(sorted(site, key=lambda r: (r[2], r[1] is None, r[1] or 0)))
        return PersonRecords(person, tuple(rows)), spans.get(person, [])

    for batch in batches:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for record in zip(*columns):
            if record[0] != person:
                if person is not None:
                    yield done(person)
                person, rows, site = int(record[0]), [], []
            if record[1] == SITE_LINE:  # (person, number, start, end, source value)
                site.append((record[0], record[2], record[4], record[5], record[8]))
            else:
                rows.append(Row._make(record[1:]))
    if person is not None:
        yield done(person)


def local_session(master: str = "local[2]") -> Any:
    """A Spark session in local mode whose Python workers run this interpreter, on loopback only."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(master).appName("mmsequence-audit")
            .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8").getOrCreate())


@attrs.frozen
class SparkRun:
    decisions: int
    diagnostics: tuple[str, ...]
    episodes: int | None


def run_spark_audit(spark: Any, cdm: str, out: Path, policy_path: str | None = None, fmt: str = "parquet",
                    partitions: int | None = None, lines: str = "imwg", write_episodes: bool = False) -> SparkRun:
    """Audit the CDM in the Parquet folder ``cdm`` (one folder per table) with ``spark``; ``lines``
    as :func:`.audit.run_audit`'s (``both`` and ``site`` read the ``episode`` folder); with
    ``write_episodes`` (a folder on the driver's file system), write the IMWG lines into its
    ``episode`` and ``episode_event`` folders."""
    from pyspark import StorageLevel

    if lines not in LINES:
        raise InputError([f"--lines: {lines!r} is not one of {', '.join(LINES)}"])
    for table in sql.CDM_TABLES:
        spark.read.parquet(f"{cdm.rstrip('/')}/{table}").createOrReplaceTempView(table)
    source = SparkSource(spark, cdm)
    if lines != "imwg":
        _episode_views(spark, cdm)
        episodes.require_episode_table(source, lines)
    policy = load_policy(policy_path)
    mapping = omop_mapping(policy)
    vocabulary = read_vocabulary(source, mapping)
    spark.sql(sql.cohort_sql(vocabulary.myeloma)).createOrReplaceTempView("mmsequence_cohort")
    cohort = "SELECT person_id FROM mmsequence_cohort"
    records = spark.sql(sql.records_sql(sql.SPARK, cohort, mapping.read, vocabulary.myeloma, ordered=False))
    if lines != "imwg":
        records = records.unionAll(spark.sql(site_lines_sql(sql.SPARK, cohort)))
    records = records.repartition(partitions or spark.sparkContext.defaultParallelism, "person_id")
    records = records.sortWithinPartitions("person_id", "domain", "record_id")
    audit = AuditPartition(policy, vocabulary, lines=lines, episodes=write_episodes)
    result = records.mapInArrow(audit, _schema()).persist(StorageLevel.DISK_ONLY)
    try:
        decisions = result.where("kind = 'decision'").select(*COLUMNS).orderBy("person_id", "decision_date", "therapy")
        folder = out / "decisions"
        if folder.exists():
            shutil.rmtree(folder)
        writer = decisions.write.mode("overwrite")
        (writer.option("header", True).csv(str(folder)) if fmt == "csv" else writer.parquet(str(folder)))
        result.createOrReplaceTempView("mmsequence_result")
        counted, totals, not_mapped = source.rows_of_each([
            "SELECT domain, concept_id, outcome, SUM(records), COUNT(person_id) FROM mmsequence_result"
            " WHERE kind = 'unmapped' GROUP BY domain, concept_id, outcome",
            "SELECT COUNT(person_id), SUM(records) FROM mmsequence_result WHERE kind = 'drugs'",
            # the records the site maps to nothing, counted by Spark without going through the workers
            f"SELECT domain, concept_id, SUM(records), COUNT(*) FROM"
            f" ({sql.unmapped_sql(cohort, mapping.read, vocabulary.myeloma, ordered=False)}) counted"
            " GROUP BY domain, concept_id",
        ])
        ((persons, drugs),) = totals
        compared = out / "lines"
        if compared.exists():
            shutil.rmtree(compared)
        result.where("kind = 'line'").select(*readings.COLUMNS).orderBy("person_id", "reading").write.parquet(str(compared))
        derived = [r.asDict() for r in result.where("kind = 'episode'").select(*episodes.COLUMNS)
                   .orderBy("person_id", "line", "regimen").collect()] if write_episodes else []
    finally:
        result.unpersist()
    unmapped = {(str(domain), int(concept), str(outcome)): [int(records), int(people)]
                for domain, concept, outcome, records, people in counted}
    for domain, concept, records, people in not_mapped:
        counts = unmapped.setdefault((str(domain), int(concept), NOT_MAPPED), [0, 0])
        counts[0] += int(records)
        counts[1] += int(people)
    found = diagnose(source, vocabulary, mapping, int(persons or 0), int(drugs or 0), unmapped)
    parts = sorted(folder.glob(f"part-*.{fmt}" if fmt == "csv" else "part-*.parquet"))
    tally = write_summary(out, fmt, parts, unmapped, lambda ids: concept_names(source, ids), cdm, found,
                          sorted(compared.glob("part-*.parquet")), concepts_note(mapping))
    count = episodes.write_episodes(Path(cdm), derived) if write_episodes else None
    return SparkRun(tally.total["decisions"], tuple(found), count)


def _episode_views(spark: Any, cdm: str) -> None:
    """The CDM's EPISODE tables as views where the folder has them (a missing or empty folder
    leaves none, whatever an earlier job of the session read)."""
    from pyspark.errors import AnalysisException

    for table in sql.EPISODE_TABLES:
        spark.catalog.dropTempView(table)
        try:
            spark.read.parquet(f"{cdm.rstrip('/')}/{table}").createOrReplaceTempView(table)
        except AnalysisException:  # no such folder, or no Parquet file in it
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """``spark-submit mmsequence/omop/spark.py --cdm DIR --out DIR [--policy FILE] [--format F] [--lines L]
    [--write-episodes]``."""
    parser = argparse.ArgumentParser(prog="mmsequence.omop.spark", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--path", action="store_true", help="print the path of the file to give spark-submit, and exit")
    parser.add_argument("--cdm", help="folder of Parquet folders, one per CDM table (any path Spark reads)")
    parser.add_argument("--out", help="output folder (on the driver's file system)")
    parser.add_argument("--policy", help="site policy with its omop section")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--lines", choices=LINES, default="imwg", help="as mmsequence audit --lines")
    parser.add_argument("--write-episodes", action="store_true",
                        help="write the IMWG lines to the CDM's episode and episode_event folders (the CDM a folder"
                             " on the driver's file system)")
    args = parser.parse_args(argv)
    if args.path:
        print(Path(__file__).resolve().with_name("spark_submit.py"))
        return 0
    if not (args.cdm and args.out):
        parser.error("--cdm and --out are required")
    if args.write_episodes and not Path(args.cdm).is_dir():
        parser.error(f"--write-episodes: --cdm {args.cdm} is not a folder on the driver's file system, where the"
                     " episodes are written")
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("mmsequence-audit").getOrCreate()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    run = run_spark_audit(spark, args.cdm, Path(args.out), args.policy, args.format, args.partitions, args.lines,
                          args.write_episodes)
    report(run.diagnostics, run.episodes, args.cdm)
    print(f"mmsequence: {run.decisions} decisions written to {args.out}", file=sys.stderr)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
