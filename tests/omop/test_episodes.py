"""Lines of therapy as EPISODE and EPISODE_EVENT rows: written by the audit to a CDM made with the
official v5.4 DDL, replacing only mmsequence's rows on a rerun; a site's own line episodes read
back and compared (``lines="both"``); and the audit's diagnostics when its numbers would be zero."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mmsequence.omop import cdm as ddl
from mmsequence.omop import standard, synthetic
from mmsequence.omop.audit import AuditRun, run_audit
from mmsequence.omop.episodes import OWN_EPISODES
from mmsequence.omop.sources import DuckDBSource
from mmsequence.omop.tables import read_table

from .conftest import POLICY, decisions, table

SITE_LINE = (17, 1, standard.CANCER_DRUG_TREATMENT, "2017-01-01", None, "2017-06-01", None, None, 1, 0,
             standard.STANDARD_ALGORITHM, "site line", 0)

EPISODES_SQL = "SELECT * FROM episode ORDER BY episode_id"
EVENTS_SQL = "SELECT * FROM episode_event ORDER BY episode_id, event_id, episode_event_field_concept_id"


def episode_rows(path: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as db:
        return db.execute(EPISODES_SQL).fetchall(), db.execute(EVENTS_SQL).fetchall()


def _audit(path: Path, out: Path, **options: Any) -> AuditRun:
    source = DuckDBSource(path)
    try:
        return run_audit(source, out, POLICY, "csv", batch=64, **options)
    finally:
        source.close()


@pytest.fixture(scope="module")
def written(cdm, tmp_path_factory) -> Path:
    """A copy of the synthetic CDM with one site line episode, then the audit's episodes written twice."""
    path = tmp_path_factory.mktemp("episodes") / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    with duckdb.connect(str(path)) as db:
        db.execute(f"INSERT INTO episode VALUES ({', '.join('?' * len(SITE_LINE))})", SITE_LINE)
        db.execute("INSERT INTO episode_event VALUES (17, 1001, 1147094)")
    run = _audit(path, path.parent / "first", write_episodes=True)
    assert run.episodes and run.episodes > 500
    return path


def test_the_synthetic_cdm_is_the_official_ddl_with_every_required_column_filled(cdm):
    with duckdb.connect(str(cdm.duckdb), read_only=True) as db:
        tables = {name: dict(db.execute(f"SELECT column_name, is_nullable FROM information_schema.columns"
                                        f" WHERE table_name = '{name}'").fetchall()) for name in ddl.tables()}
        for name, columns in ddl.tables().items():
            assert list(tables[name]) == [c.name for c in columns], name
            rows = db.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for column in columns:
                if column.required:
                    assert tables[name][column.name] == "NO"
                    nulls = db.execute(f"SELECT count(*) FROM {name} WHERE {column.name} IS NULL").fetchone()[0]
                    assert nulls == 0, (name, column.name, rows)
        # real type, gender, race and ethnicity concepts, each in the concept table
        used = {r[0] for r in db.execute(
            "SELECT gender_concept_id FROM person UNION SELECT race_concept_id FROM person"
            " UNION SELECT ethnicity_concept_id FROM person UNION SELECT drug_type_concept_id FROM drug_exposure"
            " UNION SELECT condition_type_concept_id FROM condition_occurrence"
            " UNION SELECT period_type_concept_id FROM observation_period").fetchall()}
        known = {r[0] for r in db.execute("SELECT concept_id FROM concept").fetchall()}
        assert 0 not in used and used <= known
        assert {standard.EHR, standard.EHR_ADMINISTRATION, standard.MALE, standard.FEMALE} <= used
        # nothing after the observation end
        last = db.execute("SELECT max(d) FROM (SELECT max(drug_exposure_end_date) d FROM drug_exposure UNION ALL"
                          " SELECT max(observation_date) FROM observation UNION ALL"
                          " SELECT max(procedure_date) FROM procedure_occurrence)").fetchone()[0]
        ends = db.execute("SELECT DISTINCT observation_period_end_date FROM observation_period").fetchall()
        assert last <= synthetic.CDM_END and ends == [(synthetic.CDM_END,)]
    assert max(e.day for e in cdm.expected) <= synthetic.CDM_END


