"""``mmsequence validate``: every invariant on generated histories, and the minimal counterexample."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from typing import Any, TextIO

import attrs
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample
from tqdm import tqdm

from ..policy import Policy
from .invariants import INVARIANTS, check
from .strategies import patient_histories

Progress = Callable[[int, int, bool], None]
"""Called with (histories generated, histories tried, shrinking a counterexample)."""


@attrs.frozen
class Report:
    """What a run found: ``document`` is the minimal counterexample, None if every invariant held."""

    seed: int
    generated: int
    document: dict[str, Any] | None
    violations: tuple[str, ...]


def validate(examples: int, seed: int, policy: Policy | None = None, progress: Progress | None = None) -> Report:
    """Run every invariant on up to ``examples`` generated histories under ``policy`` (default: the
    shipped one); the first violation is shrunk to a minimal history. The same seed gives the same run."""
    generated = tried = 0
    shrinking = False

    def violates(document: dict[str, Any]) -> bool:
        nonlocal generated, tried, shrinking
        generated, tried = generated + (not shrinking), tried + 1
        found = bool(check(document, policy))
        shrinking = shrinking or found
        if progress:
            progress(generated, tried, shrinking)
        return found

    search = settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    try:
        minimal = find(patient_histories(), violates, settings=search, random=random.Random(seed))
    except NoSuchExample:
        return Report(seed, generated, None, ())
    return Report(seed, generated, minimal, tuple(check(minimal, policy)))


def vignette(report: Report, policy: Policy) -> str:
    """The counterexample as a patient document, ready to save as a vignette."""
    comment = (f"Counterexample found by mmsequence validate (seed {report.seed}, policy {policy.source}): "
               + "; ".join(report.violations))
    return json.dumps({"comment": comment, **(report.document or {})}, indent=2, ensure_ascii=False) + "\n"


def summary(report: Report, policy: Policy) -> str:
    head = (f"mmsequence validate: {report.generated} histories, {len(INVARIANTS)} invariants, "
            f"seed {report.seed}, policy {policy.source}: ")
    if report.document is None:
        return head + "no violation"
    return head + f"{len(report.violations)} violation(s); the minimal counterexample is on standard output"


class ProgressBar:
    """Histories generated of the total on a tqdm bar (rate and time left), as batch and audit draw
    theirs; the description turns to the shrinking once a counterexample is found. Quiet off a terminal."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.bar = tqdm(total=total, desc="histories", unit="history", file=stream, disable=None, mininterval=0.1)

    def __call__(self, generated: int, tried: int, shrinking: bool) -> None:
        if shrinking:
            self.bar.set_description_str(f"shrinking a counterexample ({tried} tried)", refresh=False)
        self.bar.update(generated - self.bar.n)

    def close(self) -> None:
        self.bar.close()
