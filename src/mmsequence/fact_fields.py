"""The facts a rule reads, as typed classes: their field names are the rule schema.

A rule file's condition, the facts it quotes and its placeholders may name only the fields of
:class:`PatientFacts` (``patient.``) and :class:`CandidateFacts` (``candidate.``); the rule loader
and the ranking criteria check them against these classes. Each field's metadata says what the
assessment knows of it:

- ``line_or_clock``: line counting or the interval and washout clocks decide it, so an
  unidentified drug in the history could change it (an avoid or wait resting on it becomes
  indeterminate);
- ``asks``: the action that asks for the fact when the record leaves it unknown (a rule may
  ``depends_on`` only such facts).

:mod:`mmsequence._facts` computes the values from the patient's course; what reaches the engine is
the subset of fields some rule reads, under short keys (:mod:`mmsequence._engine`). A value a
message only quotes may be a reference (a line, an exposure, a last dose, a date, an event: see
:mod:`mmsequence.course`), typed :data:`Ref`.
"""

from __future__ import annotations

from typing import Any

import attrs

from .vocabulary import ApheresisState, CandidateModality, ClockStatus, Tri

#: A reference to something in the record, as data (see :mod:`mmsequence.course`).
Ref = dict[str, Any]


def _fact(*, line_or_clock: bool = False, asks: str | None = None) -> Any:
    return attrs.field(metadata={"line_or_clock": line_or_clock, "asks": asks})


@attrs.frozen
class PatientFacts:
    """The patient fact: one per evaluation."""

    t: str = _fact()
    sid: str = _fact()
    car_t_eligible: Tri = _fact(asks="record-car-t-eligibility")
    prior_lines: int = _fact(line_or_clock=True)
    tcrt_count: int = _fact(line_or_clock=True)
    tcrt_agents: list[Ref] = _fact()
    prior_car_t: int = _fact(line_or_clock=True)
    prior_car_t_agents: list[Ref] = _fact()
    apheresis: ApheresisState = _fact()
    apheresis_date: Ref | None = _fact()
    apheresis_event: Ref | None = _fact()
    unknown_agents: int = _fact()
    unknown_agent_names: list[Ref] = _fact()
    jurisdiction: str = _fact()
    exposed_pi: Tri = _fact()
    exposed_imid: Tri = _fact()
    exposed_anti_cd38: Tri = _fact()
    triple_class_exposed: Tri = _fact()
    lenalidomide_refractory: Tri = _fact()
    progression_on_last: Tri = _fact(line_or_clock=True)
    soluble_bcma_known: bool = _fact()
    soluble_bcma_ng_ml: float = _fact()
    anti_cd38_refractory: Tri = _fact()
    anti_cd38_refractory_agents: list[Ref] = _fact()
    anti_cd38_refractory_open: bool = _fact()
    anti_cd38_refractory_open_lines: list[Ref] = _fact()
    exposed_bcma: Tri = _fact()
    bcma_agents: list[Ref] = _fact()
    car_t_option: bool = _fact()
    bendamustine: bool = _fact()
    bendamustine_agents: list[Ref] = _fact()


@attrs.frozen
class CandidateFacts:
    """A candidate fact: one per candidate therapy (``cid``). An unknown candidate has only its
    identity (``known`` false, ``modality`` unknown); a clock that is ``none`` has no other field."""

    t: str = _fact()
    sid: str = _fact()
    cid: int = _fact()
    query: str = _fact()
    known: bool = _fact()
    name: str = _fact()
    modality: CandidateModality = _fact()
    tcrt: bool = _fact()
    status: str = _fact()
    targets: str = _fact()
    same_target_tcrt: bool = _fact(line_or_clock=True)
    same_target_agents: list[Ref] = _fact()
    same_target_count: int = _fact(line_or_clock=True)
    same_target_bsab: bool = _fact(line_or_clock=True)
    same_target_bsab_agents: list[Ref] = _fact()
    same_target_refractory: Tri = _fact(line_or_clock=True)
    same_target_refractory_agents: list[Ref] = _fact()
    same_target_refractory_open: bool = _fact()
    same_target_refractory_open_lines: list[Ref] = _fact()
    same_target_car_t: bool = _fact(line_or_clock=True)
    same_target_car_t_agents: list[Ref] = _fact()
    refractory_to_agent: Tri = _fact()
    refractory_agent_lines: list[Ref] = _fact()
    same_targets: str = _fact()
    regimen: bool = _fact()
    refractory_open: bool = _fact()
    refractory_open_lines: list[Ref] = _fact()
    bcma: bool = _fact()
    bridging_same_target: bool = _fact()
    antigen_lost: bool = _fact()
    lost_targets: str = _fact()
    reserve_left: int = _fact()
    reserve_targets: str = _fact()
    anchor: Ref = _fact()
    anchor_kind: str = _fact()
    available: bool = _fact()
    interval: ClockStatus = _fact(line_or_clock=True)
    interval_from: Ref | None = _fact()
    interval_exact: bool = _fact()
    interval_end: str = _fact()
    interval_end_earliest: str = _fact()
    interval_months: int = _fact()
    washout: ClockStatus = _fact(line_or_clock=True)
    washout_from: Ref | None = _fact()
    washout_exact: bool = _fact()
    washout_end: str = _fact()
    washout_end_earliest: str = _fact()
    washout_days: int = _fact()


#: The facts of each binding a rule file names.
FACT_CLASSES: dict[str, type[PatientFacts] | type[CandidateFacts]] = {"patient": PatientFacts, "candidate": CandidateFacts}
#: The fields of the facts the engine matches, by binding; rule files may name only these.
PATIENT_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(PatientFacts))
CANDIDATE_FIELDS: tuple[str, ...] = tuple(f.name for f in attrs.fields(CandidateFacts))
#: Facts that line counting or the interval and washout clocks decide, which an unknown drug could change.
LINE_AND_CLOCK_FIELDS: frozenset[str] = frozenset(
    f.name for cls in FACT_CLASSES.values() for f in attrs.fields(cls) if f.metadata["line_or_clock"])
#: Patient facts a rule may depend on, and the action that asks for each when it is unknown.
MISSING_FACTS: dict[str, str] = {f.name: f.metadata["asks"] for f in attrs.fields(PatientFacts) if f.metadata["asks"]}
