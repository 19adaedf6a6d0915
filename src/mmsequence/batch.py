"""Cohort evaluation: stream patient documents, write one assessment per line, resumably.

Input is a JSONL file (one document per line) or a folder of ``*.json`` files; each document is
a patient-history document or a FHIR Bundle, read as :func:`mmsequence.documents.read_document`
reads it. Output is JSONL in input order. Each output line carries ``source`` (``file:line`` or
the file name): a rerun after an interruption skips every source already written, so a night's
run can be resumed. A document that cannot be assessed gets a line with ``errors`` instead of
failing the batch; an output line that cannot be read back (a write cut short) is reported and
dropped, so that its document is assessed again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from .documents import decode_json
from .errors import InputError, MmsequenceError
from .evaluator import Evaluator, evaluator_for
from .policy import load_policy
from .render import to_json_line


@attrs.frozen
class Item:
    """One document to assess: where it came from and its raw text."""

    source: str
    text: str


def read_items(path: Path) -> Iterator[Item]:
    """The documents of a JSONL file (blank lines skipped) or of a folder of JSON files, in order."""
    if path.is_dir():
        for file in sorted(path.glob("*.json")):
            yield Item(file.name, file.read_text(encoding="utf-8", errors="replace"))
        return
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    with handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield Item(f"{path.name}:{number}", line)


def _source(line: bytes) -> str | None:
    """The ``source`` of one output line, or None if the line cannot be read back."""
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, not UTF-8, or an integer too long
        return None
    source = record.get("source") if isinstance(record, dict) else None
    return source if isinstance(source, str) else None


def done_sources(out: Path) -> set[str]:
    """Sources already written to ``out``. An incomplete last line (interrupted write) is cut off; a
    complete line that cannot be read back is reported on stderr and dropped, so it is done again."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    lines = [line for line in complete.splitlines(keepends=True) if line.strip()]
    kept = [(line, source) for line in lines if (source := _source(line)) is not None]
    if len(kept) != len(lines) or len(complete) != len(data):
        for number, line in enumerate(lines, 1):
            if _source(line) is None:
                print(f"mmsequence: {out}:{number}: unreadable output line dropped; its document is assessed again",
                      file=sys.stderr)
        out.write_bytes(b"".join(line for line, _ in kept))
    return {source for _, source in kept}


@functools.lru_cache(maxsize=4)
def _evaluator(policy: str | None) -> Evaluator:
    """The evaluator of a policy file, built once per process."""
    return evaluator_for(load_policy(policy))


@attrs.frozen
class _Job:
    """What a worker needs besides the item (picklable, so it can go to other processes)."""

    as_of: str | None
    policy: str | None

    def __call__(self, item: Item) -> tuple[str, bool]:
        """The output line for one item, and whether it was assessed."""
        try:
            evaluator = _evaluator(self.policy)
            history = evaluator.read(decode_json(item.text, "document"))
            assessment = evaluator.evaluate(history, as_of=self.as_of)
        except MmsequenceError as error:
            problems = [p.removeprefix("document: ") for p in error.problems]
        else:
            return to_json_line({"source": item.source, **assessment.to_dict()}), True
        return to_json_line({"source": item.source, "errors": problems}), False


def run_batch(
    source: Path, out: Path, as_of: str | None = None, policy: str | None = None,
    processes: int = 1, progress: bool = False,
) -> tuple[int, int]:
    """Assess every document not yet in ``out``; returns (written, failed)."""
    skip = done_sources(out)
    items = [item for item in read_items(source) if item.source not in skip]
    job = _Job(as_of, policy)
    written = failed = 0
    with out.open("a", encoding="utf-8") as sink, _ordered_map(processes) as imap:
        results = imap(job, items)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(items), unit="patient", disable=None)
        for line, ok in results:
            sink.write(line)
            written += 1
            failed += not ok
    return written, failed


@contextlib.contextmanager
def _ordered_map(processes: int) -> Iterator[Callable]:
    """An ordered map in this process, or over a pool of worker processes (each builds its own engine)."""
    if processes <= 1:
        yield map
        return
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        yield lambda job, items: pool.imap(job, items, chunksize=64)


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
