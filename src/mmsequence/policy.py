"""Site policy: which rule packs run, the parameters the rules read, and a site's own agent names."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import attrs

from . import _yaml as yaml
from ._paths import rules_dir
from .catalog import Agent, Catalog, CatalogError, parse_agents
from .errors import InputError
from .history import JURISDICTIONS
from .knowledge import as_day

PACK_NAMES = ("safety", "review", "extended", "labels")
ALWAYS_ON_PACK = "safety"
INTERVAL_SCOPES = ("after-bsab", "any-tcrt")
IntervalEffect = Literal["wait", "caution"]
INTERVAL_EFFECTS: tuple[IntervalEffect, ...] = get_args(IntervalEffect)
CAR_T_ANCHORS = ("planned-apheresis", "evaluation-date")
#: The Observations a FHIR record may carry for the rules, each coded as the site maps it.
OBSERVATION_KINDS = ("disease_status", "car_t_eligible", "soluble_bcma", "bcma_loss", "gprc5d_loss", "fcrh5_loss")


def _with_safety(packs: tuple[str, ...]) -> tuple[str, ...]:
    """The safety pack always, then each other pack once, in the order of PACK_NAMES."""
    return tuple(p for p in PACK_NAMES if p == ALWAYS_ON_PACK or p in packs)


def _rule_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    """Sorted and unique, so that equal settings give the same digest."""
    return tuple(sorted(set(ids)))


@attrs.frozen
class Policy:
    """The settings in effect; ``source`` says where they came from (``default`` or a file)."""

    packs: tuple[str, ...] = attrs.field(default=PACK_NAMES, converter=_with_safety)
    interval_months: int = 6
    interval_scope: str = "after-bsab"
    interval_effect: IntervalEffect = "wait"
    car_t_anchor: str = "planned-apheresis"
    interval_consecutive: bool = True
    washout_days: int = 14
    disabled_rules: tuple[str, ...] = attrs.field(default=(), converter=_rule_ids)
    jurisdiction: str | None = None
    agents: tuple[Agent, ...] = ()
    synonyms: tuple[tuple[str, str], ...] = ()
    #: The site's drug codes (local code systems, NDC), each 'system|code' -> the catalog agent it means.
    codes: tuple[tuple[str, str], ...] = ()
    #: Whether a record without a myeloma diagnosis, or with a recorded death, is left unassessed.
    myeloma_gate: bool = True
    #: The site's OMOP concept mapping (``mmsequence.omop.mapping`` reads it), as canonical JSON
    #: text so that the policy stays hashable; None when the policy has no ``omop`` section.
    omop: str | None = None
    observations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The site's own reviews of the knowledge: (part, ISO date) for the catalog or a pack it checked.
    reviews: tuple[tuple[str, str], ...] = ()
    source: str = "default"

    def observation_codes(self) -> dict[str, tuple[str, ...]]:
        """What each kind of FHIR Observation is coded as at this site: kind -> ('system|code', ...)."""
        return dict(self.observations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "packs": list(self.packs),
            "interval": {
                "months": self.interval_months, "scope": self.interval_scope,
                "effect": self.interval_effect, "car_t_anchor": self.car_t_anchor,
                "consecutive": self.interval_consecutive,
            },
            "washout": {"days": self.washout_days},
            "disabled_rules": list(self.disabled_rules),
            "jurisdiction": self.jurisdiction,
            "agents": [_agent_entry(agent) for agent in self.agents],
            "synonyms": dict(self.synonyms),
            **({"codes": dict(self.codes)} if self.codes else {}),
            **({"myeloma_gate": False} if not self.myeloma_gate else {}),
            "observations": {kind: list(codes) for kind, codes in self.observations},
            **({"reviewed": dict(self.reviews)} if self.reviews else {}),
            **({"omop": json.loads(self.omop)} if self.omop is not None else {}),
            "digest": self.digest,
        }

    @property
    def digest(self) -> str:
        return _digest(self)

    def catalog(self, base: Catalog) -> Catalog:
        """The shipped catalog with this site's agents, synonyms and codes added."""
        if not (self.agents or self.synonyms or self.codes):
            return base
        return base.extended(self.agents, dict(self.synonyms), dict(self.codes), self.source)