def test_episodes_follow_the_ohdsi_conventions(written):
    episodes, events = episode_rows(written)
    ours = [e for e in episodes if e[0] >= OWN_EPISODES]
    lines = {e[0]: e for e in ours if e[2] == standard.CANCER_DRUG_TREATMENT}
    regimens = [e for e in ours if e[2] == standard.TREATMENT_REGIMEN]
    assert lines and len(regimens) == len(lines)
    assert {e[10] for e in ours} == {standard.STANDARD_ALGORITHM} and {e[9] for e in ours} == {0}
    for regimen in regimens:
        line = lines[regimen[7]]  # the parent is a line of the same person, same days
        assert (line[1], line[3], line[5]) == (regimen[1], regimen[3], regimen[5])
    assert all(len(e[11]) <= 50 for e in ours)
    # line numbers per person: 1, 2, 3 ... in order of start
    by_person: dict[int, list[tuple]] = {}
    for line in sorted(lines.values(), key=lambda e: (e[1], e[3])):
        by_person.setdefault(line[1], []).append(line)
    assert all([e[8] for e in ls] == list(range(1, len(ls) + 1)) for ls in by_person.values())
    # every event is a drug exposure or procedure of the same person
    with duckdb.connect(str(written), read_only=True) as db:
        drugs = dict(db.execute("SELECT drug_exposure_id, person_id FROM drug_exposure").fetchall())
        procedures = dict(db.execute("SELECT procedure_occurrence_id, person_id FROM procedure_occurrence").fetchall())
    person = {e[0]: e[1] for e in ours}
    fields = Counter(field for _, _, field in events)
    assert fields[standard.DRUG_EXPOSURE_ID_FIELD] > 1000 and fields[standard.PROCEDURE_OCCURRENCE_ID_FIELD] > 10
    for episode_id, event_id, field in events:
        if episode_id >= OWN_EPISODES:
            table = drugs if field == standard.DRUG_EXPOSURE_ID_FIELD else procedures
            assert table[event_id] == person[episode_id]


def test_a_rerun_replaces_its_own_rows_and_never_the_sites(written):
    before = episode_rows(written)
    assert (17, *SITE_LINE[1:]) in [tuple(str(v) if hasattr(v, "isoformat") else v for v in e) for e in before[0]]
    _audit(written, written.parent / "second", write_episodes=True)
    assert episode_rows(written) == before
    assert (17, 1001, 1147094) in before[1]


def test_the_site_lines_are_read_and_compared(written, tmp_path):
    """Person 1's site line episode is read (ids below mmsequence's), not mmsequence's own rows."""
    out = tmp_path / "both"
    _audit(written, out, lines="both")
    rows = [r for part in sorted((out / "lines").glob("part-*")) for r in read_table(part)]
    site = {r["person_id"]: r for r in rows if r["reading"] == "site EPISODE"}
    assert site[1]["other_lines"] == 1 and site[1]["other"] == "2017-01-01 site line"
    assert not site[1]["identical"] and "fewer lines in the site EPISODE reading" in site[1]["kinds"]
    assert all(r["kinds"] == "no line in the site EPISODE reading" for p, r in site.items() if p != 1)
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert "site EPISODE" in summary and "Lines of therapy, read two ways" in summary


def test_lines_both_without_an_episode_table_is_an_error(tmp_path):
    path = tmp_path / "bare.duckdb"
    with duckdb.connect(str(path)) as db:
        for table in ("concept", "concept_ancestor", "condition_occurrence", "drug_exposure", "procedure_occurrence",
                      "observation", "measurement"):
            db.execute(next(s for s in ddl.statements("duckdb") if f"TABLE {table} (" in s))
    from mmsequence.errors import InputError

    with pytest.raises(InputError, match=r"--lines both: .* has no episode table"):
        _audit(path, tmp_path / "out", lines="both")


