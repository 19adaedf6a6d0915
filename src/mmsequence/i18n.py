"""The reader's language for the outputs a person reads: the text table, the board report, the cards.

Fixed words (headings, table headers, verdict words) are gettext messages: their sources are the
``.po`` files under ``locale/`` (one per language, kept with ``pybabel``, see ``babel.cfg``),
read at run time through Babel, so the installed package needs no compiled ``.mo`` files.
English is the messages' own text and needs no catalog (and no Babel). Dates are written as a
reader of the language writes them (CLDR, through Babel); drug names come from the agent
catalog's display names.
"""

from __future__ import annotations

import datetime
import functools
import gettext
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Catalog
from .dates import PartialDate
from .errors import InputError, MmsequenceError, missing_extra
from .notices import ENGLISH as ENGLISH  # the language of the templates, defined with them
from .notices import NP_

if TYPE_CHECKING:
    from .assessment import Finding

#: The languages an output can be written in, as command-line ``--lang`` values (BCP 47 tags).
LANGUAGES = (ENGLISH, "zh-CN")
_LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "mmsequence"


def negotiate(accept_language: str | None) -> str:
    """The language to answer an HTTP ``Accept-Language`` header in: the first of :data:`LANGUAGES`
    the header accepts, by its q-values (``zh``, ``zh-CN`` and ``zh-Hans`` read as zh-CN); English
    when it accepts none of them, or when the Chinese catalog cannot be read (Babel missing)."""
    wanted: list[tuple[float, int, str]] = []
    for i, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            wanted.append((-q, i, tag.strip().casefold()))
    for _, _, tag in sorted(wanted):
        if tag in ("zh", "zh-cn", "zh-hans", "zh-hans-cn"):
            try:
                translations("zh-CN")
            except MmsequenceError:
                return ENGLISH
            return "zh-CN"
        if tag in ("en", "*") or tag.startswith("en-"):
            return ENGLISH
    return ENGLISH


#: Words that reach the outputs as data (verdicts, evidence levels, states), so that the catalog
#: extraction (``babel.cfg``) sees them.
DATA_WORDS = (
    NP_("verdict", "preferred"), NP_("verdict", "acceptable"), NP_("verdict", "caution"),
    NP_("verdict", "indeterminate"), NP_("verdict", "wait"), NP_("verdict", "avoid"), NP_("verdict", "schedule"),
    NP_("evidence", "review"), NP_("evidence", "guideline"), NP_("evidence", "guideline-secondary"),
    NP_("evidence", "trial-data"), NP_("evidence", "label"), NP_("evidence", "interpretation"),
    NP_("apheresis", "none"), NP_("apheresis", "pending"), NP_("apheresis", "collected"), NP_("apheresis", "used"),
    NP_("apheresis", "failed"), NP_("apheresis", "cancelled"), NP_("apheresis", "planned"), NP_("apheresis", "done"),
    NP_("stop", "progression"), NP_("stop", "toxicity"), NP_("stop", "completed"), NP_("stop", "patient-choice"),
    NP_("stop", "other"),
    NP_("answer", "yes"), NP_("answer", "no"), NP_("answer", "unknown"),
    # values that rule messages quote
    NP_("fact", "yes"), NP_("fact", "no"), NP_("fact", "unknown"), NP_("fact", "none"), NP_("fact", "US"), NP_("fact", "EU"),
    NP_("fact", "CN"), NP_("fact", "investigational"), NP_("fact", "discontinued"), NP_("fact", "preclinical"),
    NP_("fact", "conventional"), NP_("fact", "adc"), NP_("fact", "nk-engager"), NP_("fact", "unknown modality"),
    NP_("fact", "the first dose, at the earliest on the evaluation date"), NP_("fact", "the planned apheresis"),
    NP_("fact", "the apheresis that collected the T cells"), NP_("fact", "apheresis"), NP_("fact", "the first dose"),
    # timing roles, events and actions (by code: their English is mmsequence.messages')
    NP_("timing", "wait"), NP_("timing", "schedule"),
    NP_("event", "first-dose"), NP_("event", "apheresis"), NP_("event", "planned-apheresis"),
    NP_("event", "collected-apheresis"),
    NP_("action", "resolve-car-t-eligibility"), NP_("action", "record-car-t-eligibility"),
    NP_("action", "classify-agent"), NP_("action", "classify-candidate"), NP_("action", "record-dose-date"),
    NP_("action", "record-progression-date"), NP_("action", "move-apheresis"),
    NP_("action", "record-myeloma-diagnosis"), NP_("action", "check-death"),
)


