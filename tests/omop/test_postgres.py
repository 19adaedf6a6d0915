"""The audit over a real PostgreSQL server gives the DuckDB file's decisions, on the same synthetic CDM, and reads a site's line episodes as
DuckDB does.

The server is required, never skipped: ``.ci/postgres`` starts one on loopback (Debian's package)
and prints its URL, which ``.ci/run`` passes as MMSEQUENCE_POSTGRES_URL.
"""

from __future__ import annotations

import os

import pytest

from mmsequence.errors import MmsequenceError
from mmsequence.omop import synthetic
from mmsequence.omop.audit import run_audit
from mmsequence.omop.episodes import OWN_EPISODES
from mmsequence.omop.sources import PostgresSource, open_source

from .conftest import (
    PATIENTS,
    POLICY,
    SITE_IDS,
    compared_lines,
    decisions,
    site_lines,
    table,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def url(cdm) -> str:
    url = os.environ.get("MMSEQUENCE_POSTGRES_URL")
    if not url:
        pytest.fail("the PostgreSQL tests need a server: run `bash .ci/postgres` (as root; it installs and starts"
                    " Debian's postgresql on loopback) and set MMSEQUENCE_POSTGRES_URL to the URL it prints; or deselect"
                    " them: -m 'not postgres'",
                    pytrace=False)
    assert synthetic.write_postgres(url, PATIENTS) == cdm.expected
    return url


def test_postgres_gives_the_same_decisions_and_aggregates(url, reference, tmp_path):
    source = open_source(url=url)
    try:
        run_audit(source, tmp_path / "audit", POLICY, "parquet", batch=64)
    finally:
        source.close()
    assert decisions(tmp_path / "audit") == decisions(reference)
    for name in ("by_year", "by_therapy", "by_rule", "unmapped"):
        assert table(tmp_path / "audit", name) == table(reference, name)


def test_a_server_that_cannot_be_reached_is_an_error_without_credentials(url):
    wrong = url.replace(":55432/", ":1/") if ":55432/" in url else url + "-missing"
    with pytest.raises(MmsequenceError) as raised:
        PostgresSource(wrong)
    assert "cannot connect to PostgreSQL" in str(raised.value)
    assert "mmsequence:mmsequence@" not in str(raised.value)


def test_postgres_writes_and_reads_the_same_episodes_as_duckdb(url, duckdb_episodes, tmp_path):
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:  # a site's own line episode, kept by every rerun
        db.execute(b"DELETE FROM episode WHERE episode_id = 17")
        db.execute(b"INSERT INTO episode VALUES (17, 1, 32941, '2017-01-01', NULL, '2017-06-01', NULL, NULL, 1, 0,"
                   b" 32880, 'site line', 0)")
    for attempt in ("first", "second"):
        source = open_source(url=url)
        try:
            run = run_audit(source, tmp_path / attempt, POLICY, "parquet", batch=64, write_episodes=True)
        finally:
            source.close()
        assert run.episodes == len(duckdb_episodes[0])
    with psycopg.connect(url) as db:
        episodes = db.execute(b"SELECT * FROM episode WHERE episode_id <> 17 ORDER BY episode_id").fetchall()
        events = db.execute(b"SELECT * FROM episode_event ORDER BY episode_id, event_id, episode_event_field_concept_id").fetchall()
        site = db.execute(b"SELECT episode_source_value FROM episode WHERE episode_id = 17").fetchall()
    assert (episodes, events) == duckdb_episodes and site == [("site line",)]
    # read back: the site's line (ids below mmsequence's) is compared with the IMWG lines
    source = open_source(url=url)
    try:
        run_audit(source, tmp_path / "both", POLICY, "csv", batch=64, lines="both")
    finally:
        source.close()
    compared = [r for r in table(tmp_path / "both", "lines_compared") if r["reading"] == "site EPISODE"]
    assert compared[0]["kind"] == "identical lines" and compared[0]["persons"] == 0
    assert {r["kind"] for r in compared} >= {"fewer lines in the site EPISODE reading", "no line in the site EPISODE reading"}


@pytest.mark.parametrize("lines", ["site", "both"])
def test_postgres_reads_the_sites_line_episodes_as_duckdb_does(url, duckdb_episodes, site_reference, lines, tmp_path):
    import psycopg

    rows = site_lines(duckdb_episodes[0])
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DELETE FROM episode WHERE episode_id < {OWN_EPISODES}".encode())  # only these site lines
        with db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO episode VALUES ({', '.join(['%s'] * len(rows[0]))})".encode(), rows)
    source = open_source(url=url)
    try:
        run_audit(source, tmp_path / "audit", POLICY, "parquet", batch=64, lines=lines)
    finally:
        source.close()
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DELETE FROM episode WHERE episode_id >= {SITE_IDS} AND episode_id < {OWN_EPISODES}".encode())
    assert decisions(tmp_path / "audit") == decisions(site_reference[lines])
    assert compared_lines(tmp_path / "audit") == compared_lines(site_reference[lines])
