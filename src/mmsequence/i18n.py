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


def N_(context: str, message: str) -> str:
    """Marks a word that is translated at run time with ``pgettext(context, word)``, for extraction."""
    return message


#: Words that reach the outputs as data (verdicts, evidence levels, states), so that the catalog
#: extraction (``babel.cfg``) sees them.
DATA_WORDS = (
    N_("verdict", "preferred"), N_("verdict", "acceptable"), N_("verdict", "caution"),
    N_("verdict", "indeterminate"), N_("verdict", "wait"), N_("verdict", "avoid"),
    N_("evidence", "review"), N_("evidence", "guideline"), N_("evidence", "guideline-secondary"),
    N_("evidence", "trial-data"), N_("evidence", "label"), N_("evidence", "interpretation"),
    N_("apheresis", "none"), N_("apheresis", "pending"), N_("apheresis", "collected"), N_("apheresis", "used"),
    N_("apheresis", "failed"), N_("apheresis", "cancelled"), N_("apheresis", "planned"), N_("apheresis", "done"),
    N_("stop", "progression"), N_("stop", "toxicity"), N_("stop", "completed"), N_("stop", "patient-choice"),
    N_("stop", "other"),
    N_("answer", "yes"), N_("answer", "no"), N_("answer", "unknown"),
    # values that rule messages quote
    N_("fact", "yes"), N_("fact", "no"), N_("fact", "unknown"), N_("fact", "none"), N_("fact", "US"), N_("fact", "EU"),
    N_("fact", "CN"), N_("fact", "investigational"), N_("fact", "discontinued"), N_("fact", "preclinical"),
    N_("fact", "conventional"), N_("fact", "adc"), N_("fact", "nk-engager"), N_("fact", "unknown modality"),
    N_("fact", "the first dose, at the earliest on the evaluation date"), N_("fact", "the planned apheresis"),
    N_("fact", "the apheresis that collected the T cells"), N_("fact", "apheresis"), N_("fact", "the first dose"),
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
