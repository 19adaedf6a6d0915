"""Loads the Hypothesis profile and prints the seeds, so any run can be replayed."""

from .profiles import FIXED_SEED, PROFILE, RANDOM_SEED


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(
        f"mmsequence property tests: profile {PROFILE}, fixed seed {FIXED_SEED}, random seed {RANDOM_SEED} "
        f"(replay: MMSEQUENCE_SEED={RANDOM_SEED} python -m pytest)"
    )
