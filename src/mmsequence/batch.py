"""Cohort evaluation: stream patient documents, write one assessment per line, resumably.

Input is a JSONL file (one document per line) or a folder of ``*.json`` files; each document is
a patient-history document or a FHIR Bundle, read as :func:`mmsequence.documents.read_document`
reads it. Output is JSONL in input order, streamed: however large the cohort, the parent process
holds only a bounded window of documents in flight.

What is the same for every patient of a run is written once, in a header record that applies to
the lines after it: ``{"header": {"ruleset": ..., "policy": ..., "rules": {id: {"evidence": ...,
"citation": ...}}}}``. Each patient line then carries ``source`` and its compact record
(:func:`compact_record`: the verdict, rank and dates of each candidate and the rule and effect of
each finding, a few kilobytes); ``full=True``, the CLI's ``--full-records``, writes the whole
assessment into every line instead, as ``mmsequence evaluate`` gives it, with no header.

Each patient line carries ``source`` (``file:line`` or the file name) and ``input_sha256``, the
digest of the document it was made from: a rerun after an interruption skips every source already
written from the same document, so a night's run can be resumed; a line whose document has changed
since is dropped and its document assessed again; a rerun under another ruleset or policy writes a
new header before its lines. A document that cannot be
assessed gets a line with ``errors`` instead of failing the batch. An incomplete last line (a
write cut short) is cut off; a complete line that cannot be read back is reported on stderr and
removed, so that its document is assessed and written again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from ._caches import resettable
from .assessment import Assessment
from .documents import read_json
from .errors import InputError, MmsequenceError
from .evaluator import Evaluator, evaluator_for
from .notices import codes
from .policy import load_policy
from .render import to_json_line

#: Documents handed to worker processes at a time, per process: enough to keep them busy.
_CHUNK = 32
_WINDOW_CHUNKS = 4


@attrs.frozen
class Item:
    """One document to assess: where it came from and its raw text."""

    source: str
    text: str


def _json_files(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".json") and (folder / name).is_file())


def read_items(path: Path) -> Iterator[Item]:
    """The documents of a JSONL file (blank lines skipped) or of a folder of JSON files, in order,
    read one at a time."""
    if path.is_dir():
        for name in _json_files(path):
            yield Item(name, (path / name).read_text(encoding="utf-8", errors="replace"))
        return
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield Item(f"{path.name}:{number}", line)


def _count_items(path: Path, skip: Container[str]) -> int:
    """How many documents ``read_items`` will yield that are not in ``skip`` (for the progress bar)."""
    if path.is_dir():
        return sum(name not in skip for name in _json_files(path))
    with path.open("rb") as handle:
        return sum(bool(line.strip()) and f"{path.name}:{number}" not in skip for number, line in enumerate(handle, 1))


def _record(line: bytes) -> dict[str, Any] | None:
    """One output line read back, or None if it is not a patient line or a header."""
    try:
        record = orjson.loads(line)
    except ValueError:
        try:
            record = json.loads(line)
        except ValueError:  # not JSON, not UTF-8, or an integer too long
            return None
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("header"), dict) or (isinstance(record.get("source"), str) and _complete(record)):
        return record
    return None


def _complete(record: dict[str, Any]) -> bool:
    """Whether a patient line is a whole record its run wrote: the digest of its document, and an
    assessment (patient, date, candidates) or the document's errors. A stub with only ``source``
    is not, and would otherwise skip its patient on every resume."""
    if not isinstance(record.get("input_sha256"), str):
        return False
    errors = record.get("errors")
    if errors is not None:
        return isinstance(errors, list) and bool(errors) and all(isinstance(e, str) for e in errors)
    return (isinstance(record.get("patient_id"), str) and isinstance(record.get("as_of"), str)
            and isinstance(record.get("candidates"), list))


def input_digest(text: str) -> str:
    """The digest a patient line records of the document it was made from (surrounding blanks aside)."""
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class _Done:
    """What an output file already holds: each source written (the digest of its document and its
    line number), and the header the last lines follow."""

    sources: dict[str, tuple[str, int]]
    header: dict[str, Any] | None
    failed: int = 0  # lines with errors instead of an assessment

    def holds(self, item: Item) -> bool:
        """Whether ``item`` was assessed from this very document."""
        written = self.sources.get(item.source)
        return written is not None and written[0] == input_digest(item.text)


def read_done(out: Path) -> _Done:
    """Read ``out`` line by line. An incomplete last line (interrupted write) is cut off; a complete
    line that cannot be read back is reported on stderr and removed, so that it is written again."""
    done = _Done({}, None)
    if not out.exists():
        return done
    header, bad, end, failed = None, [], 0, 0
    with out.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break
            end += len(line)
            if not line.strip():
                continue
            record = _record(line)
            if record is None:
                bad.append(number)
                print(f"mmsequence: {out}:{number}: unreadable output line dropped; its document is assessed again",
                      file=sys.stderr)
            elif "header" in record:
                header = record["header"]
            else:
                done.sources[record["source"]] = (record["input_sha256"], number)
                failed += "errors" in record
    if bad:
        _rewrite_without(out, set(bad), end)
    elif end != out.stat().st_size:
        with out.open("r+b") as handle:
            handle.truncate(end)
    return attrs.evolve(done, header=header, failed=failed)


def _without_stale(source: Path, out: Path, done: _Done) -> _Done:
    """``done`` once the lines made from a document that has changed since are dropped (reported on
    stderr): their documents are assessed again."""
    stale = {item.source: done.sources[item.source][1] for item in read_items(source)
             if item.source in done.sources and not done.holds(item)}
    if not stale:
        return done
    for name, number in stale.items():
        print(f"mmsequence: {out}:{number}: {name} has changed since it was assessed; its line is dropped and"
              " its document assessed again", file=sys.stderr)
    _rewrite_without(out, set(stale.values()), out.stat().st_size)
    return read_done(out)


def _rewrite_without(out: Path, numbers: set[int], end: int) -> None:
    """Copy ``out`` up to byte ``end`` without the given line numbers, then put the copy in its place."""
    partial = out.with_name(out.name + ".partial")
    with out.open("rb") as source, partial.open("wb") as copy:
        written = 0
        for number, line in enumerate(source, 1):
            if written >= end:
                break
            written += len(line)
            if number not in numbers:
                copy.write(line)
    os.replace(partial, out)


@resettable
@functools.lru_cache(maxsize=4)
def _evaluator(policy: str | None) -> Evaluator:
    """The evaluator of a policy file, built once per process."""
    return evaluator_for(load_policy(policy))


def header(policy: str | None) -> dict[str, Any]:
    """The header record of a run under ``policy``: the blocks every assessment shares."""
    evaluator = _evaluator(policy)
    return {"header": {
        "ruleset": evaluator.ruleset.to_dict(),
        "policy": evaluator.policy.to_dict(),
        "rules": {rule.id: {"evidence": rule.evidence, "citation": rule.citation} for rule in evaluator.rules.values()},
    }}


def compact_record(assessment: Assessment) -> dict[str, Any]:
    """The compact patient line: the assessment without ``ruleset``, ``policy`` and ``derived``,
    each candidate without ``rank_reason`` and each finding reduced to its ``rule``, ``effect`` and
    ``overridden`` (the full record, ``--full-records``, has everything)."""
    return {
        "patient_id": assessment.patient_id, "as_of": assessment.as_of.isoformat(),
        "actions": [a.to_dict() for a in assessment.actions], "myeloma_gate": assessment.gate.to_dict(),
        "candidates": [{
            "query": c.query, "therapy": c.therapy, **({"agents": list(c.agents)} if c.agents else {}),
            "target": list(c.target), "modality": c.modality, "verdict": c.verdict, "then": c.then,
            "earliest_date": None if c.earliest_date is None else c.earliest_date.isoformat(),
            "earliest_date_set_by": list(c.earliest_date_set_by), "rank": c.rank,
            "findings": [{"rule": f.rule, "effect": f.effect,
                          **({"overridden": f.overridden} if f.overridden is not None else {})} for f in c.findings],
        } for c in assessment.candidates],
        "warnings": list(assessment.warnings),
        "notices": codes(assessment.warnings),
    }


@attrs.frozen
class _Job:
    """What a worker needs besides the item (picklable, so it can go to other processes)."""

    as_of: str | None
    policy: str | None
    full: bool = False

    def __call__(self, item: Item) -> tuple[str, bool]:
        """The output line for one item, and whether it was assessed."""
        try:
            evaluator = _evaluator(self.policy)
            history = read_json(item.text, "document", evaluator.catalog)
            assessment = evaluator.evaluate(history, as_of=self.as_of)
        except MmsequenceError as error:
            problems = [p.removeprefix("document: ") for p in error.problems]
        except Exception as error:  # noqa: BLE001 (one document's failure is its record, not the run's end)
            problems = [f"internal error ({type(error).__name__}): this document could not be assessed"]
        else:
            return to_json_line({"source": item.source, "input_sha256": input_digest(item.text),
                                 **(assessment.to_dict() if self.full else compact_record(assessment))}), True
        return to_json_line({"source": item.source, "input_sha256": input_digest(item.text), "errors": problems}), False


def run_batch(
    source: Path, out: Path, as_of: str | None = None, policy: str | None = None,
    processes: int = 1, progress: bool = False, full: bool = False,
) -> tuple[int, int]:
    """Assess every document not yet in ``out``; returns (written, failed).

    ``full``: every line is the whole assessment (:func:`compact_record` otherwise), and no header is written.
    """
    done = read_done(out)
    reader = read_items(source)
    first = next(reader, None)  # an unreadable input fails here, before anything is written
    if done.sources:
        done = _without_stale(source, out, done)
    items = (item for item in itertools.chain([first] if first else [], reader) if not done.holds(item))
    job = _Job(as_of, policy, full)
    wanted = None if full else header(policy)
    written = failed = 0
    with out.open("a", encoding="utf-8") as sink, _ordered_map(processes) as imap:
        results: Iterable[tuple[str, bool]] = imap(job, items)
        if progress and sys.stderr.isatty():
            from tqdm import tqdm

            results = tqdm(results, total=_count_items(source, done.sources), unit="patient")
        for line, ok in results:
            if wanted is not None:
                if wanted["header"] != done.header:
                    sink.write(to_json_line(wanted))
                wanted = None
            sink.write(line)
            written += 1
            failed += not ok
    return written, failed


class _Window:
    """Lets at most ``size`` items be in flight between the reader and the writer."""

    def __init__(self, size: int) -> None:
        self._slots = threading.Semaphore(size)
        self._closed = False

    def feed(self, items: Iterable[Item]) -> Iterator[Item]:
        for item in items:
            self._slots.acquire()
            if self._closed:
                return
            yield item

    def drain(self, results: Iterator[tuple[str, bool]]) -> Iterator[tuple[str, bool]]:
        for result in results:
            self._slots.release()
            yield result

    def close(self) -> None:
        """Unblock the reader for good (the pool is being shut down)."""
        self._closed = True
        self._slots.release(1 << 20)


@contextlib.contextmanager
def _ordered_map(processes: int) -> Iterator[Callable[[_Job, Iterable[Item]], Iterator[tuple[str, bool]]]]:
    """An ordered, lazy map in this process, or over a pool of worker processes (each builds its
    own engine) with a bounded window of documents in flight."""
    if processes <= 1:
        yield map
        return
    window = _Window(processes * _CHUNK * _WINDOW_CHUNKS)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        try:
            yield lambda job, items: window.drain(pool.imap(job, window.feed(items), chunksize=_CHUNK))
        finally:
            window.close()


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
