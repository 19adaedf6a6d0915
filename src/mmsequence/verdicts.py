"""Combining findings into a verdict and a not-before date, and ranking candidates."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from .assessment import Finding

#: From least to most restrictive; a candidate's verdict is its most restrictive finding.
SEVERITY = ("preferred", "acceptable", "caution", "indeterminate", "wait", "avoid")
#: A scheduling constraint: it sets a not-before date and never changes the verdict.
SCHEDULE = "schedule"
#: Every effect a finding may have, from least to most restrictive (findings are listed in reverse).
EFFECTS = (SCHEDULE, *SEVERITY)
#: Effects whose findings set the candidate's earliest date.
TIMING_EFFECTS = ("wait", SCHEDULE)
#: Ranking tiers: ``pending`` is an indeterminate whose only restrictions are facts the record
#: leaves unknown (CAR-T while eligibility is not recorded): it ranks ahead of the cautions.
TIERS = ("preferred", "acceptable", "pending", "caution", "indeterminate", "wait", "avoid")


@attrs.frozen
class Outcome:
    """The verdict, what a wait becomes when it ends (``then``), the not-before date and the rules that set it."""

    verdict: str
    then: str | None
    earliest_date: datetime.date | None
    set_by: tuple[str, ...]


def _verdict(effects: Iterable[str]) -> str:
    """``preferred`` needs a rule that prefers the candidate and no finding that restricts it
    (caution or worse); with no findings the verdict is ``acceptable``."""
    effects = [e for e in effects if e in SEVERITY]
    restrictive = [e for e in effects if SEVERITY.index(e) >= SEVERITY.index("caution")]
    if restrictive:
        return max(restrictive, key=SEVERITY.index)
    return "preferred" if "preferred" in effects else "acceptable"


def _live(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.overridden is None]


def combine(findings: tuple[Finding, ...]) -> Outcome:
    """The verdict of the live (not overridden) findings; for a ``wait``, the verdict once the wait
    findings are over; and the not-before date: the latest date of the live wait and scheduling
    findings, whatever the verdict, and of a wait made indeterminate by an unknown drug that keeps
    its date as a certain lower bound."""
    live = _live(findings)
    verdict = _verdict(f.effect for f in live)
    then = _verdict(f.effect for f in live if f.effect != "wait") if verdict == "wait" else None
    timed = [f for f in live if f.sets_date]
    earliest = max((f.earliest_date for f in timed if f.earliest_date is not None), default=None)
    set_by = tuple(sorted({f.rule for f in timed if f.earliest_date == earliest}))
    return Outcome(verdict, then, earliest, set_by if earliest else ())


def _tier(verdict: str, live: list[Finding]) -> int:
    restrictive = [f for f in live if f.effect in SEVERITY and SEVERITY.index(f.effect) >= SEVERITY.index("caution")]
    if verdict == "indeterminate" and all(f.missing for f in restrictive):
        return TIERS.index("pending")
    return TIERS.index(verdict)


def tiers(outcome: Outcome, findings: tuple[Finding, ...]) -> tuple[int, int]:
    """The candidate's ranking tier (an indeterminate that only waits for a missing fact ahead of
    the cautions that depend on it) and the tier of what a wait becomes (its own tier otherwise).
    Within a tier the criteria of ``rules/rank.yaml`` order candidates (:mod:`mmsequence.ranking`)."""
    live = _live(findings)
    first = _tier(outcome.verdict, live)
    after = _tier(outcome.then, [f for f in live if f.effect != "wait"]) if outcome.then else first
    return first, after


def ranking_findings(findings: tuple[Finding, ...]) -> dict[str, bool]:
    """What the ranking criteria read of a candidate's live findings: a rule prefers it; a label rule
    finds it outside its label in the patient's jurisdiction."""
    live = _live(findings)
    return {"preferred": any(f.effect == "preferred" for f in live),
            "off_label": any(f.rule.startswith("labels.") for f in live)}
