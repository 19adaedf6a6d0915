"""What the team should record or do to get a firmer answer: the assessment's actions.

Every drug in the history that the catalog does not know is to be identified, and every date on
which a line's refractoriness turns but that the record gives only to the month or year is to be
recorded exactly (whatever the candidates). The other actions come from the live findings, in three
ways, none of which names a rule:

- a rule that depends on a fact (``depends_on`` in its file) asks for that fact when the record
  leaves it unknown (:data:`mmsequence.fact_fields.MISSING_FACTS`, from the fact's definition): "record whether the patient is eligible for CAR-T";
- a rule asks for an action by code (``asks``): "identify the candidate 'fooximab'";
- a timing finding (a wait or a scheduling constraint) whose clock runs from a last dose the record
  gives only to the month or year asks for the exact date, and one whose date falls after a
  planned apheresis asks to move the plan.

The words are :mod:`mmsequence.messages`'s.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .course import event_ref
from .fact_fields import MISSING_FACTS
from .messages import action_text

if TYPE_CHECKING:
    from .assessment import CandidateAssessment, Finding
    from .course import PatientCourse

#: Every action code, in the order actions are listed (conflicts first, then missing facts, then dates).
CODES = ("record-myeloma-diagnosis", "check-death", "resolve-car-t-eligibility", "record-car-t-eligibility",
         "classify-agent", "classify-candidate",
         "record-dose-date", "record-progression-date", "move-apheresis")
#: Codes a rule file may give under ``asks``.
ASKABLE = ("resolve-car-t-eligibility", "classify-candidate")


@attrs.frozen
class Action:
    """One short imperative sentence, its code, and the facts it concerns (with their field paths)."""

    code: str
    text: str
    facts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "facts": self.facts}


def _action(code: str, **facts: Any) -> Action:
    return Action(code, action_text(code, facts), facts)


def gate_action(code: str, records: tuple[str, ...]) -> Action:
    """The one action of a record the myeloma gate did not let through."""
    return _action(code, death=records[0]) if code == "check-death" else _action(code)


def _asked(code: str, candidate: CandidateAssessment, course: PatientCourse, made: dict[str, Action]) -> Action:
    """The action a rule asks for: of the candidate, or of the course (made once, kept in ``made``)."""
    if code == "classify-candidate":
        return _action(code, name=candidate.query)
    action = made.get(code)
    if action is None:
        state = course.apheresis.state
        kind = "planned-apheresis" if state == "pending" else "collected-apheresis"
        action = made[code] = _action(code, apheresis=event_ref(kind, course.apheresis.date, course.apheresis_field))
    return action


def _timed(finding: Finding) -> list[Action]:
    """Record the exact day of a last dose the date depends on; move a plan the date falls after."""
    if not finding.sets_date or finding.earliest_date is None or not finding.anchors:
        return []
    found = []
    dose, event = finding.anchors.get("from"), finding.anchors.get("to")
    if dose and dose.get("date") and dose["date"]["earliest"] != dose["date"]["latest"]:
        found.append(_action("record-dose-date", dose=dose, recorded=dose["date"]["recorded"], field=dose["field"]))
    if event and event["event"] == "planned-apheresis" and event["date"] is not None:
        if datetime.date.fromisoformat(event["date"]["earliest"]) < finding.earliest_date:
            found.append(_action("move-apheresis", planned=event["date"], date=finding.earliest_date.isoformat(),
                                 field=event["field"]))
    return found


def _open_refractoriness(course: PatientCourse) -> list[Action]:
    """Record the exact day of a progression, or of a last dose, on which a line's refractoriness turns."""
    actions = []
    for index, which in course.open_refractoriness():
        line = course.history.lines[index]
        if which == "progression" and line.progression is not None:
            actions.append(_action("record-progression-date", line=course.line_ref(index), recorded=str(line.progression),
                                   field=f"lines[{index}].progression"))
            continue
        exposure = next(e for e in course.exposures if e.line == index and e.refractory_open is not None)
        dose = course.dose_ref(exposure)
        if dose["date"] is not None:
            actions.append(_action("record-dose-date", dose=dose, recorded=dose["date"]["recorded"], field=dose["field"]))
    return actions


def collect(candidates: Iterable[CandidateAssessment], asks: dict[str, tuple[str, ...]],
            course: PatientCourse) -> tuple[Action, ...]:
    """Every action the live findings of ``candidates`` call for, each once, in :data:`CODES` order.

    ``asks`` gives the action codes each rule asks for (by rule id).
    """
    found: dict[tuple[str, str], Action] = {}
    made: dict[str, Action] = {}
    for action in [_action("classify-agent", agent=ref) for ref in course.unknown_refs()] + _open_refractoriness(course):
        found.setdefault((action.code, action.text), action)
    for candidate in candidates:
        for finding in candidate.findings:
            if finding.overridden is not None:
                continue
            actions = [_action(MISSING_FACTS[fact]) for fact in finding.missing]
            actions += [_asked(code, candidate, course, made) for code in asks.get(finding.rule, ())]
            actions += _timed(finding)
            for action in actions:
                found.setdefault((action.code, action.text), action)
    return tuple(sorted(found.values(), key=lambda a: (CODES.index(a.code), a.text)))