def test_the_parquet_folder_gets_its_own_episode_file(cdm, tmp_path):
    folder = tmp_path / "parquet"
    shutil.copytree(cdm.parquet, folder)
    for _ in range(2):
        run = _audit(folder, tmp_path / f"audit{_}", write_episodes=True)
    assert sorted(p.name for p in (folder / "episode").iterdir()) == ["mmsequence-episodes.parquet", "part-00000.parquet"]
    with duckdb.connect() as db:
        count = db.execute(f"SELECT count(*) FROM read_parquet('{folder}/episode/*.parquet')").fetchone()[0]
    assert count == run.episodes


# --- diagnostics ------------------------------------------------------------------------------

def _emptied(cdm, tmp_path, statement: str) -> Path:
    path = tmp_path / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    with duckdb.connect(str(path)) as db:
        db.execute(statement)
    return path


def test_a_cohort_that_matches_nobody_says_why(cdm, tmp_path):
    path = _emptied(cdm, tmp_path, f"DELETE FROM condition_occurrence WHERE condition_concept_id IN"
                                   f" ({synthetic.MYELOMA}, {synthetic.MYELOMA_RELAPSE})")
    run = _audit(path, tmp_path / "out")
    (finding,) = run.diagnostics
    assert finding.startswith("nobody matched the cohort: the myeloma concepts are 437233 (the default")
    assert "no condition_occurrence records one of them" in finding
    page = (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")
    assert "nobody matched the cohort" in page and "No decision was assessed" in page


def test_an_empty_concept_ancestor_and_unknown_drugs_are_reported_on_stderr(cdm, tmp_path):
    path = _emptied(cdm, tmp_path, "DELETE FROM concept_ancestor")
    done = subprocess.run([sys.executable, "-m", "mmsequence.cli", "audit", "--db", str(path), "--policy", POLICY,
                           "--out", str(tmp_path / "out"), "--format", "csv"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "warning: concept_ancestor is empty" in done.stderr
    assert "are kept as unknown agents" in done.stderr  # no drug has an ingredient any more
    assert sum(r["concordance"] == "indeterminate" for r in decisions(tmp_path / "out")) == len(decisions(tmp_path / "out"))


def test_a_healthy_audit_has_no_diagnostic(reference):
    page = (reference / "summary.html").read_text(encoding="utf-8")
    assert "role='alert'" not in page
    compared = table(reference, "lines_compared")
    assert compared[0]["kind"] == "identical lines" and 0.4 < compared[0]["share_identical"] < 0.9


def test_decisions_on_the_sites_lines_equal_the_imwg_ones_when_the_site_holds_the_imwg_lines(cdm, reference, tmp_path):
    """mmsequence's own episodes, renumbered into the site's ids, read back as the site's lines."""
    path = tmp_path / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    _audit(path, tmp_path / "written", write_episodes=True)
    with duckdb.connect(str(path)) as db:
        db.execute(f"UPDATE episode SET episode_id = episode_id - {OWN_EPISODES} + 1,"
                   f" episode_parent_id = episode_parent_id - {OWN_EPISODES} + 1")
    out = tmp_path / "site"
    _audit(path, out, lines="site")
    assert decisions(out) == decisions(reference)
    compared = [r for r in table(out, "lines_compared") if r["reading"] == "site EPISODE"]
    assert compared[0]["kind"] == "identical lines" and compared[0]["share_identical"] == 1.0
    # the site merges each person's first two lines: every later decision is one line earlier
    with duckdb.connect(str(path)) as db:
        db.execute("DELETE FROM episode WHERE episode_concept_id = 32941 AND episode_number = 2")
    _audit(path, tmp_path / "merged", lines="site")
    merged, imwg = decisions(tmp_path / "merged"), decisions(reference)
    assert [r["line"] for r in merged] == [r["line"] - 1 for r in imwg]


def test_an_audit_folders_lines_are_written_by_the_function_as_by_the_command(cdm, duckdb_episodes, reference, tmp_path):
    from mmsequence.errors import InputError
    from mmsequence.omop.episodes import write_audit_episodes

    path = tmp_path / "cdm.duckdb"
    shutil.copy(cdm.duckdb, path)
    assert write_audit_episodes(reference, path) == len(duckdb_episodes[0])
    assert episode_rows(path) == duckdb_episodes
    with pytest.raises(InputError, match="no episodes/part-"):
        write_audit_episodes(tmp_path, path)
