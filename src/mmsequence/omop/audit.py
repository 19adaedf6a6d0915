"""``mmsequence audit``: concordance of every TCRT decision in an OMOP CDM, resumable.

The cohort is read ``batch`` persons at a time; each batch is assessed (in this process, or over
worker processes that each build one evaluator) and written as one part file of the decisions
table, then recorded in ``progress.jsonl``. Interrupted, the same command resumes after the last
recorded part: a part written but not recorded is written again, and a progress line cut off
mid-write is mended first. The aggregates and the summary are made from the parts at the end.

Output folder::

    audit.json               what the audit was made with (policy and rules digest, format)
    decisions/part-NNNNN.*   one row per decision (Parquet or CSV)
    episodes/part-NNNNN.*    each person's IMWG lines as derived-episode rows (written to the CDM's
                             EPISODE tables with ``write_episodes``)
    lines/part-NNNNN.*       each person's lines by the OHDSI logic (and the site's EPISODE rows,
                             ``lines="both"``) compared with the IMWG lines
    progress.jsonl           one line per part written: last person, counts, unmapped records
    by_rule.*  by_year.*  by_therapy.*  unmapped.*  lines_compared.*   the aggregates
    summary.html             self-contained summary with SVG plots, and the diagnostics
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ..errors import InputError
from ..evaluator import Evaluator
from ..policy import Policy, load_policy
from . import episodes, readings, sql
from .chart import ChartReader, PersonRecords
from .concordance import COLUMNS, assess
from .decisions import ChartLines, decisions
from .diagnostics import diagnose
from .episodes import Span
from .mapping import omop_mapping
from .ohdsi_lines import codeset
from .sources import Source, cohort_pages, open_source, read_persons, read_site_lines, read_vocabulary
from .summary import finish
from .tables import FORMATS, write_table
from .vocabulary import Vocabulary

Unmapped = Counter[tuple[str, int, str]]


#: Which lines the decisions use, and whether the site's line episodes are read: ``imwg`` (the
#: IMWG lines only), ``both`` (IMWG lines; the site's compared), ``site`` (the site's lines; compared).
LINES = ("imwg", "both", "site")


@attrs.frozen
class PersonResult:
    rows: list[dict[str, Any]]
    unmapped: Unmapped
    episodes: list[dict[str, Any]] = attrs.Factory(list)
    lines: list[dict[str, Any]] = attrs.Factory(list)
    drug_records: int = 0


class Auditor:
    """Everything one process needs to audit persons: the evaluator and a chart reader; ``lines``
    (one of LINES) says whose lines the decisions use and whether the site's are compared."""

    def __init__(self, policy: Policy, vocabulary: Vocabulary, lines: str = "imwg") -> None:
        self.evaluator = Evaluator(policy)
        self.mapping = omop_mapping(policy)
        self.reader = ChartReader(self.evaluator.catalog, self.mapping, vocabulary)
        self.lines = lines
        self.codeset = codeset(self.evaluator.catalog)

    def person(self, records: PersonRecords, site: list[Span] | None = None) -> PersonResult:
        chart = self.reader.read(records)
        lines = ChartLines.of(chart)
        used = site if self.lines == "site" else None
        rows = [assess(self.evaluator, d) for d in decisions(lines, self.evaluator.catalog, self.mapping, used)]
        derived, compared = readings.read_lines(lines, self.codeset,
                                                site if self.lines != "imwg" else None)
        drugs = sum(1 for r in records.rows if r.domain == "drug")
        return PersonResult(rows, chart.unmapped, derived, compared, drugs)

    def page(self, source: Source, persons: list[int]) -> list[PersonResult]:
        """Read and audit a page of persons."""
        site = read_site_lines(source, persons) if self.lines != "imwg" else {}
        return [self.person(records, site.get(records.person_id, []))
                for records in read_persons(source, persons, self.mapping, self.reader.vocabulary)]


_WORKER: tuple[Auditor, Source] | None = None


def _start_worker(policy: Policy, vocabulary: Vocabulary, where: tuple[str | None, str | None], lines: str) -> None:
    """A worker process: its own evaluator, and its own connection to the CDM."""
    global _WORKER
    _WORKER = (Auditor(policy, vocabulary, lines), open_source(*where))


def _audit_in_worker(persons: list[int]) -> list[PersonResult]:
    assert _WORKER is not None, "worker started without its auditor"
    auditor, source = _WORKER
    return auditor.page(source, persons)


