"""The agent catalog: which drug a name or code means, and what kind of drug it is.

The data lives in ``rules/agents.yaml``; this module validates, indexes and looks it up. Each
agent has a role (anti-myeloma therapy, transplant conditioning, CAR-T lymphodepletion, CRS
management, premedication, supportive care) that decides how a history treats it; a coded drug
the catalog does not hold is classified by its ATC code (``atc_fallback_role``). The
``regimens`` section names the usual combinations (KPd: carfilzomib, pomalidomide, dexamethasone),
so that a line reads as a clinician writes it.
"""

from __future__ import annotations

import datetime
import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from . import _yaml as yaml
from ._paths import rules_dir
from .errors import RuleFileError
from .history import JURISDICTIONS
from .knowledge import Reviewed, as_day, parse_reviewed
from .vocabulary import MODALITIES as MODALITIES  # re-exported: the catalog checks agents against it
from .vocabulary import TCRT_MODALITIES, Modality

#: The targets of T-cell redirecting therapy, in the order they are shown (any other target after them).
TCRT_TARGETS = ("BCMA", "GPRC5D", "FcRH5")
#: A regimen's modality is the first of these that one of its agents has.
_REGIMEN_MODALITY: tuple[Modality, ...] = ("car-t", "bsab", "adc", "nk-engager", "conventional")
STATUSES = ("approved", "investigational", "discontinued", "preclinical")
#: What a drug is for, which decides how a history treats it:
#: anti-myeloma counts toward lines, class exposure and the washout; conditioning belongs to the
#: transplant line and lymphodepletion to the CAR-T line; the last three are never a line.
ROLES = ("anti-myeloma", "conditioning", "lymphodepletion", "crs-management", "premedication", "supportive")
#: Roles of drugs that are not directed at the myeloma: modality none, no targets.
NOT_DIRECTED_AT_MYELOMA = ("crs-management", "premedication", "supportive")
#: ATC groups whose drugs may be anti-myeloma therapy (antineoplastic agents, endocrine therapy,
#: immunosuppressants, systemic corticosteroids); an uncatalogued drug outside them is supportive.
ANTI_MYELOMA_ATC_GROUPS = ("L01", "L02", "L04", "H02")

_AGENT_KEYS = ("name", "targets", "modality", "class", "status", "role")
_OPTIONAL_AGENT_KEYS = ("synonyms", "codes", "contexts", "approved_in", "display")
#: Keys an agent has only in the shipped catalog: the ids of the catalog sources it was written from.
_CATALOG_AGENT_KEYS = ("source",)
#: Languages an agent may have a display name in (besides its canonical English name).
DISPLAY_LANGUAGES = ("zh-CN",)
_CODE_KEYS = ("system", "version", "code", "source")
_KEBAB_CASE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ATC_CODE = re.compile(r"[A-Z][0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?")
_MARKS = str.maketrans("", "", "®™")
_NO_SYNONYMS: Mapping[str, str] = MappingProxyType({})
_NAME = operator.attrgetter("name")


class CatalogError(RuleFileError, ValueError):
    """Invalid catalog data; each problem starts with the file and the entry path (``agents[3].modality``)."""


@functools.lru_cache(maxsize=8192)
def normalise(name: str) -> str:
    """Matching key of a name: NFKC, casefolded, without whitespace, dashes, underscores, dots, ® and ™."""
    text = unicodedata.normalize("NFKC", name.translate(_MARKS)).casefold()
    return "".join(c for c in text if not (c.isspace() or c in "_." or unicodedata.category(c) == "Pd"))


def _code_key(system: str, code: str) -> tuple[str, str]:
    return system.strip().casefold(), code.strip().casefold()


@attrs.frozen
class Code:
    """A code in one edition of one coding system, e.g. ATC "2024 DE" L01FX24, and where it was read."""

    system: str
    version: str
    code: str
    source: str