def check_language(language: str, field: str = "--lang") -> str:
    """``language`` if it is one of :data:`LANGUAGES`, else an :class:`InputError` naming ``field``."""
    if language not in LANGUAGES:
        raise InputError([f"{field}: {language!r} is not one of {', '.join(LANGUAGES)}"])
    return language


def po_file(language: str) -> Path:
    """The message catalog source of a language (``zh-CN`` -> ``locale/zh_CN/LC_MESSAGES/mmsequence.po``)."""
    return _LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def _babel(language: str):  # type: ignore[no-untyped-def]
    try:
        import babel  # noqa: F401  (only the check; the caller imports what it needs)
    except ModuleNotFoundError:
        raise missing_extra(f"output in {language}", "i18n", "babel") from None


@functools.cache
def translations(language: str = ENGLISH) -> gettext.NullTranslations:
    """The gettext translations of ``language``; English is the messages themselves."""
    check_language(language)
    if language == ENGLISH:
        return gettext.NullTranslations()
    _babel(language)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_file(language).open("rb") as source:
        catalog = read_po(source, locale=language.replace("-", "_"), domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def format_date(day: datetime.date | None, language: str = ENGLISH) -> str:
    """A calendar day as the reader writes it: ``2026-12-01`` in English, ``2026年12月1日`` in Chinese."""
    if day is None:
        return ""
    if language == ENGLISH:
        return day.isoformat()
    _babel(language)
    from babel.dates import format_date as cldr_date

    return str(cldr_date(day, "long", locale=language.replace("-", "_")))


_PRECISION_FORMATS = {"year": "y", "month": "yMMM"}


def format_when(value: PartialDate | datetime.date | str | dict[str, Any] | None, language: str = ENGLISH) -> str:
    """A day, a month or a year as the reader writes it (``2025-09`` is ``2025年9月``); a span of
    days, or any date in English, as its ISO text."""
    if value is None or value == "":
        return ""
    if isinstance(value, dict):  # a date reference of the derived summary: its recorded text
        return str(value["display"]) if language == ENGLISH else format_when(str(value["recorded"]), language)
    if language == ENGLISH:
        return str(value)
    when = value if isinstance(value, PartialDate) else PartialDate.of(value) if isinstance(
        value, datetime.date) else PartialDate.parse(value)
    if when.is_exact:
        return format_date(when.earliest, language)
    if when.precision not in _PRECISION_FORMATS:
        return str(when)
    _babel(language)
    from babel.dates import format_skeleton

    return str(format_skeleton(_PRECISION_FORMATS[when.precision], datetime.datetime.combine(when.earliest, datetime.time()),
                               locale=language.replace("-", "_")))


def drug_name(name: str, catalog: Catalog, language: str = ENGLISH) -> str:
    """A drug's name in the reader's language: the catalog's display name, else ``name`` as given."""
    agent = catalog.lookup(name)
    return agent.display_name(language) if agent is not None and language != ENGLISH else name


_ISO_DAY = re.compile(r"\d{4}(?:-\d{2}){0,2}")
#: The message templates (``messages.PLACEHOLDER``) and the action templates' ``{name}``.
_PLACEHOLDER = re.compile(r"\{(\w+)\.(\w+)(?::(\w+))?\}")
_ACTION_FIELD = re.compile(r"\{(\w+)\}")


class _Words:
    """The words for facts and references (see :mod:`mmsequence.messages`) in one language."""

    def __init__(self, language: str, catalog: Catalog) -> None:
        self.language, self.catalog = language, catalog
        self.tr = translations(language)

    def _(self, message: str) -> str:
        return self.tr.gettext(message)

    def drug(self, name: str) -> str:
        agent = self.catalog.lookup(name)
        return agent.display_name(self.language) if agent is not None else name

    def say(self, value: Any, part: str | None = None) -> str:
        _ = self._
        if value is None:
            return _("not recorded")
        if isinstance(value, bool):
            return self.say("yes" if value else "no")
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, list):
            return self.join([self.say(item, part) for item in value]) or self.tr.pgettext("fact", "none")
        if isinstance(value, str) and hasattr(value, "code"):  # a notice (mmsequence.notices)
            from .notices import words

            return words(value, self.language, self.catalog)
        if isinstance(value, dict) and "kind" in value:
            return getattr(self, f"_{value['kind']}")(value, part)  # type: ignore[no-any-return]
        text = str(value)
        word = self.tr.pgettext("fact", text)
        if word != text:
            return word
        if _ISO_DAY.fullmatch(text):
            return format_when(text, self.language)
        return self.drug(text) if self.catalog.lookup(text) is not None else text

    def join(self, items: list[str]) -> str:
        return "、".join(items)

    def _line(self, ref: dict[str, Any], part: str | None = None) -> str:
        _ = self._
        what = ref["regimen"] or " + ".join(self.drug(a) for a in ref["agents"])
        if not ref["regimen"] and ref.get("more_agents"):
            what += _(" and {count} more").format(count=ref["more_agents"])
        if ref["number"] is None:
            return _("a record not counted as a line ({what})").format(what=what)
        number = _("line {number}").format(number=ref["number"])
        return number if part == "number" else f"{number}（{what}）"

    def _exposure(self, ref: dict[str, Any], part: str | None) -> str:
        if part == "number":
            return self._line(ref, part)
        if part == "line" or ref.get("agent") is None:
            return self._line(ref)
        agent = self.drug(ref["agent"])
        return agent if part == "agent" else f"{agent}（{self._line(ref, 'number')}）"

    def _dose(self, ref: dict[str, Any], part: str | None) -> str:
        if part in ("date", "recorded"):
            return self._("the evaluation day (still given)") if ref["ongoing"] else self.say(ref["date"], part)
        return self._exposure(ref, part)

    def _date(self, ref: dict[str, Any], part: str | None) -> str:
        if part == "recorded" or ref["earliest"] != ref["latest"]:
            recorded = format_when(str(ref["recorded"]), self.language)
            return recorded if part == "recorded" else self._("{date} (day not recorded)").format(date=recorded)
        return format_when(str(ref["earliest"]), self.language)

    def _event(self, ref: dict[str, Any], part: str | None) -> str:
        if part == "date":
            return self.say(ref["date"])
        if ref["date"] is None:
            return self._("a planned apheresis with no date set")
        return self.tr.pgettext("event", ref["event"]).format(date=self.say(ref["date"]))