@attrs.frozen
class AuditRun:
    """What was done: persons and decisions written now, parts in all."""

    persons: int
    decisions: int
    parts: int
    diagnostics: tuple[str, ...] = ()
    episodes: int | None = None  # episodes written to the CDM, when asked


def run_audit(source: Source, out: Path, policy_path: str | None = None, fmt: str = "parquet",
              batch: int = 1000, processes: int = 1, progress: bool = False, lines: str = "imwg",
              write_episodes: bool = False) -> AuditRun:
    """Audit every myeloma person of ``source`` not yet in ``out``, then write the aggregates and
    summary (and, with ``write_episodes``, the IMWG lines as the CDM's EPISODE rows)."""
    if fmt not in FORMATS:
        raise InputError([f"--format: {fmt!r} is not one of {', '.join(FORMATS)}"])
    if batch < 1:
        raise InputError([f"--batch: {batch} is not a positive number of persons"])
    if lines not in LINES:
        raise InputError([f"--lines: {lines!r} is not one of {', '.join(LINES)}"])
    policy = load_policy(policy_path)
    mapping = omop_mapping(policy)
    vocabulary = read_vocabulary(source, mapping)
    if lines != "imwg":
        episodes.require_episode_table(source, lines)
    auditor = Auditor(policy, vocabulary, lines)
    journal = Journal.open(out, _manifest(auditor, source, fmt))
    persons = written = 0
    bar = _progress(cohort_size(source, auditor.reader.vocabulary, journal.last_person) if progress else None)
    with _pool(processes, policy, auditor, source) as mapper:
        pending: tuple[list[int], Callable[[], list[PersonResult]]] | None = None
        for records in cohort_pages(source, auditor.reader.vocabulary, batch, journal.last_person):
            job = mapper(records)
            if pending is not None:
                written += journal.write(pending[0], pending[1]())
                bar(len(pending[0]))
                persons += len(pending[0])
            pending = (records, job)
        if pending is not None:
            written += journal.write(pending[0], pending[1]())
            bar(len(pending[0]))
            persons += len(pending[0])
    found = diagnose(source, vocabulary, mapping, journal.cohort(), journal.drug_records(), journal.unmapped())
    finish(out, journal, source, found, mapping)
    count = None
    if write_episodes:
        if source.where[0] is not None and not Path(source.where[0]).is_dir():
            source.close()  # a DuckDB file is opened read only by the audit; the writer opens it to write
        count = episodes.write_episodes(source.where[1] or str(source.where[0]), journal.derived(),
                                        url=source.where[1] is not None)
    return AuditRun(persons, written, journal.parts, tuple(found), count)


def _manifest(auditor: Auditor, source: Source, fmt: str) -> dict[str, Any]:
    return {"format": fmt, "policy": auditor.evaluator.policy.digest, "ruleset": auditor.evaluator.ruleset.digest,
            "source": source.label, "lines": auditor.lines}


def cohort_size(source: Source, vocabulary: Vocabulary, after: int | None = None) -> int:
    """How many persons of the cohort come after ``after`` (all of them for None): the progress bar's total."""
    ((count,),) = source.rows(f"SELECT COUNT(*) FROM ({sql.cohort_sql(vocabulary.myeloma, after)}) AS cohort")
    return int(count)


def _progress(total: int | None) -> Callable[[int], None]:
    """A tqdm bar on a terminal (persons done of ``total``, rate and time left); None: no bar."""
    if total is None:
        return lambda n: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="person", desc="auditing", disable=None, file=sys.stderr)

    def advance(n: int) -> None:
        bar.update(n)
    return advance


