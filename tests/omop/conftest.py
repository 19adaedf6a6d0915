"""One synthetic CDM for every OMOP test (a DuckDB file and the same tables as Parquet folders),
its expected decisions, and the audit of the DuckDB file that every other engine must equal."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from mmsequence.omop import synthetic
from mmsequence.omop.audit import run_audit
from mmsequence.omop.sources import DuckDBSource
from mmsequence.omop.tables import read_table

PATIENTS = 200
POLICY = str(synthetic.synthetic_policy_path())


@attrs.frozen
class Cdm:
    duckdb: Path
    parquet: Path
    expected: list[synthetic.ExpectedDecision]


@pytest.fixture(scope="session")
def cdm(tmp_path_factory: pytest.TempPathFactory) -> Cdm:
    folder = tmp_path_factory.mktemp("cdm")
    expected = synthetic.write_duckdb(folder / "cdm.duckdb", PATIENTS)
    assert synthetic.write_parquet(folder / "parquet", PATIENTS) == expected
    return Cdm(folder / "cdm.duckdb", folder / "parquet", expected)


@pytest.fixture(scope="session")
def reference(cdm: Cdm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit of the DuckDB file, as CSV."""
    out = tmp_path_factory.mktemp("reference") / "audit"
    run_audit(DuckDBSource(cdm.duckdb), out, POLICY, "csv", batch=64)
    return out


def decisions(out: Path) -> list[dict]:
    """Every decision row of an audit folder, in order of person, day and therapy."""
    rows = [row for part in sorted((out / "decisions").glob("part-*")) for row in read_table(part)]
    return sorted(rows, key=lambda r: (r["person_id"], r["decision_date"], r["therapy"]))


def table(out: Path, name: str) -> list[dict]:
    (path,) = [p for p in out.glob(f"{name}.*") if p.suffix in (".csv", ".parquet")]
    return list(read_table(path))


@pytest.fixture(scope="session")
def duckdb_episodes(cdm: Cdm, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], list[tuple]]:
    """The EPISODE and EPISODE_EVENT rows the audit writes to a copy of the DuckDB file: every
    other engine must write the same."""
    import shutil

    import duckdb

    path = tmp_path_factory.mktemp("episodes-duckdb") / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    source = DuckDBSource(path)
    try:
        run_audit(source, path.parent / "audit", POLICY, "csv", batch=64, write_episodes=True)
    finally:
        source.close()
    with duckdb.connect(str(path), read_only=True) as db:
        return (db.execute("SELECT * FROM episode ORDER BY episode_id").fetchall(),
                db.execute("SELECT * FROM episode_event ORDER BY episode_id, event_id, episode_event_field_concept_id").fetchall())
