"""Lines of therapy as CDM v5.4 oncology EPISODE and EPISODE_EVENT rows, out and in.

Following the OHDSI myeloma episode conventions (:mod:`.standard`, ``LAMBDA``): a line of therapy
is an episode of concept 32941 (Cancer Drug Treatment, for want of a line concept), its source
value the names of its regimens in order joined by `` then ``; each regimen is an episode of
concept 32531 (Treatment Regimen) whose ``episode_parent_id`` is its line, its source value its
drugs or procedures in alphabetical order; every episode has type 32880 (Standard algorithm) and
object concept 0 (no HemOnc regimen is matched). EPISODE_EVENT links a regimen to each drug
exposure (field concept 1147094) and procedure (1147082) it was read from.

An IMWG line (:mod:`mmsequence.lines`) is written as one line episode holding one regimen.

:func:`write_audit_episodes` writes the lines an audit folder holds; ``mmsequence audit
--write-episodes`` does it at the end of the audit. mmsequence's own rows hold episode ids from ``OWN_EPISODES`` (2,000,000,000) up, the block OMOP
leaves to local use for concepts; writing replaces exactly those rows (and their events) and never
touches a site's episodes, so a rerun gives the same table. Source values longer than the CDM's
50 characters are cut, ending in ``...``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..errors import InputError, MmsequenceError
from ..lines import LineReading
from . import standard
from .ohdsi_lines import OhdsiLine

OWN_EPISODES = 2_000_000_000
_LAST_ID = 2_147_483_647  # the CDM's integer
SOURCE_VALUE_LENGTH = 50
#: The derived-episode table an audit keeps per part (one row per line and per regimen).
COLUMNS = ("person_id", "line", "regimen", "start_date", "end_date", "source_value", "events")
EPISODE_COLUMNS = ("episode_id", "person_id", "episode_concept_id", "episode_start_date", "episode_start_datetime",
                   "episode_end_date", "episode_end_datetime", "episode_parent_id", "episode_number",
                   "episode_object_concept_id", "episode_type_concept_id", "episode_source_value",
                   "episode_source_concept_id")
EVENT_COLUMNS = ("episode_id", "event_id", "episode_event_field_concept_id")
_FIELDS = {"drug_exposure": standard.DRUG_EXPOSURE_ID_FIELD, "procedure_occurrence": standard.PROCEDURE_OCCURRENCE_ID_FIELD}


@attrs.frozen
class Span:
    """A line as the comparison reads it: its days and its drugs."""

    start: datetime.date
    end: datetime.date | None
    drugs: frozenset[str]
    text: str


def _labels(source: str, records: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return records.get(source, (source,))


def imwg_rows(person_id: int, reading: LineReading, records: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The derived-episode rows of an IMWG reading (``records``: every record label a source stands for)."""
    rows: list[dict[str, Any]] = []
    for line in reading.lines:
        if not line.counts:
            continue
        members = line.members
        start = line.start.earliest
        ends = [m.end.latest if m.end is not None else None for m in members]
        end = None if None in ends else max(e for e in ends if e is not None)
        names = sorted({_member_name(m.event.kind, m.event.name) for m in members})
        events = sorted({label for m in members for label in _labels(m.event.source, records)})
        name = ", ".join(names)
        for regimen in (0, 1):
            rows.append({"person_id": person_id, "line": line.number, "regimen": regimen, "start_date": start.isoformat(),
                         "end_date": None if end is None else end.isoformat(), "source_value": name,
                         "events": ";".join(events) if regimen else ""})
    return rows


def _member_name(kind: str, name: str) -> str:
    return {"t-cell-collection": "apheresis", "stem-cell-infusion": "stem cell transplant"}.get(kind, name)


