"""CDS Hooks 2.0 cards from an assessment, in the words a clinician reads.

``patient-view`` (a chart is opened, nothing is being ordered) gets one summary card ranking the
options and at most one data-quality card; neither is ever ``critical``. ``order-select`` and
``order-sign`` get one card per ordered therapy: ``critical`` for ``avoid``, ``warning`` for
``wait``, ``caution`` and ``indeterminate``, ``info`` otherwise, with a suggestion to order the
best-ranked alternative instead where one ranks better.

All text a clinician reads is made in the "Words" part of this module: a summary names each
therapy's verdict with a short clinical reason ("Teclistamab: wait until 2026-07-01 (T-cell
recovery after talquetamab)"); rule ids, evidence levels and citations stay in the detail and
the source link. Field names and values follow the specification's Card: ``uuid``, ``summary``
(under 140 characters), ``detail`` (GitHub-flavoured Markdown, every text from the record
escaped), ``indicator``, ``source`` (``label``, ``url``, ``topic``), ``suggestions`` with
``selectionBehavior``, ``overrideReasons`` (Codings with a ``display``) and ``links``; optional
fields without a value are left out.

Card uuids are uuid5 values of the card's content and the hook instance: the same request gives
the same cards, byte for byte, and two hook calls never share a uuid.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..assessment import Assessment, CandidateAssessment, Finding
from ..catalog import Catalog
from ..fhir.coding import CATALOG_SYSTEMS
from ..history import OVERRIDE_REASONS
from ..i18n import ENGLISH, action_message, finding_message, format_date, say_words, translations
from ..messages import say
from ..notices import Notice, place_words
from ..notices import words as notice_words
from ..rulebook import REASON_FIELD
from ..vocabulary import is_usable, severity
from .hooks import Order

SUMMARY_LIMIT = 139
SOURCE_LABEL = "mmsequence: TCRT sequencing in myeloma"
SOURCE_URL = "https://doi.org/10.12677/jcpm.2026.53213"
TOPIC_SYSTEM = "urn:mmsequence:cds-hooks:topic"
OVERRIDE_SYSTEM = "urn:mmsequence:override-reason"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mmsequence:cds-hooks:card")

#: The indicator of an order card by the ordered therapy's verdict.
ORDER_INDICATORS = {"avoid": "critical", "wait": "warning", "caution": "warning", "indeterminate": "warning",
                    "acceptable": "info", "preferred": "info"}


def N_(message: str) -> str:
    """Marks a message that is translated when a card is written, in the request's language."""
    return message


