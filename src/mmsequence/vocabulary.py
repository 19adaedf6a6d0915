"""The closed vocabularies of the patient-history document, each defined once.

Each is a ``Literal`` type (what the type checker, msgspec and the JSON Schema read) and a tuple
of its codes in the documented order (what the validator and the messages read), the tuple
derived from the type so that the two cannot drift.
"""

from __future__ import annotations

from typing import Literal, get_args

Response = Literal["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"]
StopReason = Literal["progression", "toxicity", "completed", "patient-choice", "other"]
ApheresisStatus = Literal["planned", "done", "failed", "cancelled"]
Jurisdiction = Literal["US", "EU", "CN"]
OverrideReason = Literal["rapid-progression", "no-alternative", "trial-enrolment", "patient-preference", "other"]

RESPONSES: tuple[str, ...] = get_args(Response)
STOP_REASONS: tuple[str, ...] = get_args(StopReason)
APHERESIS_STATUSES: tuple[str, ...] = get_args(ApheresisStatus)
JURISDICTIONS: tuple[str, ...] = get_args(Jurisdiction)
OVERRIDE_REASONS: tuple[str, ...] = get_args(OverrideReason)

# ---------------------------------------------------------------- what the rules and the results say

#: A candidate's verdict, from least to most restrictive: the verdict is its most restrictive finding.
Verdict = Literal["preferred", "acceptable", "caution", "indeterminate", "wait", "avoid"]
#: What a finding does: a verdict, or ``schedule``, a scheduling constraint that sets a not-before
#: date and never changes the verdict. From least to most restrictive.
Effect = Literal["schedule", "preferred", "acceptable", "caution", "indeterminate", "wait", "avoid"]
#: Ranking tiers: ``pending`` is an indeterminate whose only restrictions are facts the record
#: leaves unknown (CAR-T while eligibility is not recorded): it ranks ahead of the cautions.
Tier = Literal["preferred", "acceptable", "pending", "caution", "indeterminate", "wait", "avoid"]
#: A three-valued fact: the record says yes, says no, or leaves it unknown.
Tri = Literal["yes", "no", "unknown"]
#: A drug's modality; ``none`` for drugs not directed at the myeloma, ``unknown`` for a candidate
#: the catalog does not hold.
Modality = Literal["bsab", "car-t", "adc", "nk-engager", "conventional", "none"]
CandidateModality = Literal["bsab", "car-t", "adc", "nk-engager", "conventional", "none", "unknown"]
#: The course's CAR-T apheresis: no record, a plan pending, T cells collected (and not yet infused),
#: collected and used by a later infusion, the last collection failed, the plan was cancelled.
ApheresisState = Literal["none", "pending", "collected", "used", "failed", "cancelled"]
#: A clock (the T-cell recovery interval, the washout) against a candidate's anchor: met, unmet,
#: uncertain (an imprecise date) or none (nothing came earlier).
ClockStatus = Literal["met", "unmet", "uncertain", "none"]

VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
EFFECTS: tuple[Effect, ...] = get_args(Effect)
TIERS: tuple[Tier, ...] = get_args(Tier)
TRI: tuple[Tri, ...] = get_args(Tri)
MODALITIES: tuple[Modality, ...] = get_args(Modality)
APHERESIS_STATES: tuple[ApheresisState, ...] = get_args(ApheresisState)
CLOCK_STATUSES: tuple[ClockStatus, ...] = get_args(ClockStatus)

#: The modalities of T-cell redirecting therapy.
TCRT_MODALITIES: tuple[Modality, ...] = ("bsab", "car-t")
#: A scheduling constraint's effect.
SCHEDULE: Effect = "schedule"
#: Effects whose findings set the candidate's earliest date.
TIMING_EFFECTS: frozenset[Effect] = frozenset({"wait", "schedule"})
#: Verdicts (and effects) that restrict a candidate: caution and everything more restrictive.
RESTRICTIVE: frozenset[str] = frozenset(VERDICTS[VERDICTS.index("caution"):])
#: Verdicts (and effects) that say nothing against an option.
FAVOURABLE: frozenset[str] = frozenset({"preferred", "acceptable"})
#: Verdicts that keep an option from being given now.
BLOCKING: frozenset[str] = frozenset({"wait", "avoid", "indeterminate"})
#: Verdicts of an option that may be given now (an alternative worth suggesting).
USABLE: frozenset[str] = frozenset({"preferred", "acceptable", "caution"})

_SEVERITY: dict[str, int] = {v: i for i, v in enumerate(VERDICTS)}
_EFFECT_ORDER: dict[str, int] = {e: i for i, e in enumerate(EFFECTS)}
_TIER_ORDER: dict[str, int] = {t: i for i, t in enumerate(TIERS)}


def severity(verdict: str) -> int:
    """A verdict's place from least (0, preferred) to most restrictive (avoid)."""
    return _SEVERITY[verdict]


def effect_order(effect: str) -> int:
    """An effect's place from least (0, schedule) to most restrictive (avoid)."""
    return _EFFECT_ORDER[effect]


def tier_order(tier: str) -> int:
    """A ranking tier's place, best first."""
    return _TIER_ORDER[tier]


def is_restrictive(effect: str) -> bool:
    """Whether a finding's effect restricts its candidate (caution or worse; ``schedule`` does not)."""
    return effect in RESTRICTIVE


def is_blocking(verdict: str) -> bool:
    """Whether a verdict keeps an option from being given now."""
    return verdict in BLOCKING


def is_usable(verdict: str) -> bool:
    """Whether an option with this verdict may be given now."""
    return verdict in USABLE
