"""Combining findings into a verdict, and ranking candidates."""

from __future__ import annotations

import datetime

from .assessment import Finding

#: From least to most restrictive; a candidate's verdict is its most restrictive finding.
SEVERITY = ("preferred", "acceptable", "caution", "indeterminate", "wait", "avoid")


def combine(findings: tuple[Finding, ...]) -> tuple[str, datetime.date | None]:
    """The verdict and, for ``wait``, the date every wait is over.

    ``preferred`` needs a rule that prefers the candidate and no finding that restricts it
    (caution or worse); with no findings the verdict is ``acceptable``. Overridden findings
    do not count.
    """
    effects = [f.effect for f in findings if f.overridden is None]
    restrictive = [e for e in effects if SEVERITY.index(e) >= SEVERITY.index("caution")]
    if restrictive:
        verdict = max(restrictive, key=SEVERITY.index)
    else:
        verdict = "preferred" if "preferred" in effects else "acceptable"
    if verdict != "wait":
        return verdict, None
    dates = [f.earliest_date for f in findings if f.overridden is None and f.effect == "wait"]
    return verdict, max(d for d in dates if d is not None)


def rank_key(verdict: str, same_target: bool, findings: tuple[Finding, ...], reserve_left: int, name: str) -> tuple[int, bool, bool, int, int, str]:
    """Order of candidates: verdict first, then the review's preferences.

    A candidate a rule prefers (CAR-T first) before one no rule prefers, even when another
    finding restricts it; a target switch before re-using a target; fewer cautions before more
    (so a rule that adds a second caution weighs more); more untouched targets kept in reserve
    before fewer; then the canonical name, so that ties are stable.
    """
    live = [f for f in findings if f.overridden is None]
    preferred = any(f.effect == "preferred" for f in live)
    cautions = sum(1 for f in live if f.effect == "caution")
    return (SEVERITY.index(verdict), not preferred, same_target, cautions, -reserve_left, name)