def atc_fallback_role(code: str) -> str | None:
    """The role of an uncatalogued drug by its ATC code: 'supportive' outside L01, L02, L04 and H02, else None.

    A drug in those groups may be anti-myeloma therapy, so it stays unknown (a safety finding).
    """
    text = code.strip().upper()
    if len(text) < 3 or not text[0].isalpha():
        return None
    return None if text.startswith(ANTI_MYELOMA_ATC_GROUPS) else "supportive"


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _codes(values: Iterable[Code]) -> tuple[Code, ...]:
    return tuple(values)


def _agents(values: Iterable[Agent]) -> tuple[Agent, ...]:
    return tuple(values)


def _display(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(dict(values).items()))


def _regimens(values: Iterable[Regimen]) -> tuple[Regimen, ...]:
    return tuple(values)


@attrs.frozen
class Agent:
    """One drug: canonical name, other names, targets on the myeloma cell, modality, class and status."""

    name: str
    targets: tuple[str, ...] = attrs.field(converter=_names)
    modality: Modality = attrs.field(validator=attrs.validators.in_(MODALITIES))
    drug_class: str
    status: str = attrs.field(validator=attrs.validators.in_(STATUSES))
    synonyms: tuple[str, ...] = attrs.field(default=(), converter=_names)
    codes: tuple[Code, ...] = attrs.field(default=(), converter=_codes)
    role: str = attrs.field(default="anti-myeloma", validator=attrs.validators.in_(ROLES))
    contexts: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: The ids of the catalog sources the entry was written from (a site's own agents have none).
    sources: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: Where an approved agent is on the market when that is not the US and the EU (e.g. ``("CN",)``).
    approved_in: tuple[str, ...] = attrs.field(default=(), converter=_names)
    #: The name shown to a reader of each language, by language tag; each is also a synonym.
    display: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_display)

    @property
    def is_tcrt(self) -> bool:
        """Whether the agent is a T-cell redirecting therapy (bispecific T-cell engager or CAR-T)."""
        return self.modality in TCRT_MODALITIES

    def display_name(self, language: str | None = None) -> str:
        """The name a reader of ``language`` knows it by; the canonical name where none is given."""
        return dict(self.display).get(language or "", self.name)

    def available_in(self, jurisdiction: str | None) -> bool:
        """Whether an approved agent is on the market in ``jurisdiction`` (None: the US or the EU)."""
        return not self.approved_in or bool(({jurisdiction} if jurisdiction else {"US", "EU"}) & set(self.approved_in))

    @property
    def is_anti_myeloma(self) -> bool:
        """Whether the agent, in its own role, is anti-myeloma therapy (counts toward lines, exposure, washout)."""
        return self.role == "anti-myeloma"

    def may_be(self, role: str) -> bool:
        """Whether the agent plays this role in its own right or in one of its contexts."""
        return role == self.role or role in self.contexts


@attrs.frozen
class Regimen:
    """A combination: its name, the canonical names of its agents and its abbreviations (the first
    is how it is shown: ``line 3 (KPd)``; none where no source gives one), its status as a
    combination (None: its agents' statuses decide) and the ids of its sources."""

    name: str
    agents: frozenset[str] = attrs.field(converter=frozenset)
    abbreviations: tuple[str, ...] = attrs.field(converter=_names)
    status: str | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.in_(STATUSES)))
    sources: tuple[str, ...] = attrs.field(default=(), converter=_names)

    @property
    def abbreviation(self) -> str | None:
        return self.abbreviations[0] if self.abbreviations else None


@attrs.frozen
class Source:
    """Where catalog entries were read: a citation, and the day the entries were last checked against it."""

    id: str
    citation: str
    reviewed: datetime.date

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "citation": self.citation, "reviewed": self.reviewed.isoformat()}


