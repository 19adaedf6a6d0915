"""Words: the one place where findings, actions and references become English text.

A rule's message is a template in its rule file: ``{candidate.name}`` quotes a fact, and
``{candidate.interval_from:date}`` quotes one part of a reference (a line, an agent given in a
line, a last dose, a recorded date, an event such as a planned apheresis; see
:mod:`mmsequence.course`). References are data with their field paths; only this module puts
them into words, so that another language can be added here, beside the English, without
touching the facts. Action texts are the templates in :data:`ACTION_TEXTS`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

#: ``{binding.field}`` or ``{binding.field:part}`` in a rule's message.
PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)(?::(\w+))?\}")
#: The parts a placeholder may ask of a reference.
PARTS = ("agent", "line", "number", "date", "recorded")

#: What the assessment asks the team to do, by action code; ``{name}`` quotes a value of the action's facts.
ACTION_TEXTS = {
    "resolve-car-t-eligibility": "Confirm CAR-T eligibility: the patient is recorded as not eligible, yet the record "
                                 "holds {apheresis}.",
    "record-car-t-eligibility": "Record whether the patient is eligible for CAR-T.",
    "classify-agent": "Identify {agent}: no verdict that rests on it is confident. Add it to the site policy, as a "
                      "synonym of the catalog name it is known under, or as an agent with its role.",
    "classify-candidate": "Identify the candidate '{name}': correct the name, or add it to the site's agent catalog.",
    "record-dose-date": "Record the exact date of the last dose of {dose}, now recorded as {recorded}.",
    "record-progression-date": "Record the exact date of the progression after {line}, now recorded as {recorded}: "
                               "whether the disease was refractory to it (progression within 60 days of the last "
                               "dose) depends on the day.",
    "move-apheresis": "Move the apheresis planned for {planned} to {date} or later.",
    "record-myeloma-diagnosis": "Record the multiple myeloma diagnosis in the chart (ICD-10 C90.0 or SNOMED CT "
                                "109989006), or, if the patient has myeloma, ask for the assessment explicitly.",
    "check-death": "Check the record: it says the patient died ({death}); correct it, or ask for the assessment "
                   "explicitly.",
}

_EVENTS = {
    "first-dose": "the first dose, on {date} at the earliest",
    "apheresis": "the T-cell collection, on {date} at the earliest",
    "planned-apheresis": "the apheresis planned for {date}",
    "collected-apheresis": "the T-cell collection on {date}",
}


def render(template: str, bound: Mapping[str, Mapping[str, Any]]) -> str:
    """A rule's message with each placeholder filled from the bound facts."""
    pieces, tail = _pieces(template)
    return "".join([text + say(bound[binding][field], part) for text, binding, field, part in pieces]) + tail


@functools.cache
def _pieces(template: str) -> tuple[tuple[tuple[str, str, str, str | None], ...], str]:
    """A template split once into (text, binding, field, part) pieces, each text before its
    placeholder, and the text after the last one."""
    pieces, at = [], 0
    for match in PLACEHOLDER.finditer(template):
        pieces.append((template[at:match.start()], match[1], match[2], match[3]))
        at = match.end()
    return tuple(pieces), template[at:]


_ACTION_FIELD = re.compile(r"\{(\w+)\}")


def action_text(code: str, values: Mapping[str, Any]) -> str:
    """The text of an action, its placeholders filled with the words for ``values``."""
    return _ACTION_FIELD.sub(lambda m: say(values[m[1]]), ACTION_TEXTS[code])


def say(value: Any, part: str | None = None) -> str:
    """The words for a fact or a reference (``part``: one of :data:`PARTS`)."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):  # the same words twice say nothing more ("line 3 and line 3")
        return _join(list(dict.fromkeys(say(item, part) for item in value))) or "none"
    if isinstance(value, Mapping) and "kind" in value:
        return _REFERENCES[value["kind"]](value, part)
    return str(value)


def not_confident_words(message: str, effect: str, unknown: list[Any], bound: Any = None) -> str:
    """A finding's message with why its avoid or wait is not confident while drugs are unknown, and
    the date it lasts at least until whatever they are (``bound``), if one is certain."""
    certain = f", though whatever it is, the wait lasts at least until {bound}" if bound else ""
    return (f"{message.rstrip('.')}; not a confident {effect} while the agent catalog does not know {say(unknown)}, "
            f"which could change the lines of therapy or the clocks it rests on{certain}.")


def timing_words(verdict: str, then: str | None, earliest_date: Any) -> str:
    """A verdict with its timing: 'wait until 2026-06-15, then preferred', 'preferred, not before 2026-03-05'."""
    if verdict == "wait":
        return f"wait until {earliest_date}, then {then}"
    return verdict + (f", not before {earliest_date}" if earliest_date else "")


def anchor_words(anchors: Mapping[str, Any]) -> str:
    """What a timing finding's clock runs from and to."""
    dose, event = anchors.get("from"), anchors.get("to")
    words = [f"from the last dose of {say(dose)} on {say(dose, 'date')}" if dose else "", f"to {say(event)}" if event else ""]
    return " ".join(w for w in words if w)


def with_display(ref: Mapping[str, Any]) -> dict[str, Any]:
    """A reference with the words a reader sees beside it (``display``), for the ``derived`` summary."""
    return {**ref, "display": say(ref)}


def _join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}" if items else ""


def _line(ref: Mapping[str, Any], part: str | None = None) -> str:
    what = ref["regimen"] or " + ".join(ref["agents"]) + (f" and {ref['more_agents']} more" if ref.get("more_agents") else "")
    if ref["number"] is None:
        return f"a record not counted as a line ({what})"
    return f"line {ref['number']}" if part == "number" else f"line {ref['number']} ({what})"


def _exposure(ref: Mapping[str, Any], part: str | None) -> str:
    if part == "number":
        return _line(ref, part)
    if part == "line" or ref.get("agent") is None:
        return _line(ref)
    return ref["agent"] if part == "agent" else f"{ref['agent']} ({_line(ref, 'number')})"


def _dose(ref: Mapping[str, Any], part: str | None) -> str:
    if part in ("date", "recorded"):
        return "the evaluation day (still given)" if ref["ongoing"] else say(ref["date"], part)
    return _exposure(ref, part)


def _date(ref: Mapping[str, Any], part: str | None) -> str:
    if part == "recorded":
        return str(ref["recorded"])
    if ref["earliest"] == ref["latest"]:
        return str(ref["earliest"])
    return f"{ref['recorded']} (day not recorded)"


def _event(ref: Mapping[str, Any], part: str | None) -> str:
    if part == "date":
        return say(ref["date"])
    if ref["date"] is None:
        return "a planned apheresis with no date set"
    return _EVENTS[ref["event"]].format(date=say(ref["date"]))


_REFERENCES = {
    "line": _line,
    "exposure": _exposure,
    "dose": _dose,
    "date": _date,
    "event": _event,
}
