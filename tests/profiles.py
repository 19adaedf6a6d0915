"""Hypothesis profiles and seeds for the property tests, chosen by ``MMSEQUENCE_PROFILE``.

``dev`` (default, for local runs): 100 examples per validation property. ``ci`` (``.ci/run``):
2,000. ``deep``: 100,000, for a run before a release. Each property runs twice: under a fixed seed,
so a failure reproduces, and under a random seed printed at the end of the run (replay it with
``MMSEQUENCE_SEED=<seed>``). The profile applies to the properties run through :func:`run` only;
other Hypothesis tests keep their settings.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.strategies import SearchStrategy

PROFILE = os.environ.get("MMSEQUENCE_PROFILE", "dev")
FIXED_SEED = 20260601
RANDOM_SEED = int(os.environ.get("MMSEQUENCE_SEED") or secrets.randbelow(2**32))

settings.register_profile("ci", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", settings.get_profile("ci"), max_examples=100_000)
settings.register_profile("dev", settings.get_profile("ci"), max_examples=100)
VALIDATION = settings.get_profile(PROFILE)

#: Parametrises a test over the fixed and the random seed.
SEEDS = pytest.mark.parametrize("seed_value", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", "random-seed"])


def run(check: Callable[[Any], None], strategy: SearchStrategy[Any], seed_value: int,
        settings_: settings | None = None) -> None:
    """Call ``check`` on every example ``strategy`` draws under ``seed_value`` (profile settings,
    or ``settings_`` derived from them)."""
    seed(seed_value)((settings_ or VALIDATION)(given(strategy)(check)))()
