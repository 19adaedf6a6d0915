"""Loads the Hypothesis profile and prints the seeds, so any run can be replayed; with
MMSEQUENCE_REQUIRE_SERVICES=1 (as .ci/run sets it), refuses a run that leaves out the tests of a service; starts every test from a clean process state,
so that tests pass in any order."""

import os

import pytest

from mmsequence import _caches

from .profiles import FIXED_SEED, PROFILE, RANDOM_SEED

#: Markers of the tests that need a service outside Python (registered in pyproject.toml).
SERVICES = ("postgres", "spark", "browser")
_left_out: list[str] = []


def services_required() -> bool:
    """Whether a missing service must fail the run, and no service test may be deselected."""
    return os.environ.get("MMSEQUENCE_REQUIRE_SERVICES") == "1"


def pytest_deselected(items: list[pytest.Item]) -> None:
    _left_out.extend(item.nodeid for item in items if any(item.get_closest_marker(m) for m in SERVICES))


def pytest_collection_finish(session: pytest.Session) -> None:
    if services_required() and _left_out:
        raise pytest.UsageError(
            f"MMSEQUENCE_REQUIRE_SERVICES=1: {len(_left_out)} test(s) of {', '.join(SERVICES)} were deselected "
            f"(first: {_left_out[0]}); this run must include every service")


@pytest.fixture(autouse=True)
def _fresh_caches():
    """No evaluator or policy kept from an earlier test."""
    _caches.reset()


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(
        f"mmsequence property tests: profile {PROFILE}, fixed seed {FIXED_SEED}, random seed {RANDOM_SEED} "
        f"(replay: MMSEQUENCE_SEED={RANDOM_SEED} python -m pytest)"
    )
