"""Where the CDM lives: a DuckDB file, a folder of Parquet files (one per table), or PostgreSQL.

Each source runs the SQL of :mod:`mmsequence.omop.sql` and returns plain rows; the cohort is
read page by page (``batch`` persons at a time), so memory follows the batch, not the cohort.
The Spark job (:mod:`mmsequence.omop.spark`) reads the same tables with Spark SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, MmsequenceError
from . import sql
from .chart import PersonRecords, Row
from .episodes import Span, site_lines_sql, site_spans
from .mapping import OmopMapping
from .vocabulary import Ingredient, Vocabulary


class Source(Protocol):
    """A CDM that answers SQL with rows (``rows_of_each``: several independent queries, side by
    side where the engine can); ``where`` reopens it (in a worker process)."""

    dialect: sql.Dialect
    label: str
    where: tuple[str | None, str | None]

    def rows(self, query: str) -> Sequence[tuple[Any, ...]]: ...

    def rows_of_each(self, queries: Sequence[str]) -> list[Sequence[tuple[Any, ...]]]:
        return [self.rows(query) for query in queries]

    def close(self) -> None: ...


class DuckDBSource(Source):
    """A DuckDB database file (read only), or a folder of Parquet files read through DuckDB views."""

    dialect = sql.DUCKDB

    def __init__(self, path: Path) -> None:
        import duckdb

        self.label = str(path)
        self.where: tuple[str | None, str | None] = (str(path), None)
        if path.is_dir():
            self._db = duckdb.connect()
            for table in sql.CDM_TABLES:
                files = [p for p in (path / table, path / f"{table}.parquet") if p.exists()]
                if not files:
                    raise InputError([f"{path}: no Parquet files for the CDM table {table} ({table}/ or {table}.parquet)"])
                pattern = str(files[0] / "*.parquet") if files[0].is_dir() else str(files[0])
                self._db.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{_quoted(pattern)}')")
            for table in sql.EPISODE_TABLES:  # where the site has them
                if list((path / table).glob("*.parquet")):
                    pattern = str(path / table / "*.parquet")
                    self._db.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{_quoted(pattern)}')")
        elif path.exists():
            self._db = duckdb.connect(str(path), read_only=True)
        else:
            raise InputError([f"--db: {path}: no such DuckDB file or Parquet folder"])

    def rows(self, query: str) -> Sequence[tuple[Any, ...]]:
        return self._db.execute(query).fetchall()

    def close(self) -> None:
        self._db.close()


class PostgresSource(Source):
    """A PostgreSQL database by URL (``postgresql://user@host:port/db``), through psycopg."""

    dialect = sql.POSTGRES

    def __init__(self, url: str) -> None:
        import psycopg

        self.label = url.split("@")[-1]  # no credentials in the output
        self.where: tuple[str | None, str | None] = (None, url)
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as error:
            raise MmsequenceError(f"--url: cannot connect to PostgreSQL at {self.label}: {error}") from None

    def rows(self, query: str) -> Sequence[tuple[Any, ...]]:
        with self._db.cursor() as cursor:
            cursor.execute(query.encode())
            return cursor.fetchall()

    def close(self) -> None:
        self._db.close()


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def open_source(db: str | None = None, url: str | None = None) -> Source:
    """The CDM named by ``--db`` (a DuckDB file or Parquet folder) or ``--url`` (PostgreSQL)."""
    if (db is None) == (url is None):
        raise InputError(["audit: give the CDM as --db (a DuckDB file or a Parquet folder) or --url (PostgreSQL)"])
    if url is not None:
        return PostgresSource(url)
    return DuckDBSource(Path(str(db)))


def read_vocabulary(source: Source, mapping: OmopMapping) -> Vocabulary:
    """The drug concepts' ingredients (with their ATC classes), drug names and the myeloma concepts."""
    atc_rows, ingredient_rows, name_rows, myeloma_rows = source.rows_of_each(
        [sql.atc_sql(mapping), sql.ingredients_sql(mapping), sql.DRUG_NAMES_SQL, sql.myeloma_sql(mapping)])
    atc: dict[int, list[str]] = {}
    for ingredient_id, code in atc_rows:
        atc.setdefault(int(ingredient_id), []).append(str(code))
    ingredients: dict[int, list[Ingredient]] = {}
    for drug, iid, name, vocabulary, code in sorted(ingredient_rows, key=lambda r: (r[0], r[1])):
        ingredients.setdefault(int(drug), []).append(
            Ingredient(int(iid), str(name), str(vocabulary), str(code), tuple(sorted(set(atc.get(int(iid), ()))))))
    names = {int(cid): str(name) for cid, name in name_rows}
    myeloma = frozenset(int(r[0]) for r in myeloma_rows) | mapping.myeloma
    return Vocabulary({k: tuple(v) for k, v in ingredients.items()}, names, myeloma)


def cohort_pages(source: Source, vocabulary: Vocabulary, batch: int, after: int | None = None) -> Iterator[list[int]]:
    """The cohort's person ids, ``batch`` at a time, in order, from after ``after``."""
    while True:
        persons = [int(r[0]) for r in source.rows(sql.cohort_sql(vocabulary.myeloma, after, batch))]
        if not persons:
            return
        yield persons
        after = persons[-1]


def read_site_lines(source: Source, persons: list[int]) -> dict[int, list[Span]]:
    """The site's own line episodes of these persons (not mmsequence's), in order of start."""
    return site_spans(source.rows(site_lines_sql(sql.ids(persons))))


def read_persons(source: Source, persons: list[int], mapping: OmopMapping, vocabulary: Vocabulary) -> list[PersonRecords]:
    """Every record of these persons that the chart reads, and the count of the others, one
    PersonRecords each, in the order given."""
    people = sql.ids(persons)
    found: dict[int, list[Row]] = {p: [] for p in persons}
    for r in source.rows(sql.records_sql(source.dialect, people, mapping.read, vocabulary.myeloma)):
        found[r[0]].append(Row._make(r[1:]))
    counted: dict[int, list[tuple[str, int, int]]] = {p: [] for p in persons}
    for person, domain, concept, records in source.rows(sql.unmapped_sql(people, mapping.read, vocabulary.myeloma)):
        counted[int(person)].append((str(domain), int(concept), int(records)))
    return [PersonRecords(p, tuple(found[p]), tuple(counted[p])) for p in persons]


def concept_names(source: Source, concepts: list[int]) -> dict[int, tuple[str, str]]:
    """(name, vocabulary) of each concept, in pages of 1,000."""
    names: dict[int, tuple[str, str]] = {}
    for i in range(0, len(concepts), 1000):
        for cid, name, vocabulary in source.rows(sql.concept_names_sql(concepts[i:i + 1000])):
            names[int(cid)] = (str(name), str(vocabulary))
    return names