def as_one_therapy(name: str, parts: Iterable[Agent], status: str) -> Agent:
    """A regimen as the sequencing rules see it: one therapy whose targets are all its agents'
    targets (those of T-cell redirecting therapy first), a TCRT when one of its agents is, with the
    modality of its most specific agent (a CAR-T, else a bsAb, an ADC, an NK-cell engager)."""
    agents = tuple(parts)
    found = {t for a in agents for t in a.targets}
    targets = tuple(t for t in TCRT_TARGETS if t in found) + tuple(sorted(found - set(TCRT_TARGETS)))
    modality = next(m for m in _REGIMEN_MODALITY if any(a.modality == m for a in agents))
    return Agent(name, targets, modality, "regimen", status)


def _sources(values: Iterable[Source]) -> tuple[Source, ...]:
    return tuple(values)


@attrs.frozen
class Catalog:
    """Agents in catalog order, indexed by normalised name and by code; no name or code may mean two
    agents. ``regimens`` are the usual combinations of catalog agents, each set of agents once."""

    agents: tuple[Agent, ...] = attrs.field(converter=_agents)
    regimens: tuple[Regimen, ...] = attrs.field(default=(), converter=_regimens)
    #: When the catalog as a whole was last checked against its sources (None: not dated).
    reviewed: Reviewed | None = None
    sources: tuple[Source, ...] = attrs.field(default=(), converter=_sources)
    _by_name: dict[str, Agent] = attrs.field(init=False, repr=False, eq=False)
    _by_code: dict[tuple[str, str], Agent] = attrs.field(init=False, repr=False, eq=False)
    _by_agents: dict[frozenset[str], Regimen] = attrs.field(init=False, repr=False, eq=False)
    _by_regimen_name: dict[str, Regimen] = attrs.field(init=False, repr=False, eq=False)
    _approved: dict[str | None, tuple[Agent, ...]] = attrs.field(init=False, repr=False, eq=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, Agent] = {}
        by_code: dict[tuple[str, str], Agent] = {}
        by_regimen: dict[str, Regimen] = {}
        problems: list[str] = []
        for i, agent in enumerate(self.agents):
            paths = [f"agents[{i}].name"] + [f"agents[{i}].synonyms[{j}]" for j in range(len(agent.synonyms))]
            for path, name in zip(paths, (agent.name, *agent.synonyms)):
                key = normalise(name)
                other = by_name.setdefault(key, agent)
                if not key:
                    problems.append(f"{path}: {name!r} has no letters or digits")
                elif other is not agent:
                    problems.append(f"{path}: {name!r} is also a name of {other.name!r}")
            for j, code in enumerate(agent.codes):
                other = by_code.setdefault(_code_key(code.system, code.code), agent)
                if other is not agent:
                    problems.append(
                        f"agents[{i}].codes[{j}]: {code.system} {code.code} is also a code of {other.name!r}"
                    )
        for i, regimen in enumerate(self.regimens):
            paths = [f"regimens[{i}].name"] + [f"regimens[{i}].abbreviations[{j}]" for j in range(len(regimen.abbreviations))]
            for path, name in zip(paths, (regimen.name, *regimen.abbreviations)):
                key = normalise(name)
                taken = by_name.get(key)
                known = by_regimen.setdefault(key, regimen)
                if taken is not None:
                    problems.append(f"{path}: {name!r} is also a name of the agent {taken.name!r}")
                elif known is not regimen:
                    problems.append(f"{path}: {name!r} is also a name of the regimen {known.name!r}")
        if problems:
            raise CatalogError(problems)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_code", by_code)
        object.__setattr__(self, "_by_agents", {r.agents: r for r in self.regimens})
        object.__setattr__(self, "_by_regimen_name", by_regimen)

    def lookup(self, name: str) -> Agent | None:
        """The agent with this canonical name or synonym (compared normalised), else None."""
        return self._by_name.get(normalise(name))

    def by_code(self, system: str, code: str) -> Agent | None:
        """The agent carrying this code of this system (any edition; case-insensitive), else None."""
        return self._by_code.get(_code_key(system, code))

    def regimen(self, agents: Iterable[Agent]) -> Regimen | None:
        """The regimen made of exactly these agents, if the catalog names one."""
        return self._by_agents.get(frozenset(map(_NAME, agents)))

    def regimen_named(self, name: str) -> Regimen | None:
        """The regimen with this name or abbreviation (compared normalised, as a drug's synonyms are), else None."""
        return self._by_regimen_name.get(normalise(name))

    def regimen_status(self, agents: Iterable[Agent]) -> str:
        """A combination's status: the one the catalog gives it; a combination holding a T-cell
        redirecting therapy that the catalog does not give one is investigational (approved only where
        a source says so); any other takes the least advanced status of its agents."""
        parts = tuple(agents)
        regimen = self.regimen(parts)
        if regimen is not None and regimen.status is not None:
            return regimen.status
        if any(a.is_tcrt for a in parts):
            return "investigational"
        return max((a.status for a in parts), key=STATUSES.index)

    def source(self, source_id: str) -> Source | None:
        """The catalog source with this id, else None."""
        return next((s for s in self.sources if s.id == source_id), None)

    def approved_tcrts(self, jurisdiction: str | None = None) -> tuple[Agent, ...]:
        """Approved bispecific T-cell engagers and CAR-Ts on the market in ``jurisdiction``, in catalog order.

        Without a jurisdiction: those approved in the US or the EU.
        """
        found = self._approved.get(jurisdiction)
        if found is None:
            found = self._approved[jurisdiction] = tuple(
                agent for agent in self.agents
                if agent.status == "approved" and agent.is_tcrt and agent.available_in(jurisdiction))
        return found

    def extended(self, agents: Iterable[Agent] = (), synonyms: Mapping[str, str] = _NO_SYNONYMS,
                 codes: Mapping[str, str] = _NO_SYNONYMS, source: str = "site policy") -> Catalog:
        """A new catalog with a site's extra agents, extra synonyms (synonym -> name of a known agent)
        and extra codes ('system|code' -> name of a known agent; the system as the record writes it).

        Raises :class:`CatalogError` listing every clash: an agent name, synonym or code already
        taken, a synonym or code whose agent is unknown.
        """
        base = Catalog((*self.agents, *agents), self.regimens, self.reviewed, self.sources)
        added: dict[str, list[str]] = {}
        problems = []
        for synonym, target in synonyms.items():
            agent = base.lookup(target)
            existing = base.lookup(synonym)
            if agent is None:
                problems.append(f"synonym {synonym!r}: {target!r} is not an agent in the catalog")
            elif existing is not None and existing is not agent:
                problems.append(f"synonym {synonym!r} for {agent.name!r} is already a name of {existing.name!r}")
            else:
                added.setdefault(agent.name, []).append(synonym)
        coded: dict[str, list[Code]] = {}
        for key, target in codes.items():
            system, code = key.split("|", 1)
            agent = base.lookup(target)
            existing = base.by_code(system, code)
            if agent is None:
                problems.append(f"code {key!r}: {target!r} is not an agent in the catalog")
            elif existing is not None and existing is not agent:
                problems.append(f"code {key!r} for {agent.name!r} is already a code of {existing.name!r}")
            else:
                coded.setdefault(agent.name, []).append(Code(system, "site", code, source))
        if problems:
            raise CatalogError(problems)
        return Catalog(
            (attrs.evolve(agent, synonyms=(*agent.synonyms, *added.get(agent.name, ())),
                          codes=(*agent.codes, *coded.get(agent.name, ()))) for agent in base.agents),
            self.regimens, self.reviewed, self.sources,
        )


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file; by default the shipped ``rules/agents.yaml`` (read once)."""
    return _shipped_catalog() if path is None else _read_catalog(Path(path))


@functools.lru_cache(maxsize=1)
def _shipped_catalog() -> Catalog:
    return _read_catalog(rules_dir() / "agents.yaml")


def _read_catalog(path: Path) -> Catalog:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CatalogError([f"{path}: not valid YAML: {error}"]) from None
    problems: list[str] = []
    agents = _parse_catalog(data, problems)
    mapping = data if isinstance(data, dict) else {}
    regimens = _parse_regimens(mapping.get("regimens", []), agents, problems)
    reviewed = None
    if "reviewed" in mapping or "review_every_months" in mapping:
        reviewed = parse_reviewed(mapping.get("reviewed"), mapping.get("review_every_months"), "", problems)
    sources = _parse_sources(mapping.get("sources", {}), problems)
    if not problems:
        try:
            return Catalog(agents, regimens, reviewed, sources)
        except CatalogError as error:
            problems = list(error.problems)
    raise CatalogError([f"{path}: {problem}" for problem in problems])


def _parse_catalog(data: Any, problems: list[str]) -> list[Agent]:
    if not isinstance(data, dict):
        problems.append("expected a mapping with the keys version and agents")
        return []
    _check_keys("", data, ("version", "agents"), ("regimens", "reviewed", "review_every_months", "sources"), problems)
    if "version" in data and data["version"] != 1:
        problems.append(f"version: {data['version']!r} is not 1")
    return parse_agents(data.get("agents", []), "agents", problems, catalog=True)


def _parse_sources(entries: Any, problems: list[str]) -> list[Source]:
    """The catalog's ``sources``: id -> {citation, reviewed}."""
    if not isinstance(entries, dict):
        problems.append("sources: expected a mapping of source id to {citation, reviewed}")
        return []
    found = []
    for key, entry in entries.items():
        path = f"sources.{key}"
        if not isinstance(entry, dict):
            problems.append(f"{path}: expected a mapping with the keys citation and reviewed")
            continue
        _check_keys(f"{path}.", entry, ("citation", "reviewed"), (), problems)
        _check_text(f"{path}.citation", entry.get("citation"), problems)
        day = as_day(entry.get("reviewed"))
        if "reviewed" in entry and day is None:
            problems.append(f"{path}.reviewed: {entry['reviewed']!r} is not a date (YYYY-MM-DD)")
        if day is not None and isinstance(entry.get("citation"), str):
            found.append(Source(str(key), entry["citation"].strip(), day))
    return found


