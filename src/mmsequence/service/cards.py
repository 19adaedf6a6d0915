"""CDS Hooks 2.0 cards from an assessment: a summary card, and one card per candidate that needs attention.

Field names and values follow the specification's Card: ``uuid``, ``summary`` (under 140
characters), ``detail`` (GitHub-flavoured Markdown), ``indicator`` (``info``, ``warning``,
``critical``), ``source`` (``label``, ``url``, ``topic``), ``overrideReasons`` (Codings with a
``display``) and ``links``. Optional fields without a value are left out, as the specification
requires. Candidates whose verdict is ``preferred`` or ``acceptable`` get no card of their own;
only ``avoid`` is ``critical``.

Card uuids are uuid5 values of the card's content and the hook instance: the same request gives
the same cards, byte for byte, and two hook calls never share a uuid.

Cards are written in the language the request's ``Accept-Language`` asks for
(:func:`mmsequence.i18n.negotiate`: zh-CN or English): fixed words from the gettext catalog,
rule messages from the rules' own translations, drugs and dates as the reader writes them.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import attrs

from ..assessment import Assessment, CandidateAssessment
from ..catalog import Catalog
from ..history import OVERRIDE_REASONS
from ..i18n import ENGLISH, drug_name, finding_message, format_date, translations

def N_(message: str) -> str:
    """Marks a message translated later (at card time, in the request's language), for extraction."""
    return message


SUMMARY_LIMIT = 139
SOURCE_LABEL = "mmsequence: TCRT sequencing in myeloma"
SOURCE_URL = "https://doi.org/10.12677/jcpm.2026.53213"
TOPIC_SYSTEM = "urn:mmsequence:cds-hooks:topic"
OVERRIDE_SYSTEM = "urn:mmsequence:override-reason"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mmsequence:cds-hooks:card")

INDICATORS = {"avoid": "critical", "wait": "warning", "caution": "warning", "indeterminate": "warning"}
_OVERRIDE_DISPLAY = {
    "rapid-progression": N_("Rapid progression: the patient cannot wait"),
    "no-alternative": N_("No alternative therapy is available"),
    "trial-enrolment": N_("Enrolment in a clinical trial"),
    "patient-preference": N_("The patient's informed preference"),
    "other": N_("Other reason (please comment)"),
}
_VERDICT_PHRASE = {
    "avoid": N_("Avoid {therapy} now"),
    "wait": N_("Wait with {therapy} until {date}"),
    "caution": N_("Use {therapy} with caution"),
    "indeterminate": N_("{therapy} cannot be assessed"),
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
_LINKS = (Link(N_("The review behind the rules (Li, Wang, Wen 2026)"), SOURCE_URL),)


@attrs.frozen
class _Words:
    """What a card needs to be written in one language."""

    language: str
    catalog: Catalog

    def __call__(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def verdict(self, word: str) -> str:
        return translations(self.language).pgettext("verdict", word)

    def drug(self, name: str) -> str:
        return drug_name(name, self.catalog, self.language)

    def date(self, day: object) -> str:
        return format_date(day, self.language) if day else ""  # type: ignore[arg-type]

    def override_codings(self) -> tuple[Coding, ...]:
        if self.language == ENGLISH:
            return OVERRIDE_REASON_CODINGS
        return tuple(attrs.evolve(c, display=self(c.display)) for c in OVERRIDE_REASON_CODINGS)

    def links(self) -> tuple[Link, ...]:
        return tuple(attrs.evolve(link, label=self(link.label)) for link in _LINKS)


def markdown_text(text: str) -> str:
    """Text shown literally in Markdown: every character Markdown or HTML could read is escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


def _source(code: str, display: str) -> Source:
    return Source(SOURCE_LABEL, SOURCE_URL, Coding(TOPIC_SYSTEM, code, display))


def _findings_markdown(candidate: CandidateAssessment, _: _Words) -> str:
    lines = []
    for f in candidate.findings:
        overridden = _(" (overridden: {reason})").format(reason=markdown_text(f.overridden["reason"])) if f.overridden else ""
        message = markdown_text(finding_message(f, _.language, _.catalog))
        evidence = translations(_.language).pgettext("evidence", f.evidence)
        lines.append(f"- **{_.verdict(f.effect)}**{overridden} `{f.rule}`: {message}  \n"
                     + "  *" + _("Evidence: {evidence}; {citation}").format(
                         evidence=markdown_text(evidence), citation=markdown_text(f.citation)) + "*")
    return "\n".join(lines) or _("No rule fired.")


def _candidate_card(candidate: CandidateAssessment, _: _Words) -> dict[str, Any]:
    therapy = _.drug(candidate.therapy)
    phrase = _(_VERDICT_PHRASE[candidate.verdict]).format(therapy=therapy, date=_.date(candidate.earliest_date))
    rules = ", ".join(f.rule for f in candidate.findings if f.effect == candidate.verdict and not f.overridden)
    detail = (_("**{therapy}** ({target}, {modality}): verdict **{verdict}**, rank {rank}.").format(
                  therapy=markdown_text(therapy), target=markdown_text("/".join(candidate.target) or _("target unknown")),
                  modality=markdown_text(candidate.modality), verdict=_.verdict(candidate.verdict), rank=candidate.rank)
              + "\n\n" + _findings_markdown(candidate, _))
    return {
        "summary": _summary(f"{phrase}: {rules}" if rules else phrase),
        "indicator": INDICATORS[candidate.verdict],
        "source": _source("candidate", _("One candidate therapy")),
        "detail": detail,
        "overrideReasons": _.override_codings(),
        "links": _.links(),
    }


def _summary_card(assessment: Assessment, _: _Words) -> dict[str, Any]:
    ranked = assessment.candidates
    attention = [c for c in ranked if c.verdict in INDICATORS]
    if ranked:
        first = ranked[0]
        text = _("TCRT sequencing: {therapy} ranks first ({verdict}); {count} of {total} need attention").format(
            therapy=_.drug(first.therapy), verdict=_.verdict(first.verdict), count=len(attention), total=len(ranked))
    else:
        text = _("TCRT sequencing: no candidate therapy to assess")
    rows = ["| # | " + " | ".join((_("therapy"), _("target"), _("verdict"), _("from"))) + " |", "|---|---|---|---|---|"]
    rows += [f"| {c.rank} | {markdown_text(_.drug(c.therapy))} | {markdown_text('/'.join(c.target) or '?')} | {_.verdict(c.verdict)} |"
             f" {_.date(c.earliest_date)} |" for c in ranked]
    detail = _("As of {date}, ruleset {digest}.").format(date=_.date(assessment.as_of), digest=assessment.ruleset.digest[:19])
    detail += "\n\n" + "\n".join(rows)
    if assessment.warnings:
        detail += "\n\n**" + _("Data warnings") + "**\n\n" + "\n".join(f"- {markdown_text(w)}" for w in assessment.warnings)
    return {
        "summary": _summary(text),
        "indicator": "warning" if assessment.warnings else "info",
        "source": _source("summary", _("Ranking of candidate therapies")),
        "detail": detail,
        "links": _.links(),
    }


def _card(fields: dict[str, Any], hook_instance: str) -> Card:
    content = Card(uuid="", **fields).to_dict()
    identity = json.dumps({"hookInstance": hook_instance, "card": content}, sort_keys=True, ensure_ascii=False)
    return Card(uuid=str(uuid.uuid5(_UUID_NAMESPACE, identity)), **fields)


def cards(assessment: Assessment, hook_instance: str = "", language: str = ENGLISH) -> list[Card]:
    """The summary card, then a card for each candidate whose verdict is not preferred or acceptable,
    written in ``language``."""
    words = _Words(language, assessment.catalog)
    fields = [_summary_card(assessment, words)]
    fields += [_candidate_card(c, words) for c in assessment.candidates if c.verdict in INDICATORS]
    return [_card(f, hook_instance) for f in fields]


def problems_response(problems: tuple[str, ...] | list[str], hook_instance: str = "", language: str = ENGLISH) -> dict[str, Any]:
    """A response whose one warning card says the record could not be assessed, and why."""
    _ = translations(language).gettext
    fields = {
        "summary": _summary(_("TCRT sequencing not assessed: the patient record has {count} data problem(s)").format(
            count=len(problems))),
        "indicator": "warning",
        "source": _source("data-problem", _("The record could not be assessed")),
        "detail": _("Correct the record and reopen it:") + "\n\n" + "\n".join(f"- {markdown_text(p)}" for p in problems),
        "links": tuple(attrs.evolve(link, label=_(link.label)) for link in _LINKS),
    }
    return {"cards": [_card(fields, hook_instance).to_dict()]}


def response(assessment: Assessment, hook_instance: str = "", language: str = ENGLISH) -> dict[str, Any]:
    """The body of a CDS Service response: ``{"cards": [...]}``, in ``language``."""
    return {"cards": [card.to_dict() for card in cards(assessment, hook_instance, language)]}
