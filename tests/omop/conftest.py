"""One synthetic CDM for every OMOP test (a DuckDB file and the same tables as Parquet folders),
its expected decisions, and the audit of the DuckDB file that every other engine must equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


#: The first episode id of the site's line episodes the tests make (below mmsequence's own).
SITE_IDS = 1000


def site_lines(written: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """A site's line episodes made from the line episodes mmsequence writes (EPISODE rows): ids
    from SITE_IDS; every even person's first two lines merged (its second line left out); every
    fifth person without any."""
    from mmsequence.omop import standard
    from mmsequence.omop.episodes import OWN_EPISODES

    return [(e[0] - OWN_EPISODES + SITE_IDS, *e[1:]) for e in written
            if e[2] == standard.CANCER_DRUG_TREATMENT and e[1] % 5 and not (e[1] % 2 == 0 and e[8] == 2)]


@pytest.fixture(scope="session")
def site_cdm(cdm: Cdm, duckdb_episodes: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Parquet CDM with the site's line episodes (``episode/site.parquet``) and mmsequence's
    own (``episode/mmsequence-episodes.parquet``, which a site reading leaves out)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmsequence.omop.episodes import OWN_FILE

    folder = tmp_path_factory.mktemp("site-cdm") / "parquet"
    shutil.copytree(cdm.parquet, folder)
    schema = pq.read_schema(folder / "episode" / "part-00000.parquet")
    for name, rows in (("site.parquet", site_lines(duckdb_episodes[0])), (OWN_FILE, duckdb_episodes[0])):
        pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema),
                       folder / "episode" / name)
    return folder


@pytest.fixture(scope="session")
def site_reference(site_cdm: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The audits of the site's Parquet CDM by DuckDB, with ``lines`` ``site`` and ``both``."""
    out = {}
    for lines in ("site", "both"):
        out[lines] = tmp_path_factory.mktemp(f"site-reference-{lines}") / "audit"
        source = DuckDBSource(site_cdm)
        try:
            run_audit(source, out[lines], POLICY, "parquet", batch=64, lines=lines)
        finally:
            source.close()
    return out


def compared_lines(out: Path) -> list[dict[str, Any]]:
    """Every per-person comparison row of an audit folder (``lines/``), in order of person and reading."""
    rows = [row for part in sorted((out / "lines").glob("part-*")) for row in read_table(part)]
    return sorted(rows, key=lambda r: (r["person_id"], r["reading"]))