def parse_agents(entries: Any, path: str, problems: list[str], catalog: bool = False) -> list[Agent]:
    """Agents from catalog-style entries (the catalog's own, or a site policy's), problems named under
    ``path``; only the catalog's own entries name their ``source``."""
    if not isinstance(entries, list):
        problems.append(f"{path}: expected a list")
        return []
    parsed = (_parse_agent(f"{path}[{i}]", entry, problems, catalog) for i, entry in enumerate(entries))
    return [agent for agent in parsed if agent is not None]


def _parse_agent(path: str, entry: Any, problems: list[str], catalog: bool = False) -> Agent | None:
    before = len(problems)
    if not isinstance(entry, dict):
        problems.append(f"{path}: expected a mapping")
        return None
    _check_keys(f"{path}.", entry, _AGENT_KEYS, _OPTIONAL_AGENT_KEYS + (_CATALOG_AGENT_KEYS if catalog else ()), problems)
    for key, value in entry.items():
        if key in _AGENT_CHECKS:
            _AGENT_CHECKS[key](f"{path}.{key}", value, problems)
    if isinstance(entry.get("display"), dict) and isinstance(entry.get("name"), str):
        names = {normalise(n) for n in (entry["name"], *(entry.get("synonyms") or ()) ) if isinstance(n, str)}
        problems.extend(f"{path}.display.{language}: {name!r} is not the name or one of the synonyms"
                        for language, name in entry["display"].items()
                        if isinstance(name, str) and normalise(name) not in names)
    if len(problems) == before:
        _check_role_fits(path, entry, problems)
    if len(problems) > before:
        return None
    return Agent(
        name=entry["name"],
        targets=entry["targets"],
        modality=entry["modality"],
        drug_class=entry["class"],
        status=entry["status"],
        synonyms=entry.get("synonyms", ()),
        codes=(Code(**code) for code in entry.get("codes", ())),
        role=entry["role"],
        contexts=entry.get("contexts", ()),
        sources=_source_ids(entry.get("source")),
        approved_in=entry.get("approved_in", ()),
        display=entry.get("display", {}),
    )


