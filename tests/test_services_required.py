"""A run that must include every service (MMSEQUENCE_REQUIRE_SERVICES=1, as .ci/run sets) refuses to
leave any service test out; a quick local run may."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _collect(marker: str, required: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MMSEQUENCE_REQUIRE_SERVICES"}
    if required:
        env["MMSEQUENCE_REQUIRE_SERVICES"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-m", f"not {marker}", *(str(p) for p in sorted(ROOT.glob("tests/**/test_*.py")) if p.name in FILES.values())], cwd=ROOT, env=env, capture_output=True, text=True)


FILES = {"postgres": "test_postgres.py", "spark": "test_spark.py", "browser": "test_report_browser.py"}


@pytest.mark.parametrize("marker", sorted(FILES))
def test_deselecting_a_service_is_refused_when_services_are_required(marker):
    refused = _collect(marker, required=True)
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR
    assert "MMSEQUENCE_REQUIRE_SERVICES=1" in refused.stderr and FILES[marker] in refused.stderr
    allowed = _collect(marker, required=False)
    assert allowed.returncode == pytest.ExitCode.OK
    assert [name for name in FILES.values() if name in allowed.stdout] == [
        name for other, name in FILES.items() if other != marker]
