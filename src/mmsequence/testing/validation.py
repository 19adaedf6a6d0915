"""``mmsequence validate``: every invariant on generated histories, and the minimal counterexample."""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import attrs
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample

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
    """A progress bar on a terminal, redrawn at most ten times a second; elsewhere (a CI log) a line every 10%."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.tty = stream.isatty()
        self.shown = -1.0

    def __call__(self, generated: int, tried: int, shrinking: bool) -> None:
        now = time.monotonic()
        if self.tty and now - self.shown < 0.1 and generated < self.total:
            return
        if not self.tty and (shrinking or generated * 10 // self.total == self.shown):
            return
        self.shown = now if self.tty else generated * 10 // self.total
        filled = self.width * generated // self.total
        state = f"shrinking a counterexample ({tried} tried)" if shrinking else "histories"
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {generated}/{self.total} {state}"
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
