"""A batch's results as one flat table for analysts (``mmsequence batch --table results.parquet|csv``).

One row per patient and candidate, read back from the batch's JSONL output (so a resumed run's
table holds every patient of the file): where the document came from, the patient, the day, the
ruleset digest, the candidate, its rank, verdict, what a wait becomes, its not-before date and the
rules that set it, and the deciding rules (the live findings whose effect is the verdict). A
record the myeloma gate did not let through (``myeloma_gate`` is ``not-assessed``) is one row with
no candidate, and a document that could not be read is one row with its errors.

Parquet (typed columns: ``rank`` an integer, dates as dates) needs pyarrow, the ``table`` extra;
CSV needs nothing. Either is written beside its final name and renamed into place, in batches of
rows, so memory stays bounded however large the cohort.
"""

from __future__ import annotations

import csv
import datetime
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .errors import InputError, missing_extra

COLUMNS = ("source", "patient_id", "as_of", "ruleset", "therapy", "query", "target", "modality", "rank", "verdict",
           "then", "earliest_date", "earliest_date_set_by", "deciding_rules", "myeloma_gate", "errors")
_DATES = ("as_of", "earliest_date")
_SUFFIXES = (".parquet", ".csv")
_BATCH_ROWS = 10_000


def check_table_path(path: Path) -> None:
    """InputError unless ``path`` ends in .parquet or .csv; the missing extra for Parquet without pyarrow
    (checked before a batch runs, so that a long run does not end in it)."""
    if path.suffix.lower() not in _SUFFIXES:
        raise InputError([f"--table: {str(path)!r} is neither a .parquet nor a .csv file"])
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError as error:
            raise missing_extra("batch --table FILE.parquet", "table", error.name) from None


def deciding_rules(candidate: dict[str, Any]) -> list[str]:
    """The rules of the live (not overridden) findings whose effect is the candidate's verdict."""
    return sorted({f["rule"] for f in candidate["findings"] if f["effect"] == candidate["verdict"] and not f.get("overridden")})


def table_rows(jsonl: Path) -> Iterator[dict[str, Any]]:
    """The rows of a batch's JSONL output, in its order; the ruleset of each line is its header's."""
    ruleset = None
    with jsonl.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = orjson.loads(line)
            if "header" in record:
                ruleset = record["header"]["ruleset"]["digest"]
                continue
            base = dict.fromkeys(COLUMNS) | {"source": record["source"]}
            if "errors" in record:
                yield base | {"errors": "; ".join(record["errors"])}
                continue
            base |= {"patient_id": record["patient_id"], "as_of": record["as_of"],
                     "ruleset": record["ruleset"]["digest"] if "ruleset" in record else ruleset,
                     "myeloma_gate": record["myeloma_gate"]["state"]}
            if not record["candidates"]:  # not assessed: the patient still has a row, saying so
                yield base
            for c in record["candidates"]:
                yield base | {
                    "therapy": c["therapy"], "query": c["query"], "target": ", ".join(c["target"]),
                    "modality": c["modality"], "rank": c["rank"], "verdict": c["verdict"], "then": c["then"],
                    "earliest_date": c["earliest_date"], "earliest_date_set_by": "; ".join(c["earliest_date_set_by"]),
                    "deciding_rules": "; ".join(deciding_rules(c)),
                }


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def write_batch_table(jsonl: Path, path: Path) -> int:
    """Write the table of ``jsonl`` to ``path`` (.parquet or .csv), atomically; returns the rows written."""
    check_table_path(path)
    temporary = path.with_name(f".{path.name}.partial")
    count = 0
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(c, pa.int64() if c == "rank" else pa.date32() if c in _DATES else pa.string())
                            for c in COLUMNS])
        with pq.ParquetWriter(temporary, schema) as writer:
            for batch in _batches(table_rows(jsonl)):
                typed = [row | {c: datetime.date.fromisoformat(row[c]) if row[c] else None for c in _DATES} for row in batch]
                writer.write_table(pa.Table.from_pylist(typed, schema=schema))
                count += len(batch)
    else:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for row in table_rows(jsonl):
                writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
                count += 1
    os.replace(temporary, path)
    return count
