"""The audit as a PySpark job in local mode (two executors' worth of cores), and with spark-submit,
gives the DuckDB file's decisions on the same synthetic CDM, and reads a site's line episodes as
DuckDB does. Java comes from Debian's packages
(``.ci/run`` installs openjdk-17-jre-headless when java is missing); never skipped."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mmsequence.errors import InputError
from mmsequence.omop.spark import local_session, run_spark_audit

from .conftest import POLICY, compared_lines, decisions, table

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("the Spark tests need Java: apt-get install openjdk-17-jre-headless (.ci/run installs it);"
                    " or deselect them: -m 'not spark'", pytrace=False)
    if importlib.util.find_spec("pyspark") is None:
        pytest.fail("the Spark tests need the spark extra: pip install '.[test,spark]' (.ci/run installs it);"
                    " or deselect them: -m 'not spark'", pytrace=False)
    session = local_session("local[2]")
    yield session
    session.stop()


def test_spark_local_mode_gives_the_same_decisions_and_aggregates(spark, cdm, reference, tmp_path):
    run = run_spark_audit(spark, str(cdm.parquet), tmp_path / "audit", POLICY, "parquet", partitions=3)
    assert run.decisions == len(decisions(reference)) and run.diagnostics == () and run.episodes is None
    assert decisions(tmp_path / "audit") == decisions(reference)
    for name in ("by_year", "by_therapy", "by_rule", "unmapped", "lines_compared"):
        assert table(tmp_path / "audit", name) == table(reference, name)
    assert (tmp_path / "audit" / "summary.html").read_text().replace(str(cdm.parquet), "CDM") == \
        (reference / "summary.html").read_text().replace(str(cdm.duckdb), "CDM")


def test_spark_submit_runs_the_job_writes_csv_and_the_episodes(spark, cdm, reference, duckdb_episodes, tmp_path):
    folder = tmp_path / "cdm"
    shutil.copytree(cdm.parquet, folder)
    submit = Path(sys.executable).with_name("spark-submit")
    launcher = subprocess.run([sys.executable, "-m", "mmsequence.omop.spark", "--path"], capture_output=True,
                              text=True, check=True).stdout.strip()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run([str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false", launcher,
                           "--cdm", str(folder), "--policy", POLICY, "--out", str(tmp_path / "audit"),
                           "--format", "csv", "--write-episodes"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr  # spark-submit relays the driver's stderr
    assert "decisions written to" in said
    assert f"{len(duckdb_episodes[0])} episodes (lines of therapy and regimens) written to {folder}" in said
    assert decisions(tmp_path / "audit") == decisions(reference)
    episodes = [tuple(r) for r in spark.sql(f"SELECT * FROM parquet.`{folder}/episode` ORDER BY episode_id").collect()]
    assert episodes == duckdb_episodes[0]


def test_spark_submit_refuses_to_write_episodes_to_a_cdm_off_the_driver(tmp_path, capsys):
    from mmsequence.omop.spark import main

    with pytest.raises(SystemExit) as stopped:
        main(["--cdm", "hdfs:///cdm", "--out", str(tmp_path / "audit"), "--write-episodes"])
    assert stopped.value.code == 2
    assert "--write-episodes: --cdm hdfs:///cdm is not a folder on the driver's file system" in capsys.readouterr().err
    assert not (tmp_path / "audit").exists()


def test_spark_writes_and_reads_the_same_episodes_as_duckdb(spark, cdm, duckdb_episodes, tmp_path):
    folder = tmp_path / "cdm"
    shutil.copytree(cdm.parquet, folder)
    for attempt in ("first", "second"):  # a rerun replaces its own file
        run = run_spark_audit(spark, str(folder), tmp_path / attempt, POLICY, "parquet", partitions=3,
                              write_episodes=True)
        assert run.episodes == len(duckdb_episodes[0])
    episodes = [tuple(r) for r in spark.sql(f"SELECT * FROM parquet.`{folder}/episode` ORDER BY episode_id").collect()]
    events = [tuple(r) for r in spark.sql(f"SELECT * FROM parquet.`{folder}/episode_event`"
                                          " ORDER BY episode_id, event_id, episode_event_field_concept_id").collect()]
    assert (episodes, events) == duckdb_episodes


@pytest.mark.parametrize("lines", ["site", "both"])
def test_spark_reads_the_sites_line_episodes_as_duckdb_does(spark, site_cdm, site_reference, reference, lines, tmp_path):
    """The same Parquet CDM (site lines, and mmsequence's own rows the reading leaves out) gives
    the same decisions and per-person comparisons on Spark as on DuckDB."""
    duck = site_reference[lines]
    run = run_spark_audit(spark, str(site_cdm), tmp_path / "audit", POLICY, "parquet", partitions=3, lines=lines)
    assert run.decisions == len(decisions(duck)) and run.diagnostics == ()
    assert decisions(tmp_path / "audit") == decisions(duck)
    assert compared_lines(tmp_path / "audit") == compared_lines(duck)
    for name in ("by_rule", "by_therapy", "lines_compared"):
        assert table(tmp_path / "audit", name) == table(duck, name)
    # the site's reading differs where it was made to: merged lines, persons without any
    kinds = Counter(r["kinds"] for r in compared_lines(duck) if r["reading"] == "site EPISODE")
    assert kinds[""] > 20 and kinds["no line in the site EPISODE reading"] > 10
    assert kinds["fewer lines in the site EPISODE reading"] > 10
    if lines == "both":  # the decisions stay on the IMWG lines
        assert decisions(duck) == decisions(reference)
    else:
        assert decisions(duck) != decisions(reference)
        # a person without site lines is read by IMWG, with one warning more
        unread = [r for r in decisions(duck) if r["person_id"] % 5 == 0]
        assert unread and [{**r, "warnings": r["warnings"] - 1} for r in unread] == \
            [r for r in decisions(reference) if r["person_id"] % 5 == 0]


def test_spark_site_lines_without_an_episode_folder_is_an_error(spark, cdm, tmp_path):
    folder = tmp_path / "cdm"
    shutil.copytree(cdm.parquet, folder, ignore=shutil.ignore_patterns("episode", "episode_event"))
    with pytest.raises(InputError, match=r"--lines site: .* has no episode table"):
        run_spark_audit(spark, str(folder), tmp_path / "audit", POLICY, "parquet", lines="site")
