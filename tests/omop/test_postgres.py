"""The audit over a real PostgreSQL server gives the DuckDB file's decisions, on the same synthetic CDM.

The server is required, never skipped: ``.ci/postgres`` starts one on loopback (Debian's package)
and prints its URL, which ``.ci/run`` passes as MMSEQUENCE_POSTGRES_URL.
"""

from __future__ import annotations

import os

import pytest

from mmsequence.errors import MmsequenceError
from mmsequence.omop import synthetic
from mmsequence.omop.audit import run_audit
from mmsequence.omop.sources import PostgresSource, open_source

from .conftest import PATIENTS, POLICY, decisions, table

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
