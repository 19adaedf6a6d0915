"""Combining findings into a verdict and a not-before date, and ranking candidates."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

import attrs

from .assessment import Finding
from .vocabulary import RESTRICTIVE, VERDICTS, Verdict, severity, tier_order


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class Outcome:
    """The verdict, what a wait becomes when it ends (``then``), the not-before date and the rules that set it."""

    verdict: Verdict
    then: Verdict | None
    earliest_date: datetime.date | None
    set_by: tuple[str, ...]


def _verdict(effects: Iterable[str]) -> Verdict:
    """``preferred`` needs a rule that prefers the candidate and no finding that restricts it
    (caution or worse); with no findings the verdict is ``acceptable``."""
    seen = set(effects)
    restrictive = seen & RESTRICTIVE
    if restrictive:
        return VERDICTS[max(map(severity, restrictive))]
    return "preferred" if "preferred" in seen else "acceptable"


def live(findings: Iterable[Finding]) -> list[Finding]:
    """The findings not overridden: what the verdict, the date, the tier and the rank read."""
    return [f for f in findings if f.overridden is None]


def combine(live: list[Finding]) -> Outcome:
    """The verdict of the live findings; for a ``wait``, the verdict once the wait findings are
    over; and the not-before date: the latest date of the live wait and scheduling findings,
    whatever the verdict, and of a wait made indeterminate by an unknown drug that keeps its date
    as a certain lower bound."""
    verdict = _verdict(f.effect for f in live)
    then = _verdict(f.effect for f in live if f.effect != "wait") if verdict == "wait" else None
    timed = [f for f in live if f.sets_date]
    earliest = max((f.earliest_date for f in timed if f.earliest_date is not None), default=None)
    set_by = tuple(sorted({f.rule for f in timed if f.earliest_date == earliest}))
    return Outcome(verdict, then, earliest, set_by if earliest else ())


def _tier(verdict: str, live: list[Finding]) -> int:
    if verdict == "indeterminate" and all(f.missing for f in live if f.effect in RESTRICTIVE):
        return tier_order("pending")
    return tier_order(verdict)


def tiers(outcome: Outcome, live: list[Finding]) -> tuple[int, int]:
    """The candidate's ranking tier (an indeterminate that only waits for a missing fact ahead of
    the cautions that depend on it) and the tier of what a wait becomes (its own tier otherwise),
    from its live findings. Within a tier the criteria of ``rules/rank.yaml`` order candidates
    (:mod:`mmsequence.ranking`)."""
    first = _tier(outcome.verdict, live)
    after = _tier(outcome.then, [f for f in live if f.effect != "wait"]) if outcome.then else first
    return first, after


def ranking_findings(live: list[Finding]) -> dict[str, bool]:
    """What the ranking criteria read of a candidate's live findings: a rule prefers it; a label rule
    finds it outside its label in the patient's jurisdiction."""
    return {"preferred": any(f.effect == "preferred" for f in live),
            "off_label": any(f.rule.startswith("labels.") for f in live)}