class _pool:
    """Assess a page of persons here, or over worker processes (spawned; each builds its own
    evaluator, opens its own connection and reads its persons' records itself).

    The pool is given one page at a time, so at most two pages are in memory: the one being
    assessed and the next one."""

    def __init__(self, processes: int, policy: Policy, auditor: Auditor, source: Source) -> None:
        self.processes, self.policy, self.auditor, self.source = processes, policy, auditor, source
        self._pool: Any = None

    def __enter__(self) -> Callable[[list[int]], Callable[[], list[PersonResult]]]:
        if self.processes <= 1:
            def here(persons: list[int]) -> list[PersonResult]:
                return self.auditor.page(self.source, persons)
            return lambda persons: functools.partial(here, persons)
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(self.processes, _start_worker,
                                  (self.policy, self.auditor.reader.vocabulary, self.source.where, self.auditor.lines))
        pool, size = self._pool, 4 * self.processes

        def there(persons: list[int]) -> Callable[[], list[PersonResult]]:
            step = max(1, -(-len(persons) // size))
            job = pool.map_async(_audit_in_worker, [persons[i:i + step] for i in range(0, len(persons), step)])
            return lambda: [result for chunk in job.get() for result in chunk]
        return there

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()


class Journal:
    """The decisions parts of one output folder and the record of which are complete."""

    def __init__(self, out: Path, fmt: str, entries: list[dict[str, Any]]) -> None:
        self.out, self.fmt, self.entries = out, fmt, entries

    @classmethod
    def open(cls, out: Path, manifest: dict[str, Any]) -> Journal:
        """The journal of ``out``, created or resumed; a folder made with another policy, rules or
        format is an error (its parts would not add up)."""
        (out / "decisions").mkdir(parents=True, exist_ok=True)
        path = out / "audit.json"
        if path.exists():
            before = json.loads(path.read_text(encoding="utf-8"))
            changed = [k for k in ("format", "policy", "ruleset", "lines") if before.get(k) != manifest[k]]
            if changed:
                raise InputError([f"{out}: was audited with another {', '.join(changed)}; use a new --out folder"])
        else:
            path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        entries = _read_progress(out / "progress.jsonl")
        recorded = {_part_name(e["part"], manifest["format"]) for e in entries}
        for folder in PART_FOLDERS:
            (out / folder).mkdir(exist_ok=True)
            for stray in (out / folder).iterdir():
                if stray.name not in recorded:  # written, or half written, but not recorded: done again
                    stray.unlink()
        return cls(out, manifest["format"], entries)

    @property
    def last_person(self) -> int | None:
        return self.entries[-1]["last_person"] if self.entries else None

    @property
    def parts(self) -> int:
        return len(self.entries)

    def part_files(self, folder: str = "decisions") -> Iterator[Path]:
        for entry in self.entries:
            yield self.out / folder / _part_name(entry["part"], self.fmt)

    def derived(self) -> Iterator[dict[str, Any]]:
        """Every person's derived-episode rows, in order of person."""
        return episodes.read_derived(self.part_files("episodes"))

    def cohort(self) -> int:
        return sum(int(e["persons"]) for e in self.entries)

    def drug_records(self) -> int:
        return sum(int(e.get("drug_records", 0)) for e in self.entries)

    def unmapped(self) -> dict[tuple[str, int, str], list[int]]:
        """(records, persons) of every unmapped (domain, concept, outcome), over all parts."""
        total: dict[tuple[str, int, str], list[int]] = {}
        for entry in self.entries:
            for domain, concept, outcome, records, persons in entry["unmapped"]:
                counts = total.setdefault((domain, concept, outcome), [0, 0])
                counts[0] += records
                counts[1] += persons
        return total

    def write(self, persons: list[int], results: list[PersonResult]) -> int:
        """Write one part and record it; returns the number of decisions written."""
        number = self.parts
        rows = [row for result in results for row in result.rows]
        write_table(self.out / "episodes" / f"part-{number:05d}", episodes.COLUMNS,
                    [row for result in results for row in result.episodes], self.fmt)
        write_table(self.out / "lines" / f"part-{number:05d}", readings.COLUMNS,
                    [row for result in results for row in result.lines], self.fmt)
        write_table(self.out / "decisions" / f"part-{number:05d}", COLUMNS, rows, self.fmt)
        records: Unmapped = Counter()
        people: Unmapped = Counter()
        for result in results:
            records.update(result.unmapped)
            people.update(result.unmapped.keys())
        entry = {"part": number, "last_person": persons[-1], "persons": len(persons), "decisions": len(rows),
                 "drug_records": sum(result.drug_records for result in results),
                 "unmapped": [[*key, records[key], people[key]] for key in sorted(records)]}
        with (self.out / "progress.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.entries.append(entry)
        return len(rows)


#: The folders of an audit's part files.
PART_FOLDERS = ("decisions", "episodes", "lines")


def _part_name(number: int, fmt: str) -> str:
    return f"part-{number:05d}.{fmt}"


def _read_progress(path: Path) -> list[dict[str, Any]]:
    """The complete lines of the progress file; a line cut off mid-write is removed."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        path.write_bytes(complete)
    return [json.loads(line) for line in complete.splitlines() if line.strip()]