def _source_ids(value: Any) -> tuple[str, ...]:
    """A ``source`` key: one source id, or a list of them (checked by :func:`_check_source`)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _check_source(path: str, value: Any, problems: list[str]) -> None:
    if isinstance(value, str):
        _check_text(path, value, problems)
    else:
        _check_texts(path, value, problems)


_REGIMEN_KEYS = ("name", "agents", "abbreviations")
_OPTIONAL_REGIMEN_KEYS = ("status", "source")


def _parse_regimens(entries: Any, agents: list[Agent], problems: list[str]) -> list[Regimen]:
    """Regimens from the catalog's ``regimens`` section: agents by canonical name, each combination once."""
    if not isinstance(entries, list):
        problems.append("regimens: expected a list")
        return []
    known = {agent.name for agent in agents}
    regimens: list[Regimen] = []
    seen: dict[frozenset[str], str] = {}
    for i, entry in enumerate(entries):
        path = f"regimens[{i}]"
        before = len(problems)
        if not isinstance(entry, dict):
            problems.append(f"{path}: expected a mapping")
            continue
        _check_keys(f"{path}.", entry, _REGIMEN_KEYS, _OPTIONAL_REGIMEN_KEYS, problems)
        _check_text(f"{path}.name", entry.get("name"), problems)
        for key in ("agents", "abbreviations"):
            _check_texts(f"{path}.{key}", entry.get(key), problems)
        if isinstance(entry.get("agents"), list) and len(entry["agents"]) < 2:
            problems.append(f"{path}.agents: expected at least two agents")
        if entry.get("abbreviations") == [] and "status" not in entry:
            problems.append(f"{path}.abbreviations: expected at least one (only a combination with its status, which"
                            " a candidate may name, may have none)")
        if "status" in entry:
            _check_status(f"{path}.status", entry["status"], problems)
        if "source" in entry:
            _check_source(f"{path}.source", entry["source"], problems)
        if len(problems) > before:
            continue
        problems.extend(f"{path}.agents: {name!r} is not a canonical agent name in the catalog"
                        for name in entry["agents"] if name not in known)
        combination = frozenset(entry["agents"])
        if combination in seen:
            problems.append(f"{path}.agents: the same agents as {seen[combination]}")
        seen[combination] = path
        if len(problems) == before:
            regimens.append(Regimen(entry["name"], combination, entry["abbreviations"], entry.get("status"),
                                    _source_ids(entry.get("source"))))
    return regimens