_OVERRIDE_DISPLAY = {
    "rapid-progression": N_("Rapid progression: the patient cannot wait"),
    "no-alternative": N_("No alternative therapy is available"),
    "trial-enrolment": N_("Enrolment in a clinical trial"),
    "patient-preference": N_("The patient's informed preference"),
    "other": N_("Other reason (please comment)"),
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")
_FHIR_SYSTEMS = {name: uri for uri, name in CATALOG_SYSTEMS.items()}


# ---------------------------------------------------------------- card data (the specification's shapes)

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
class CardAction:
    type: str
    description: str
    resource: Mapping[str, Any] | None = None
    resourceId: str | None = None  # noqa: N815 (the specification's field name)


@attrs.frozen
class Suggestion:
    label: str
    uuid: str
    actions: tuple[CardAction, ...]


@attrs.frozen
class Card:
    """One CDS Hooks card; ``to_dict()`` is its JSON with the specification's field names."""

    uuid: str
    summary: str
    indicator: str
    source: Source
    detail: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    selectionBehavior: str | None = None  # noqa: N815
    overrideReasons: tuple[Coding, ...] = ()  # noqa: N815
    links: tuple[Link, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, filter=lambda _, value: value not in (None, ()))


OVERRIDE_REASON_CODINGS = tuple(Coding(OVERRIDE_SYSTEM, code, _OVERRIDE_DISPLAY[code]) for code in OVERRIDE_REASONS)
_LINKS = (Link(N_("The review behind the rules (Li, Wang, Wen 2026)"), SOURCE_URL),)


# ---------------------------------------------------------------- words


_VERDICT_WORDS = {
    "preferred": N_("preferred"), "acceptable": N_("acceptable"), "caution": N_("use with caution"),
    "indeterminate": N_("cannot be assessed"), "wait": N_("wait until {date}"), "avoid": N_("avoid now"),
}
_KIND = {"bsab": N_("bispecific antibody"), "car-t": N_("CAR-T"), "adc": N_("antibody-drug conjugate"),
         "nk-engager": N_("NK-cell engager"), "conventional": N_("conventional therapy"), "unknown": N_("not in the drug catalog")}
_DOCUMENT_PATH = re.compile(r"\b(lines|apheresis|candidates|entry)\[(\d+)\]((?:\.[A-Za-z_]+)*)")
_PATH_WORDS = {"lines": "line", "apheresis": "apheresis", "candidates": "candidate", "entry": "FHIR entry"}
_QUOTED_PATH = re.compile(r"\s*\((?:line|apheresis|candidate|FHIR entry) \d+[^)]*\)")
_RAW_FACT = re.compile(r"\s*\([a-z]+(?:_[a-z]+)+ is (?:null|unknown|none)\)")


def markdown_text(text: str) -> str:
    """Text shown literally in Markdown: every character Markdown or HTML could read is escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def clinical(text: str) -> str:
    """Text with the document's field paths in words (``lines[1].end`` -> ``line 2 end``) and raw
    fact names (``(car_t_eligible is null)``) left out."""
    def words(match: re.Match[str]) -> str:
        fields = " ".join(f.replace("_", " ") for f in match[3].split(".") if f)
        return f"{_PATH_WORDS[match[1]]} {int(match[2]) + 1}" + (f" {fields}" if fields else "")
    return _RAW_FACT.sub("", _DOCUMENT_PATH.sub(words, text)).replace("as_of", "the evaluation date")




@attrs.frozen
class Words:
    """What a card says, in one language: fixed words through the gettext catalog, facts and
    references as :mod:`mmsequence.i18n` says them, rule messages from the rules' translations."""

    language: str = ENGLISH
    catalog: Catalog | None = None

    def __call__(self, message: str) -> str:
        return translations(self.language).gettext(message)

    def say(self, value: Any, part: str | None = None) -> str:
        if self.language == ENGLISH or self.catalog is None:
            return say(value, part)
        return say_words(value, part, self.language, self.catalog)

    def drug(self, name: str) -> str:
        agent = self.catalog.lookup(name) if self.catalog is not None else None
        return name if agent is None or self.language == ENGLISH else agent.display_name(self.language)

    def date(self, day: Any) -> str:
        return format_date(day, self.language) if isinstance(day, datetime.date) else str(day)

    def message(self, finding: Finding) -> str:
        return finding.message if self.catalog is None else finding_message(finding, self.language, self.catalog)

    def action(self, action: Any) -> str:
        return str(action.text) if self.catalog is None else action_message(action, self.language, self.catalog)

    def links(self) -> tuple[Link, ...]:
        return _LINKS if self.language == ENGLISH else tuple(attrs.evolve(link, label=self(link.label)) for link in _LINKS)

    def override_codings(self) -> tuple[Coding, ...]:
        if self.language == ENGLISH:
            return OVERRIDE_REASON_CODINGS
        return tuple(attrs.evolve(c, display=self(c.display)) for c in OVERRIDE_REASON_CODINGS)


ENGLISH_WORDS = Words()


def _fill(template: str, facts: Mapping[str, Any], w: Words = ENGLISH_WORDS) -> str:
    """A reason template with each ``{fact}`` or ``{fact:part}`` in words (see :func:`messages.say`)."""
    return REASON_FIELD.sub(lambda m: _QUOTED_PATH.sub("", w.say(facts[m[1]], m[2])), template)


def reason(finding: Finding, w: Words = ENGLISH_WORDS) -> str:
    """A short clinical phrase for why a rule fired ("T-cell recovery after talquetamab"): the rule
    file's reason, in the card's language, with the facts it quotes in words."""
    template = finding.reason_template(w.language)
    return finding.rule if template is None else _fill(template, finding.facts, w)


def _therapy(candidate: CandidateAssessment, w: Words = ENGLISH_WORDS) -> str:
    name = w.drug(candidate.therapy)
    return name[:1].upper() + name[1:]


def _kind(candidate: CandidateAssessment, w: Words = ENGLISH_WORDS) -> str:
    targets = "/".join(candidate.target)
    kind = w(_KIND[candidate.modality]) if candidate.modality in _KIND else candidate.modality
    return f"{targets} {kind}" if targets else kind


def _timing(candidate: CandidateAssessment, w: Words = ENGLISH_WORDS) -> str:
    """What follows the verdict: what it becomes after a wait, or the date it may start from."""
    if candidate.verdict == "wait":
        return w(", then {verdict}").format(verdict=w(_VERDICT_WORDS[candidate.then])) \
            if candidate.then and candidate.then != "wait" else ""
    if candidate.earliest_date is None:
        return ""
    why = [reason(f, w) for f in candidate.findings if f.rule in candidate.earliest_date_set_by and f.overridden is None]
    return w(", not before {date}").format(date=w.date(candidate.earliest_date)) + (
        f" ({'; '.join(dict.fromkeys(why))})" if why else "")


def verdict_line(candidate: CandidateAssessment, w: Words = ENGLISH_WORDS) -> str:
    """``Teclistamab: wait until 2026-07-01 (T-cell recovery after talquetamab), then acceptable``:
    the verdict, the reasons that decided it, and its timing."""
    words = w(_VERDICT_WORDS[candidate.verdict]).format(date=w.date(candidate.earliest_date))
    reasons = list(dict.fromkeys(reason(f, w) for f in candidate.deciding))
    return (f"{_therapy(candidate, w)}: {words}" + (f" ({'; '.join(reasons)})" if reasons else "")
            + _timing(candidate, w))


def finding_text(finding: Finding, w: Words = ENGLISH_WORDS) -> str:
    """The finding's message as the detail shows it (its references are already in a clinician's words)."""
    return w.message(finding)


def _summary(text: str) -> str:
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


class _Sources:
    """Citations numbered in the order first cited, each listed once."""

    def __init__(self) -> None:
        self.cited: dict[str, int] = {}

    def number(self, citation: str) -> int:
        return self.cited.setdefault(citation, len(self.cited) + 1)

    def markdown(self) -> str:
        return "\n".join(f"{n}. {markdown_text(c)}" for c, n in self.cited.items())


def _why(candidate: CandidateAssessment, sources: _Sources, w: Words = ENGLISH_WORDS) -> list[str]:
    rows = []
    tr = translations(w.language)
    for f in candidate.findings:
        overridden = w(" — overridden: {reason}").format(reason=markdown_text(f.overridden["reason"])) if f.overridden else ""
        effect = f.effect if w.language == ENGLISH else tr.pgettext("verdict", f.effect)
        evidence = f.evidence if w.language == ENGLISH else tr.pgettext("evidence", f.evidence)
        rows.append(f"- {effect}{overridden}: {markdown_text(finding_text(f, w))}"
                    + w(" (`{rule}`, evidence: {evidence}, source {number})").format(
                        rule=f.rule, evidence=markdown_text(evidence), number=sources.number(f.citation)))
    return rows or [w("- no rule fired")]


def warning_groups(warnings: Iterable[str], w: Words = ENGLISH_WORDS) -> list[str]:
    """Data warnings in words, the same problem said once with every place it was found: a notice's
    place and message are its own (:mod:`mmsequence.notices`); a plain note (a draft order's) is one
    problem, its paths in words."""
    groups: dict[str, dict[str, None]] = {}  # problem -> its places, in order, each once (a dict: linear time)
    for warning in dict.fromkeys(warnings):
        if isinstance(warning, Notice):
            subject = place_words(warning, w.language, w.catalog, clinical=True) or ""
            problem = notice_words(warning.message, w.language, w.catalog, clinical=True)
        else:
            subject, problem = "", clinical(warning)
        places = groups.setdefault(problem, {})
        if subject:
            places[subject] = None
    return [_group(problem, list(places), w) for problem, places in groups.items()]


#: Places named for one problem on a card; the others are counted.
MAX_PLACES = 20


def _group(problem: str, places: list[str], w: Words) -> str:
    if w.language != ENGLISH:
        named = "、".join(places[:MAX_PLACES]) + (w(" and {count} more").format(count=len(places) - MAX_PLACES)
                                                 if len(places) > MAX_PLACES else "")
        return f"{named}：{problem}" if places else problem
    # the problem as its notice says it (a drug's name or an acronym keeps its case), capitalised
    # only where it starts the line
    if len(places) == 1:
        return f"{places[0][:1].upper()}{places[0][1:]}: {problem}"
    named = ", ".join(places[:MAX_PLACES]) + (f" and {len(places) - MAX_PLACES} more" if len(places) > MAX_PLACES else "")
    return problem[:1].upper() + problem[1:] + (f": {named}" if places else "")


def _footer(assessment: Assessment, sources: _Sources, w: Words = ENGLISH_WORDS) -> str:
    parts = ["**" + w("Sources") + f"**\n\n{sources.markdown()}"] if sources.cited else []
    parts.append(w("As of {date}; ruleset {digest}…").format(date=w.date(assessment.as_of),
                                                              digest=assessment.ruleset.digest[:19]))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- cards

def _source(code: str, display: str) -> Source:
    return Source(SOURCE_LABEL, SOURCE_URL, Coding(TOPIC_SYSTEM, code, display))


def _card(fields: dict[str, Any], hook_instance: str, suggest: Sequence[tuple[str, tuple[CardAction, ...]]] = ()) -> Card:
    content = Card(uuid="", **fields).to_dict()
    identity = json.dumps({"hookInstance": hook_instance, "card": content, "suggest": [label for label, _ in suggest]},
                          sort_keys=True, ensure_ascii=False, default=str)
    card_uuid = str(uuid.uuid5(_UUID_NAMESPACE, identity))
    suggestions = tuple(Suggestion(label, str(uuid.uuid5(_UUID_NAMESPACE, f"{card_uuid}\n{label}")), actions)
                        for label, actions in suggest)
    return Card(uuid=card_uuid, suggestions=suggestions, selectionBehavior="at-most-one" if suggestions else None,
                **fields)


def _summary_card(assessment: Assessment, hook_instance: str, w: Words = ENGLISH_WORDS) -> Card:
    ranked = assessment.candidates
    if not assessment.gate.assessed:  # no myeloma diagnosis, or a recorded death: no option to offer
        return _card({"summary": _summary(w("TCRT sequencing: not assessed")), "indicator": "info",
                      "source": _source("summary", w("Ranking of candidate therapies")),
                      "detail": "\n".join(f"- {markdown_text(w.action(a))}" for a in assessment.actions),
                      "links": w.links()}, hook_instance)
    if not ranked:
        return _card({"summary": w("TCRT sequencing: no candidate therapy to assess"), "indicator": "info",
                      "source": _source("summary", w("Ranking of candidate therapies")), "links": w.links()},
                     hook_instance)
    sources = _Sources()
    actions = ["**" + w("To do first") + "**\n\n" + "\n".join(f"- {markdown_text(w.action(a))}" for a in assessment.actions)
               ] if assessment.actions else []
    options = [f"{c.rank}. {markdown_text(verdict_line(c, w))} — {markdown_text(_kind(c, w))}" for c in ranked]
    why = [f"*{markdown_text(_therapy(c, w))}*\n\n" + "\n".join(_why(c, sources, w)) for c in ranked]
    detail = "\n\n".join([*actions, "**" + w("Ranked options") + "**\n\n" + "\n".join(options), "**" + w("Why") + "**", *why,
                           _footer(assessment, sources, w)])
    best = ranked[0]
    equal = [c for c in ranked[1:] if c.rank == best.rank]
    headline = (w("Best TCRT option: {verdict}").format(verdict=verdict_line(best, w)) if not equal else
                w("Best TCRT options, equal: {therapies}").format(therapies=", ".join(_therapy(c, w) for c in (best, *equal))))
    return _card({
        "summary": _summary(headline),
        "indicator": "info" if is_usable(best.verdict) else "warning",
        "source": _source("summary", w("Ranking of candidate therapies")),
        "detail": detail,
        "links": w.links(),
    }, hook_instance)


def _data_quality_card(assessment: Assessment, hook_instance: str, w: Words = ENGLISH_WORDS) -> Card | None:
    groups = warning_groups(assessment.warnings, w)
    if not groups:
        return None
    issues = w("1 data issue") if len(groups) == 1 else w("{count} data issues").format(count=len(groups))
    # with no options shown (a record not assessed), there are none for the issues to change
    summary = w("Check the record: {issues} may change these options") if assessment.candidates else \
        w("Check the record: {issues}")
    return _card({
        "summary": _summary(summary.format(issues=issues)),
        "indicator": "warning",
        "source": _source("data-quality", w("Data the assessment could not use as given")),
        "detail": "\n".join(f"- {markdown_text(g)}" for g in groups),
        "links": w.links(),
    }, hook_instance)


def patient_view_cards(assessment: Assessment, hook_instance: str = "", language: str = ENGLISH) -> list[Card]:
    """One summary card, then a data-quality card when the record had warnings; in ``language``."""
    words = Words(language, assessment.catalog) if language != ENGLISH else ENGLISH_WORDS
    quality = _data_quality_card(assessment, hook_instance, words)
    return [_summary_card(assessment, hook_instance, words), *([quality] if quality else [])]


def _alternative(assessment: Assessment, ordered: CandidateAssessment) -> CandidateAssessment | None:
    """The best-ranked other candidate with a better, usable verdict that also ranks above the order
    (a CAR-T indeterminate only for a missing fact ranks above the bsAbs cautioned for CAR-T first:
    what firms it up is the action, never a swap to a therapy ranked later)."""
    return next((c for c in assessment.candidates if c.therapy != ordered.therapy and is_usable(c.verdict)
                 and severity(c.verdict) < severity(ordered.verdict) and c.rank < ordered.rank), None)


def _medication(candidate: CandidateAssessment, catalog: Catalog) -> dict[str, Any]:
    agent = catalog.lookup(candidate.therapy)
    coding = [{"system": _FHIR_SYSTEMS[c.system], "version": c.version, "code": c.code, "display": agent.name}
              for c in agent.codes if c.system in _FHIR_SYSTEMS] if agent is not None else []
    return {"text": candidate.therapy, **({"coding": coding} if coding else {})}


def _replace(draft: Mapping[str, Any], reference: str, ordered: CandidateAssessment, alternative: CandidateAssessment,
             patient_id: str, catalog: Catalog) -> tuple[str, tuple[CardAction, ...]]:
    subject = draft.get("subject") if isinstance(draft.get("subject"), dict) else {"reference": f"Patient/{patient_id}"}
    order = {"resourceType": "MedicationRequest", "status": "draft", "intent": draft.get("intent", "order"),
             "subject": subject, "medicationCodeableConcept": _medication(alternative, catalog)}
    return (f"Order {alternative.therapy} instead", (
        CardAction("delete", f"Remove the draft order for {ordered.therapy}", resourceId=reference),
        CardAction("create", f"Draft an order for {alternative.therapy} (dose and schedule to complete)", resource=order),
    ))


def order_cards(assessment: Assessment, orders: Sequence[Order], catalog: Catalog, hook_instance: str = "",
                language: str = ENGLISH, notes: Sequence[str] = ()) -> list[Card]:
    """One card per ordered therapy, in ``language``; ``notes`` on the draft orders join the record's warnings."""
    w = Words(language, catalog) if language != ENGLISH else ENGLISH_WORDS
    if not assessment.gate.assessed:
        return [_summary_card(assessment, hook_instance, w)]
    cards = []
    groups = warning_groups([*assessment.warnings, *notes], w)
    for order in orders:
        ordered = assessment.candidate(order.name)
        alternative = _alternative(assessment, ordered)
        sources = _Sources()
        parts = [f"**{markdown_text(verdict_line(ordered, w))}** — {markdown_text(_kind(ordered, w))}",
                 "\n".join(_why(ordered, sources, w))]
        if alternative is None and ordered.verdict == "indeterminate" and assessment.actions:
            parts.append("**" + w("To do first") + "**\n\n" + "\n".join(f"- {markdown_text(w.action(a))}" for a in assessment.actions))
        if alternative is not None:
            parts.append(w("Best-ranked alternative: **{verdict}** — {kind}").format(
                verdict=markdown_text(verdict_line(alternative, w)), kind=markdown_text(_kind(alternative, w))))
        if groups:
            parts.append("**" + w("Check the record") + "**\n\n" + "\n".join(f"- {markdown_text(g)}" for g in groups))
        parts.append(_footer(assessment, sources, w))
        indicator = ORDER_INDICATORS[ordered.verdict]
        suggest = [_replace(order.request, order.reference, ordered, alternative, assessment.patient_id, catalog)] \
            if alternative is not None and order.reference is not None else []
        cards.append(_card({
            "summary": _summary(verdict_line(ordered, w)),
            "indicator": indicator,
            "source": _source("order", w("The therapy being ordered")),
            "detail": "\n\n".join(parts),
            "overrideReasons": w.override_codings() if indicator != "info" else (),
            "links": w.links(),
        }, hook_instance, suggest))
    return cards


def not_assessed_card(summary: str, said: Sequence[str], topic: str, hook_instance: str = "") -> Card:
    """A warning card saying the record was not assessed, and why (``said``: one line each, in words)."""
    return _card({
        "summary": _summary(summary),
        "indicator": "warning",
        "source": _source(topic, "The record could not be assessed"),
        "detail": "\n".join(f"- {markdown_text(line)}" for line in said),
        "links": _LINKS,
    }, hook_instance)


def _problem(line: str) -> str:
    """A problem in a clinician's words: a notice from its code and path; a plain string (a request
    the service could not read, a limit) with its paths in words."""
    return notice_words(line, clinical=True) if isinstance(line, Notice) else clinical(line)


def problems_card(problems: Sequence[str], hook_instance: str = "") -> Card:
    """The record could not be read: one warning card naming each problem, the same problem said
    once with the places it was found (as on the data card), so that the card stays short."""
    count = f"{len(problems)} data problem{'s' if len(problems) != 1 else ''}"
    return not_assessed_card(f"TCRT sequencing not assessed: the patient record has {count} to correct",
                             warning_groups(problems), "data-problem", hook_instance)


_RAISE_LIMITS = ("No assessment was made on part of the record: reopen it later, or ask the EHR team to raise the"
                 " service's FHIR read limits.")


def cut_card(why: str, hook_instance: str = "", advice: str = _RAISE_LIMITS) -> Card:
    """A FHIR read stopped at a limit, or a prefetch holding part of a search: no assessment on part of the record."""
    return not_assessed_card("TCRT sequencing not assessed: the record could not be read in full",
                             [_problem(why), _problem(advice)], "data-cut", hook_instance)


INCOMPLETE_PREFETCH = ("No assessment was made on part of the record: the EHR should send every page, or a"
                       " fhirServer with fhirAuthorization so that the service reads them.")


def response(cards: Iterable[Card]) -> dict[str, Any]:
    """The body of a CDS Service response: ``{"cards": [...]}``."""
    return {"cards": [card.to_dict() for card in cards]}
