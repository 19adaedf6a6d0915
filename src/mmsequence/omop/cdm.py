"""The official OMOP CDM v5.4 DDL (``ddl/``, from ``OHDSI/CommonDataModel``; see ``ddl/SOURCE.md``):
its statements for DuckDB and PostgreSQL, and its tables' columns for writers that need a schema
(Parquet, Spark)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import attrs

DIALECTS = ("duckdb", "postgresql")
_PLACEHOLDER = "@cdmDatabaseSchema."
_TABLE = re.compile(r"CREATE TABLE @cdmDatabaseSchema\.(\w+) \((.*?)\);", re.S)
_COLUMN = re.compile(r"^\s*\"?(\w+)\"? (.+?) (NOT NULL|NULL)\s*,?\s*$")


@attrs.frozen
class Column:
    name: str
    type: str  # as the DDL spells it: integer, date, TIMESTAMP, varchar(50), TEXT, NUMERIC, float...
    required: bool


def ddl_path(dialect: str) -> Path:
    return Path(__file__).with_name("ddl") / f"OMOPCDM_{dialect}_5.4_ddl.sql"


def statements(dialect: str, schema: str | None = None) -> list[str]:
    """The CREATE TABLE statements of the dialect's DDL, in the given schema (None: the default one)."""
    text = ddl_path(dialect).read_text(encoding="utf-8").replace(_PLACEHOLDER, f"{schema}." if schema else "")
    return [s.strip() + ";" for s in re.findall(r"CREATE TABLE .*?\);", text, re.S)]


@functools.cache
def tables(dialect: str = "duckdb") -> dict[str, tuple[Column, ...]]:
    """Every table of the DDL with its columns in order."""
    text = ddl_path(dialect).read_text(encoding="utf-8")
    out = {}
    for name, body in _TABLE.findall(text):
        columns = []
        for line in body.splitlines():
            found = _COLUMN.match(line)
            if found:
                columns.append(Column(found[1], found[2], found[3] == "NOT NULL"))
        out[name] = tuple(columns)
    return out