def _check_keys(
    prefix: str, mapping: dict[Any, Any], required: tuple[str, ...], optional: tuple[str, ...], problems: list[str]
) -> None:
    problems.extend(f"{prefix}{key}: missing" for key in required if key not in mapping)
    allowed = required + optional
    problems.extend(
        f"{prefix}{key}: unknown key (allowed: {', '.join(allowed)})" for key in mapping if key not in allowed
    )


def _check_text(path: str, value: Any, problems: list[str]) -> None:
    if not (isinstance(value, str) and value.strip()):
        problems.append(f"{path}: {value!r} is not a non-empty string")


def _list_of(check: Callable[[str, Any, list[str]], None]) -> Callable[[str, Any, list[str]], None]:
    """A check of a list whose items each pass ``check``."""
    def check_list(path: str, value: Any, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        for k, item in enumerate(value):
            check(f"{path}[{k}]", item, problems)
    return check_list


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any, list[str]], None]:
    """A check that a value is one of ``choices``."""
    def check_choice(path: str, value: Any, problems: list[str]) -> None:
        if value not in choices:
            problems.append(f"{path}: {value!r} is not one of {', '.join(choices)}")
    return check_choice


_check_texts = _list_of(_check_text)
_check_modality = _one_of(MODALITIES)
_check_status = _one_of(STATUSES)
_check_role = _one_of(ROLES)
_check_roles = _list_of(_check_role)


