"""The audit's tables as Parquet (pyarrow) or CSV files, with typed columns, written atomically.

A file is written beside its final name and renamed into place, so a reader (or a resumed run)
never sees half a file. CSV writes booleans as ``true``/``false`` and a missing value as an
empty field; reading a table back gives the same typed rows from either format.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

FORMATS = ("parquet", "csv")
#: The type of every column of every table: int, str, bool or float.
TYPES: dict[str, type] = {
    "person_id": int, "decision_date": str, "year": int, "line": int, "therapy": str, "modality": str,
    "targets": str, "rank": int, "verdict": str, "concordance": str, "best_ranked": bool, "best_therapy": str,
    "best_verdict": str, "against": str, "overridden": str, "override_recorded": bool, "candidates": int,
    "warnings": int, "errors": str,
    # aggregates
    "rule": str, "decisions": int, "concordant": int, "discordant": int, "indeterminate": int, "error": int,
    "against_given": int, "overridden_given": int, "concordance_rate": float, "best_ranked_rate": float,
    # unmapped concepts
    "domain": str, "concept_id": int, "concept_name": str, "vocabulary_id": str, "outcome": str,
    "records": int, "persons": int,
    # derived episodes, and the readings of lines compared
    "regimen": int, "start_date": str, "end_date": str, "source_value": str, "events": str,
    "reading": str, "imwg_lines": int, "other_lines": int, "identical": bool, "kinds": str, "imwg": str, "other": str,
    "kind": str, "persons_identical": int, "share_identical": float, "example": str,
}


def write_table(path: Path, columns: tuple[str, ...], rows: Iterable[Mapping[str, Any]], fmt: str) -> Path:
    """Write ``rows`` (mappings holding every column) to ``path`` plus the format's suffix, atomically."""
    final = path.with_suffix(f".{fmt}")
    temporary = final.with_name(f".{final.name}.partial")
    rows = list(rows)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {int: pa.int64(), str: pa.string(), bool: pa.bool_(), float: pa.float64()}
        schema = pa.schema([(c, types[TYPES[c]]) for c in columns])
        pq.write_table(pa.Table.from_pydict({c: [r[c] for r in rows] for c in columns}, schema=schema), temporary)
    else:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([_csv_value(r[c]) for c in columns] for r in rows)
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_table(path: Path) -> Iterator[dict[str, Any]]:
    """The typed rows of a table written by :func:`write_table` (a ``.parquet`` or ``.csv`` file)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
        return
    with path.open(encoding="utf-8", newline="") as handle:
        for raw in csv.DictReader(handle):
            yield {c: _typed(c, v) for c, v in raw.items()}


def _typed(column: str, text: str) -> Any:
    kind = TYPES[column]
    if text == "" and kind is not str:
        return None
    if kind is bool:
        return text == "true"
    return kind(text)