def ohdsi_rows(person_id: int, lines: Sequence[OhdsiLine], records: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The derived-episode rows of lines read by the OHDSI logic."""
    rows: list[dict[str, Any]] = []
    for line in lines:
        rows.append({"person_id": person_id, "line": line.number, "regimen": 0, "start_date": line.start.isoformat(),
                     "end_date": line.end.isoformat(), "source_value": line.source_value, "events": ""})
        for k, r in enumerate(line.regimens, 1):
            events = sorted({label for s in r.sources for label in _labels(s, records)})
            rows.append({"person_id": person_id, "line": line.number, "regimen": k, "start_date": r.start.isoformat(),
                         "end_date": r.end.isoformat(), "source_value": r.name, "events": ";".join(events)})
    return rows


def _cut(text: str) -> str:
    return text if len(text) <= SOURCE_VALUE_LENGTH else text[: SOURCE_VALUE_LENGTH - 3] + "..."


def cdm_rows(derived: Iterable[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int]]]:
    """EPISODE and EPISODE_EVENT rows of derived-episode rows (in order of person, line, regimen),
    with ids from ``OWN_EPISODES``."""
    episodes: list[tuple[Any, ...]] = []
    events: list[tuple[int, int, int]] = []
    next_id = OWN_EPISODES
    parent = 0
    regimen_number: dict[int, int] = {}
    for row in derived:
        if next_id > _LAST_ID:
            raise MmsequenceError(f"more episodes than the {_LAST_ID - OWN_EPISODES + 1:,} ids mmsequence may use")
        episode_id, next_id = next_id, next_id + 1
        start = datetime.date.fromisoformat(row["start_date"])
        end = None if row["end_date"] is None else datetime.date.fromisoformat(row["end_date"])
        if row["regimen"] == 0:
            parent = episode_id
            concept, parent_id, number = standard.CANCER_DRUG_TREATMENT, None, row["line"]
        else:
            number = regimen_number[row["person_id"]] = regimen_number.get(row["person_id"], 0) + 1
            concept, parent_id = standard.TREATMENT_REGIMEN, parent
        episodes.append((episode_id, row["person_id"], concept, start, None, end, None, parent_id, number, 0,
                         standard.STANDARD_ALGORITHM, _cut(row["source_value"]), 0))
        for label in filter(None, row["events"].split(";")):
            table, _, record = label.partition("/")
            if table in _FIELDS:
                events.append((episode_id, int(record), _FIELDS[table]))
    return episodes, events


def read_derived(parts: Iterable[Path]) -> Iterator[dict[str, Any]]:
    from .tables import read_table

    for part in parts:
        yield from read_table(part)


# --- writing -----------------------------------------------------------------------------------

_DELETE = (f"DELETE FROM episode_event WHERE episode_id >= {OWN_EPISODES}",
           f"DELETE FROM episode WHERE episode_id >= {OWN_EPISODES}")


def write_episodes(target: str | Path, derived: Iterable[dict[str, Any]], url: bool = False) -> int:
    """Write derived-episode rows to a CDM: a DuckDB file, a Parquet folder (one folder per table,
    read by DuckDB or Spark) or, with ``url``, PostgreSQL; mmsequence's earlier rows are replaced.
    Returns the number of episodes written."""
    episodes, events = cdm_rows(derived)
    if url:
        _write_postgres(str(target), episodes, events)
    elif Path(target).is_dir():
        _write_parquet(Path(target), episodes, events)
    else:
        _write_duckdb(Path(target), episodes, events)
    return len(episodes)


def write_audit_episodes(audit: Path, target: str | Path, url: bool = False) -> int:
    """Write the lines an audit folder holds (``audit/episodes/``) to a CDM, as :func:`write_episodes`."""
    parts = sorted(p for p in (audit / "episodes").glob("part-*") if p.suffix in (".parquet", ".csv"))
    if not parts:
        raise InputError([f"{audit}: no episodes/part-* files (not an audit folder?)"])
    return write_episodes(target, read_derived(parts), url)


def _arrow(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column.endswith("_datetime"):
            return pa.timestamp("us")
        if column.endswith("_date"):
            return pa.date32()
        return pa.string() if column == "episode_source_value" else pa.int32()

    return pa.table({c: pa.array([r[i] for r in rows], type=kind(c)) for i, c in enumerate(columns)})


def _write_duckdb(path: Path, episodes: list[tuple[Any, ...]], events: list[tuple[int, int, int]]) -> None:
    import duckdb

    if not path.exists():
        raise InputError([f"--write-episodes: {path}: no such DuckDB file"])
    with duckdb.connect(str(path)) as db:
        _require_tables(db.execute("SELECT table_name FROM information_schema.tables").fetchall(), str(path))
        db.execute("BEGIN TRANSACTION")
        for statement in _DELETE:
            db.execute(statement)
        for table, columns, rows in (("episode", EPISODE_COLUMNS, episodes), ("episode_event", EVENT_COLUMNS, events)):
            db.register("mmsequence_rows", _arrow(columns, rows))
            db.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM mmsequence_rows")
            db.unregister("mmsequence_rows")
        db.execute("COMMIT")


def _require_tables(tables: Sequence[tuple[Any, ...]], where: str) -> None:
    names = {str(t[0]).lower() for t in tables}
    missing = [t for t in ("episode", "episode_event") if t not in names]
    if missing:
        raise InputError([f"--write-episodes: {where} has no {' or '.join(missing)} table (CDM v5.4 DDL:"
                          " create it with the official DDL first)"])


def _write_postgres(url: str, episodes: list[tuple[Any, ...]], events: list[tuple[int, int, int]]) -> None:
    import psycopg

    with psycopg.connect(url) as db:  # one transaction: all of the rows or none
        tables = db.execute(b"SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        _require_tables(tables.fetchall(), url.split("@")[-1])
        for statement in _DELETE:
            db.execute(statement.encode())
        with db.cursor() as cursor:
            for table, columns, rows in (("episode", EPISODE_COLUMNS, episodes), ("episode_event", EVENT_COLUMNS, events)):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()) as copy:
                    for row in rows:
                        copy.write_row(row)


#: The file that holds mmsequence's rows in each table folder of a Parquet CDM.
OWN_FILE = "mmsequence-episodes.parquet"


def _write_parquet(folder: Path, episodes: list[tuple[Any, ...]], events: list[tuple[int, int, int]]) -> None:
    import os

    import pyarrow.parquet as pq

    for table, columns, rows in (("episode", EPISODE_COLUMNS, episodes), ("episode_event", EVENT_COLUMNS, events)):
        (folder / table).mkdir(exist_ok=True)
        final = folder / table / OWN_FILE
        partial = final.with_name(f".{OWN_FILE}.partial")
        pq.write_table(_arrow(columns, rows), partial)
        os.replace(partial, final)


# --- reading a site's episodes -----------------------------------------------------------------

def require_episode_table(source: Any, lines: str) -> None:
    """An :class:`InputError` unless the CDM has an EPISODE table to read."""
    try:
        source.rows(f"SELECT COUNT(*) FROM episode WHERE episode_id < {OWN_EPISODES}")
    except Exception:  # each engine raises its own error for a missing table
        raise InputError([f"--lines {lines}: {source.label} has no episode table (CDM v5.4) to read the site's lines"
                          " from"]) from None


def site_lines_sql(persons: str, ordered: bool = True) -> str:
    """A site's line episodes (not mmsequence's) of the persons (``persons``: a list of ids, or a
    subquery): (person, number, start, end, source value), in order of person and start (unless
    ``ordered`` is false)."""
    return (f"SELECT person_id, episode_number, episode_start_date, episode_end_date, episode_source_value FROM episode"
            f" WHERE person_id IN ({persons}) AND episode_concept_id = {standard.CANCER_DRUG_TREATMENT}"
            f" AND episode_id < {OWN_EPISODES}" + (" ORDER BY person_id, episode_start_date, episode_number" if ordered else ""))


def site_spans(rows: Sequence[tuple[Any, ...]]) -> dict[int, list[Span]]:
    """The site's lines of each person, in order of start."""
    out: dict[int, list[Span]] = {}
    for person, _number, start, end, value in rows:
        text = str(value or "")
        drugs = frozenset(d.strip() for part in text.split(" then ") for d in part.split(",") if d.strip())
        out.setdefault(int(person), []).append(Span(_day(start), None if end is None else _day(end), drugs, text))
    return out


