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
from .errors import InputError, MmsequenceError

if TYPE_CHECKING:
    from .assessment import Finding

ENGLISH = "en"
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


def NP_(context: str, message: str) -> str:
    """Marks a word that is translated at run time with ``pgettext(context, word)``, for extraction."""
    return message


#: Words that reach the outputs as data (verdicts, evidence levels, states), so that the catalog
#: extraction (``babel.cfg``) sees them.
DATA_WORDS = (
    NP_("verdict", "preferred"), NP_("verdict", "acceptable"), NP_("verdict", "caution"),
    NP_("verdict", "indeterminate"), NP_("verdict", "wait"), NP_("verdict", "avoid"),
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
        raise MmsequenceError(
            f"output in {language} needs the 'i18n' extra: pip install 'mmsequence[i18n]' (babel is missing)"
        ) from None


@functools.lru_cache(maxsize=None)
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


def format_when(value: PartialDate | datetime.date | str | None, language: str = ENGLISH) -> str:
    """A day, a month or a year as the reader writes it (``2025-09`` is ``2025年9月``); a span of
    days, or any date in English, as its ISO text."""
    if value is None or value == "":
        return ""
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


_LINE_LABEL = re.compile(r"lines\[(\d+)\]")
_ISO_DAY = re.compile(r"\d{4}(?:-\d{2}){0,2}")


def _localise(value: Any, language: str, catalog: Catalog, tr: gettext.NullTranslations) -> str:
    """A fact quoted in a message, for a reader of ``language``: known words translated, dates as
    the reader writes them, drugs by their display names, ``lines[i]`` as the line's number."""
    text = str(value)
    word = tr.pgettext("fact", text)
    if word != text:
        return word
    if _ISO_DAY.fullmatch(text):
        return format_when(text, language)
    text = _LINE_LABEL.sub(lambda m: tr.gettext("line {number}").format(number=int(m[1]) + 1), text)
    for agent in catalog.agents:
        if agent.display and agent.name in text:
            text = re.sub(rf"(?<![\w-]){re.escape(agent.name)}(?![\w-])", agent.display_name(language), text)
    return text


def finding_message(finding: Finding, language: str, catalog: Catalog) -> str:
    """The finding's message in ``language`` from its rule's translated template; the English
    message when the rule has no translation into it."""
    template = dict(finding.templates).get(language)
    if language == ENGLISH or template is None:
        return finding.message
    tr = translations(language)
    return re.sub(r"\{(\w+\.\w+)\}", lambda m: _localise(finding.values[m[1]], language, catalog, tr), template)
