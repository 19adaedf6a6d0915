"""Loads the Hypothesis profile and prints the seeds, so any run can be replayed; starts every
test from a clean process state, so that tests pass in any order."""

import pytest

from mmsequence import _caches

from .profiles import FIXED_SEED, PROFILE, RANDOM_SEED


@pytest.fixture(autouse=True)
def _fresh_caches():
    """No evaluator or policy kept from an earlier test."""
    _caches.reset()


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(
        f"mmsequence property tests: profile {PROFILE}, fixed seed {FIXED_SEED}, random seed {RANDOM_SEED} "
        f"(replay: MMSEQUENCE_SEED={RANDOM_SEED} python -m pytest)"
    )