def finding_message(finding: Finding, language: str, catalog: Catalog) -> str:
    """The finding's message in ``language`` from its rule's translated template; the English
    message when the rule has no translation into it."""
    template = dict(finding.templates).get(language)
    if language == ENGLISH or template is None:
        return finding.message
    words = _Words(language, catalog)
    text = _PLACEHOLDER.sub(lambda m: words.say(finding.values[f"{m[1]}.{m[2]}"], m[3]), template)
    unconfident = finding.values.get("not_confident")
    if unconfident is not None:
        effect, unknown, bound = unconfident
        text = words._("{message} Not a confident {effect} while the agent catalog does not know {unknown}, which "
                       "could change the lines of therapy or the clocks it rests on.").format(
            message=text, effect=words.tr.pgettext("verdict", effect), unknown=words.say(unknown))
        if bound is not None:
            text += words._(" Whatever {unknown} is, the wait lasts at least until {date}.").format(
                unknown=words.say(unknown), date=format_date(bound, language))
    return text


def action_message(action: Any, language: str, catalog: Catalog) -> str:
    """An assessment action's sentence in ``language`` (the catalog's ``action`` context, by code)."""
    if language == ENGLISH:
        return str(action.text)
    words = _Words(language, catalog)
    template = words.tr.pgettext("action", action.code)
    return _ACTION_FIELD.sub(lambda m: words.say(action.facts[m[1]]), template)


def anchor_message(anchors: dict[str, Any], language: str, catalog: Catalog) -> str:
    """What a timing finding's clock runs from and to, in ``language``."""
    from .messages import anchor_words

    if language == ENGLISH:
        return anchor_words(anchors)
    words = _Words(language, catalog)
    dose, event = anchors.get("from"), anchors.get("to")
    parts = [words._("from the last dose of {dose} on {date}").format(dose=words.say(dose), date=words.say(dose, "date"))
             if dose else "", words._("to {event}").format(event=words.say(event)) if event else ""]
    return "，".join(p for p in parts if p)


def timing_message(verdict: str, then: str | None, earliest_date: Any, language: str) -> str:
    """A verdict with its timing: 'wait until 2026-06-15, then preferred', in ``language``."""
    from .messages import timing_words

    if language == ENGLISH:
        return timing_words(verdict, then, earliest_date)
    tr = translations(language)
    word = tr.pgettext("verdict", verdict)
    if verdict == "wait":
        return tr.gettext("wait until {date}, then {verdict}").format(
            date=format_when(earliest_date, language), verdict=tr.pgettext("verdict", then) if then else "")
    return word + (tr.gettext(", not before {date}").format(date=format_when(earliest_date, language))
                   if earliest_date else "")


def say_words(value: Any, part: str | None, language: str, catalog: Catalog) -> str:
    """A fact or a reference in ``language`` (the words of :func:`mmsequence.messages.say`)."""
    if language == ENGLISH:
        from .messages import say

        return say(value, part)
    return _Words(language, catalog).say(value, part)