def _check_contexts(path: str, value: Any, problems: list[str]) -> None:
    _check_roles(path, value, problems)
    if isinstance(value, list) and len(set(map(str, value))) < len(value):
        problems.append(f"{path}: names a role twice")


def _check_role_fits(path: str, entry: dict[str, Any], problems: list[str]) -> None:
    """Contexts name other roles; a drug not directed at myeloma has modality none and no targets."""
    role = entry["role"]
    if role in entry.get("contexts", ()):
        problems.append(f"{path}.contexts: names the drug's own role {role!r}")
    if role in NOT_DIRECTED_AT_MYELOMA and (entry["modality"] != "none" or entry["targets"]):
        problems.append(f"{path}.modality: a {role} drug has modality none and targets []")
    if role == "anti-myeloma" and entry["modality"] == "none":
        problems.append(f"{path}.modality: an anti-myeloma drug needs a modality other than none")


def _check_class(path: str, value: Any, problems: list[str]) -> None:
    if not (isinstance(value, str) and _KEBAB_CASE.fullmatch(value)):
        problems.append(f"{path}: {value!r} is not a kebab-case class name")


def _check_codes(path: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{path}: expected a list")
        return
    for j, code in enumerate(value):
        if not isinstance(code, dict):
            problems.append(f"{path}[{j}]: expected a mapping with the keys {', '.join(_CODE_KEYS)}")
            continue
        _check_keys(f"{path}[{j}].", code, _CODE_KEYS, (), problems)
        for key in _CODE_KEYS:
            if key in code:
                _check_text(f"{path}[{j}].{key}", code[key], problems)
        if code.get("system") == "ATC" and isinstance(code.get("code"), str) and not _ATC_CODE.fullmatch(code["code"]):
            problems.append(f"{path}[{j}].code: {code['code']!r} is not an ATC code")


def _check_approved_in(path: str, value: Any, problems: list[str]) -> None:
    if not (isinstance(value, list) and value):
        problems.append(f"{path}: expected a list of jurisdictions ({', '.join(JURISDICTIONS)})")
        return
    problems.extend(f"{path}[{k}]: {item!r} is not one of {', '.join(JURISDICTIONS)}"
                    for k, item in enumerate(value) if item not in JURISDICTIONS)


def _check_display(path: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a mapping of language ({', '.join(DISPLAY_LANGUAGES)}) to name")
        return
    for language, name in value.items():
        if language not in DISPLAY_LANGUAGES:
            problems.append(f"{path}: {language!r} is not one of {', '.join(DISPLAY_LANGUAGES)}")
        _check_text(f"{path}.{language}", name, problems)


_AGENT_CHECKS = {
    "name": _check_text,
    "targets": _check_texts,
    "synonyms": _check_texts,
    "modality": _check_modality,
    "status": _check_status,
    "class": _check_class,
    "codes": _check_codes,
    "approved_in": _check_approved_in,
    "display": _check_display,
    "role": _check_role,
    "contexts": _check_contexts,
    "source": _check_source,
}


def knowledge_problems(catalog: Catalog) -> list[str]:
    """What makes the catalog's knowledge undated (``rules --check``): no review date for the whole,
    an agent or regimen that names no source, a source it names that the ``sources`` section lacks."""
    problems = [] if catalog.reviewed is not None else ["reviewed: missing (the day the catalog was last checked against its sources)"]
    known = {s.id for s in catalog.sources}
    entries = [(f"agents[{i}] ({a.name})", a.sources) for i, a in enumerate(catalog.agents)]
    entries += [(f"regimens[{i}] ({r.name})", r.sources) for i, r in enumerate(catalog.regimens)]
    for where, ids in entries:
        if not ids:
            problems.append(f"{where}.source: missing (the catalog source the entry was written from)")
        problems += [f"{where}.source: {i!r} is not a source in the catalog's sources section" for i in ids if i not in known]
    return problems