def _day(value: Any) -> datetime.date:
    day: datetime.date = value.date() if isinstance(value, datetime.datetime) else value
    return day


# --- comparing two readings --------------------------------------------------------------------

def imwg_spans(reading: LineReading) -> list[Span]:
    spans = []
    for line in reading.lines:
        if not line.counts:
            continue
        ends = [m.end.latest if m.end is not None else None for m in line.members]
        drugs = frozenset(m.event.name for m in line.members if m.event.kind in ("drug", "car-t-infusion"))
        spans.append(Span(line.start.earliest, None if None in ends else max(e for e in ends if e is not None),
                          drugs, ", ".join(sorted(drugs))))
    return spans


def ohdsi_spans(lines: Sequence[OhdsiLine]) -> list[Span]:
    return [Span(line.start, line.end, line.drugs, line.source_value) for line in lines]


def disagreements(imwg: Sequence[Span], other: Sequence[Span], visible: frozenset[str] | None = None,
                  reading: str = "the other reading") -> list[str]:
    """How two readings of one patient's lines differ (empty: identical); ``visible``: the drugs the
    other reading can see (an IMWG line holding none of them is invisible to it)."""
    kinds: list[str] = []
    shown = list(imwg)
    if visible is not None:
        shown = [s for s in imwg if s.drugs & visible]
        if len(shown) < len(imwg):
            kinds.append(f"an IMWG line holds no drug {reading} counts")
    if not other and shown:
        kinds.append(f"no line in {reading}")
    elif len(shown) != len(other):
        kinds.append(f"more lines in {reading}" if len(other) > len(shown) else f"fewer lines in {reading}")
    if len(shown) != len(other):
        return kinds
    if any(a.start != b.start for a, b in zip(shown, other)):
        kinds.append("a line starts on another day")
    if visible is not None and any((a.drugs & visible) != (b.drugs & visible) for a, b in zip(shown, other)):
        kinds.append("a line holds other drugs")
    return kinds
