"""CDS Hooks 2.0 cards from an assessment: a summary card, and one card per candidate that needs attention.

Field names and values follow the specification's Card: ``uuid``, ``summary`` (under 140
characters), ``detail`` (GitHub-flavoured Markdown), ``indicator`` (``info``, ``warning``,
``critical``), ``source`` (``label``, ``url``, ``topic``), ``overrideReasons`` (Codings with a
``display``) and ``links``. Optional fields without a value are left out, as the specification
requires. Candidates whose verdict is ``preferred`` or ``acceptable`` get no card of their own;
only ``avoid`` is ``critical``.

Card uuids are uuid5 values of the card's content and the hook instance: the same request gives
the same cards, byte for byte, and two hook calls never share a uuid.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import attrs

from ..assessment import Assessment, CandidateAssessment
from ..history import OVERRIDE_REASONS

SUMMARY_LIMIT = 139
SOURCE_LABEL = "mmsequence: TCRT sequencing in myeloma"
SOURCE_URL = "https://doi.org/10.12677/jcpm.2026.53213"
TOPIC_SYSTEM = "urn:mmsequence:cds-hooks:topic"
OVERRIDE_SYSTEM = "urn:mmsequence:override-reason"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mmsequence:cds-hooks:card")

INDICATORS = {"avoid": "critical", "wait": "warning", "caution": "warning", "indeterminate": "warning"}
_OVERRIDE_DISPLAY = {
    "rapid-progression": "Rapid progression: the patient cannot wait",
    "no-alternative": "No alternative therapy is available",
    "trial-enrolment": "Enrolment in a clinical trial",
    "patient-preference": "The patient's informed preference",
    "other": "Other reason (please comment)",
}
_VERDICT_PHRASE = {
    "avoid": "Avoid {therapy} now",
    "wait": "Wait with {therapy} until {date}",
    "caution": "Use {therapy} with caution",
    "indeterminate": "{therapy} cannot be assessed",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")


@attrs.frozen
class Coding:
    system: str
    code: str
    display: str


@attrs.frozen
class Link:
    label: str
    url: str
    type: str = "absolute"


@attrs.frozen
class Source:
    label: str
    url: str
    topic: Coding


@attrs.frozen
class Card:
    """One CDS Hooks card; ``to_dict()`` is its JSON with the specification's field names."""

    uuid: str
    summary: str
    indicator: str
    source: Source
    detail: str | None = None
    overrideReasons: tuple[Coding, ...] = ()  # noqa: N815 (the specification's field name)
    links: tuple[Link, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, filter=lambda _, value: value not in (None, ()))


OVERRIDE_REASON_CODINGS = tuple(Coding(OVERRIDE_SYSTEM, code, _OVERRIDE_DISPLAY[code]) for code in OVERRIDE_REASONS)
_LINKS = (Link("The review behind the rules (Li, Wang, Wen 2026)", SOURCE_URL),)


def markdown_text(text: str) -> str:
    """Text shown literally in Markdown: every character Markdown or HTML could read is escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


def _source(code: str, display: str) -> Source:
    return Source(SOURCE_LABEL, SOURCE_URL, Coding(TOPIC_SYSTEM, code, display))


def _findings_markdown(candidate: CandidateAssessment) -> str:
    lines = []
    for f in candidate.findings:
        overridden = f" (overridden: {markdown_text(f.overridden['reason'])})" if f.overridden else ""
        lines.append(f"- **{f.effect}**{overridden} `{f.rule}`: {markdown_text(f.message)}  \n"
                     f"  *Evidence: {markdown_text(f.evidence)}; {markdown_text(f.citation)}*")
    return "\n".join(lines) or "No rule fired."


def _candidate_card(candidate: CandidateAssessment) -> dict[str, Any]:
    phrase = _VERDICT_PHRASE[candidate.verdict].format(therapy=candidate.therapy, date=candidate.earliest_date)
    rules = ", ".join(f.rule for f in candidate.findings if f.effect == candidate.verdict and not f.overridden)
    detail = (f"**{markdown_text(candidate.therapy)}** ({markdown_text('/'.join(candidate.target) or 'target unknown')},"
              f" {markdown_text(candidate.modality)}): verdict **{candidate.verdict}**, rank {candidate.rank}.\n\n"
              + _findings_markdown(candidate))
    return {
        "summary": _summary(f"{phrase}: {rules}" if rules else phrase),
        "indicator": INDICATORS[candidate.verdict],
        "source": _source("candidate", "One candidate therapy"),
        "detail": detail,
        "overrideReasons": OVERRIDE_REASON_CODINGS,
        "links": _LINKS,
    }


def _summary_card(assessment: Assessment) -> dict[str, Any]:
    ranked = assessment.candidates
    attention = [c for c in ranked if c.verdict in INDICATORS]
    if ranked:
        first = ranked[0]
        text = f"TCRT sequencing: {first.therapy} ranks first ({first.verdict}); {len(attention)} of {len(ranked)} need attention"
    else:
        text = "TCRT sequencing: no candidate therapy to assess"
    rows = ["| # | therapy | target | verdict | from |", "|---|---|---|---|---|"]
    rows += [f"| {c.rank} | {markdown_text(c.therapy)} | {markdown_text('/'.join(c.target) or '?')} | {c.verdict} |"
             f" {c.earliest_date or ''} |" for c in ranked]
    detail = f"As of {assessment.as_of}, ruleset {assessment.ruleset.digest[:19]}.\n\n" + "\n".join(rows)
    if assessment.warnings:
        detail += "\n\n**Data warnings**\n\n" + "\n".join(f"- {markdown_text(w)}" for w in assessment.warnings)
    return {
        "summary": _summary(text),
        "indicator": "warning" if assessment.warnings else "info",
        "source": _source("summary", "Ranking of candidate therapies"),
        "detail": detail,
        "links": _LINKS,
    }


def _card(fields: dict[str, Any], hook_instance: str) -> Card:
    content = Card(uuid="", **fields).to_dict()
    identity = json.dumps({"hookInstance": hook_instance, "card": content}, sort_keys=True, ensure_ascii=False)
    return Card(uuid=str(uuid.uuid5(_UUID_NAMESPACE, identity)), **fields)


def cards(assessment: Assessment, hook_instance: str = "") -> list[Card]:
    """The summary card, then a card for each candidate whose verdict is not preferred or acceptable."""
    fields = [_summary_card(assessment)]
    fields += [_candidate_card(c) for c in assessment.candidates if c.verdict in INDICATORS]
    return [_card(f, hook_instance) for f in fields]


def problems_response(problems: tuple[str, ...] | list[str], hook_instance: str = "") -> dict[str, Any]:
    """A response whose one warning card says the record could not be assessed, and why."""
    fields = {
        "summary": _summary(f"TCRT sequencing not assessed: the patient record has {len(problems)} data problem(s)"),
        "indicator": "warning",
        "source": _source("data-problem", "The record could not be assessed"),
        "detail": "Correct the record and reopen it:\n\n" + "\n".join(f"- {markdown_text(p)}" for p in problems),
        "links": _LINKS,
    }
    return {"cards": [_card(fields, hook_instance).to_dict()]}


def response(assessment: Assessment, hook_instance: str = "") -> dict[str, Any]:
    """The body of a CDS Service response: ``{"cards": [...]}``."""
    return {"cards": [card.to_dict() for card in cards(assessment, hook_instance)]}