def _agent_entry(agent: Agent) -> dict[str, Any]:
    """An agent in the catalog's own format, so that a policy's dict reads back as the same policy."""
    entry: dict[str, Any] = {"name": agent.name, "targets": list(agent.targets), "modality": agent.modality,
                             "class": agent.drug_class, "status": agent.status, "role": agent.role}
    if agent.contexts:
        entry["contexts"] = list(agent.contexts)
    if agent.synonyms:
        entry["synonyms"] = list(agent.synonyms)
    if agent.codes:
        entry["codes"] = [attrs.asdict(code) for code in agent.codes]
    if agent.approved_in:
        entry["approved_in"] = list(agent.approved_in)
    if agent.display:
        entry["display"] = dict(agent.display)
    return entry


#: Policy keys, with the keys of each nested mapping (None: not a mapping).
_SCHEMA: dict[str, tuple[str, ...] | None] = {
    "packs": None,
    "interval": ("months", "scope", "effect", "car_t_anchor", "consecutive"),
    "washout": ("days",),
    "disabled_rules": None,
    "jurisdiction": None,
    "agents": None,
    "synonyms": None,
    "codes": None,
    "myeloma_gate": None,
    "omop": None,
    "observations": OBSERVATION_KINDS,
    "reviewed": None,
}
#: What a site's review may name: the agent catalog, or a rule pack.
REVIEWABLE = ("catalog", *PACK_NAMES)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def policy_from_mapping(data: Any, source: str, base: Policy | None = None) -> Policy:
    """Layer decoded YAML/JSON over ``base``; unknown keys and bad values are errors naming the key."""
    base = base or Policy()
    if not isinstance(data, Mapping):
        raise InputError([f"{source}: expected a mapping of policy keys"])
    problems: list[str] = []

    def fail(key: str, message: str) -> None:
        problems.append(f"{source}: {key}: {message}")

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SCHEMA:
            fail(key, f"unknown policy key (known: {', '.join(_SCHEMA)})")
        elif (subkeys := _SCHEMA[key]) is not None:
            if not isinstance(value, Mapping):
                fail(key, "expected a mapping")
                continue
            for sub in value:
                if sub not in subkeys:
                    fail(f"{key}.{sub}", f"unknown policy key (known: {', '.join(subkeys)})")
    interval: Mapping[str, Any] = data["interval"] if isinstance(data.get("interval"), Mapping) else {}
    washout: Mapping[str, Any] = data["washout"] if isinstance(data.get("washout"), Mapping) else {}
    if "packs" in data:
        packs = data["packs"]
        if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
            fail("packs", f"expected a list of rule packs ({', '.join(PACK_NAMES)})")
        elif unknown := [p for p in packs if p not in PACK_NAMES]:
            problems.extend(f"{source}: packs: {p!r} is not a rule pack ({', '.join(PACK_NAMES)})" for p in unknown)
        else:
            values["packs"] = tuple(p for p in PACK_NAMES if p == ALWAYS_ON_PACK or p in packs)
    if "months" in interval:
        if _whole(interval["months"], 1, 36):
            values["interval_months"] = interval["months"]
        else:
            fail("interval.months", f"{interval['months']!r} is not a whole number of months from 1 to 36")
    for key, field, choices in (
        ("scope", "interval_scope", INTERVAL_SCOPES),
        ("effect", "interval_effect", INTERVAL_EFFECTS),
        ("car_t_anchor", "car_t_anchor", CAR_T_ANCHORS),
    ):
        if key in interval:
            if interval[key] in choices:
                values[field] = interval[key]
            else:
                fail(f"interval.{key}", f"{interval[key]!r} is not one of {', '.join(choices)}")
    if "consecutive" in interval:
        if isinstance(interval["consecutive"], bool):
            values["interval_consecutive"] = interval["consecutive"]
        else:
            fail("interval.consecutive", f"{interval['consecutive']!r} is not true or false")
    if "days" in washout:
        if _whole(washout["days"], 0, 90):
            values["washout_days"] = washout["days"]
        else:
            fail("washout.days", f"{washout['days']!r} is not a whole number of days from 0 to 90")
    if "disabled_rules" in data:
        disabled = data["disabled_rules"]
        if isinstance(disabled, list) and all(isinstance(d, str) for d in disabled):
            values["disabled_rules"] = tuple(disabled)
        else:
            fail("disabled_rules", "expected a list of rule ids")
    if "jurisdiction" in data:
        if data["jurisdiction"] is None or data["jurisdiction"] in JURISDICTIONS:
            values["jurisdiction"] = data["jurisdiction"]
        else:
            fail("jurisdiction", f"{data['jurisdiction']!r} is not one of {', '.join(JURISDICTIONS)}, null")
    if "agents" in data:
        found: list[str] = []
        values["agents"] = tuple(parse_agents(data["agents"], "agents", found))
        problems += [f"{source}: {p}" for p in found]
    if "synonyms" in data:
        synonyms = data["synonyms"]
        if isinstance(synonyms, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in synonyms.items()):
            values["synonyms"] = tuple(sorted(synonyms.items()))
        else:
            fail("synonyms", "expected a mapping of site name to catalog agent name")
    if "codes" in data:
        codes = data["codes"]
        if isinstance(codes, Mapping) and all(isinstance(k, str) and k.count("|") == 1 and all(k.split("|"))
                                              and isinstance(v, str) for k, v in codes.items()):
            values["codes"] = tuple(sorted(codes.items()))
        else:
            fail("codes", "expected a mapping of 'system|code' (a local code system, NDC) to catalog agent name")
    if "myeloma_gate" in data:
        if isinstance(data["myeloma_gate"], bool):
            values["myeloma_gate"] = data["myeloma_gate"]
        else:
            fail("myeloma_gate", f"{data['myeloma_gate']!r} is not true or false")
    if "reviewed" in data:
        reviews = data["reviewed"]
        if not isinstance(reviews, Mapping):
            fail("reviewed", f"expected a mapping of {', '.join(REVIEWABLE)} to the day the site checked it (YYYY-MM-DD)")
        else:
            checked = {}
            for part, day in reviews.items():
                if part not in REVIEWABLE:
                    fail(f"reviewed.{part}", f"not one of {', '.join(REVIEWABLE)}")
                elif as_day(day) is None:
                    fail(f"reviewed.{part}", f"{day!r} is not a date (YYYY-MM-DD)")
                else:
                    checked[part] = str(as_day(day))
            values["reviews"] = tuple(sorted(checked.items()))
    if "omop" in data:
        try:
            if not isinstance(data["omop"], Mapping):
                raise TypeError
            values["omop"] = json.dumps(_json_keys(data["omop"]), sort_keys=True, default=str)
        except (TypeError, ValueError):  # not a mapping, or a value JSON cannot hold
            fail("omop", "expected a mapping of OMOP concepts (see mmsequence.omop.mapping)")
    observations = data.get("observations") if isinstance(data.get("observations"), Mapping) else {}
    if observations:
        merged = dict(base.observations)
        for kind, codes in observations.items():
            if kind not in OBSERVATION_KINDS:
                continue  # reported above as an unknown key
            if not (isinstance(codes, list) and all(isinstance(c, str) and c.count("|") == 1 and all(c.split("|"))
                                                    for c in codes)):
                fail(f"observations.{kind}", "expected a list of 'system|code' strings")
            else:
                merged[kind] = tuple(codes)
        values["observations"] = tuple(sorted(merged.items()))
    if problems:
        raise InputError(problems)
    policy = attrs.evolve(base, source=source, **values)
    return policy


def _json_keys(value: Any) -> Any:
    """Mapping keys as JSON writes them (YAML's 12 and yes become "12" and "true"), so they sort."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else json.dumps(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


def check_catalog(policy: Policy, base: Catalog) -> Catalog:
    """The policy's catalog; a synonym or agent that clashes with the catalog is an error naming the key."""
    try:
        return policy.catalog(base)
    except CatalogError as error:
        raise InputError([f"{policy.source}: agents/synonyms: {problem}" for problem in error.problems]) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """The shipped default policy, or a site policy file (YAML or JSON) layered over it."""
    base = policy_from_mapping(_read(rules_dir() / "policy.default.yaml"), "default")
    if path is None:
        return base
    return policy_from_mapping(_read(Path(path)), str(path), base)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError([f"{path}: not valid YAML or JSON ({error})"]) from None


@functools.lru_cache(maxsize=64)
def _digest(policy: Policy) -> str:
    """The digest of a policy's settings (its source file left out), computed once per policy."""
    settings = attrs.asdict(policy, filter=lambda a, v: a.name != "source" and not (a.name == "omop" and v is None)
                            and not (a.name == "reviews" and not v))
    return "sha256:" + hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
