"""What a site's OMOP concepts mean: the ``omop`` section of its policy.

Drugs need no mapping: a drug exposure is named through its RxNorm ingredient and the agent
catalog. Everything else a site records in its own way, so its policy says which concepts mean
what (concept ids are numbers; YAML keys may be numbers or strings)::

    omop:
      myeloma: [437233]                 # condition concepts; every descendant counts (concept_ancestor)
      car_t_infusion:                   # procedure concepts that record a CAR-T infusion
        23456: cilta-cel                # ... naming the product
        23457: null                     # ... the product is the same day's CAR-T drug exposure
      apheresis: {34567: done, 34568: failed}   # T-cell collections, with their outcome
      car_t_eligible: {concepts: [45678], "yes": [45679], "no": [45680]}   # value_as_concept_id
      soluble_bcma: {concepts: [56789], units: {8842: 1.0}}   # unit concept -> factor to ng/mL
      progression: [67890]              # any table: the disease progressed on that day
      overrides: [78901]                # observations whose value_as_string is RULE:REASON[:NOTE]
      ingredient_vocabularies: [RxNorm, RxNorm Extension]   # the default

``myeloma``, ``car_t_infusion`` and ``apheresis`` default to the OMOP standard concepts of
:mod:`.standard` (multiple myeloma 437233; the CAR-T introduction procedures 43018384 and 43018388;
T-cell collection 927059, done), each from the OHDSI myeloma episode logic; a key the policy
names replaces its default whole. A record whose concept the mapping does not name is listed in
the audit's unmapped concepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import InputError
from ..history import APHERESIS_STATUSES
from ..policy import Policy
from . import standard

_KEYS = ("myeloma", "car_t_infusion", "apheresis", "car_t_eligible", "soluble_bcma", "progression",
         "overrides", "override_window_days", "ingredient_vocabularies")
#: What a key means when the policy does not name it: OMOP standard concepts, source in :mod:`.standard`.
DEFAULTS: dict[str, Any] = {
    "myeloma": [standard.MULTIPLE_MYELOMA],
    "car_t_infusion": dict.fromkeys(standard.CAR_T_INFUSION),
    "apheresis": {standard.T_CELL_COLLECTION: "done"},
}
#: The vocabularies whose Ingredient concepts name a drug exposure's active ingredients.
DEFAULT_INGREDIENT_VOCABULARIES = ("RxNorm", "RxNorm Extension")


@attrs.frozen
class OmopMapping:
    """The site's concepts, by meaning; every field holds concept ids."""

    myeloma: frozenset[int]
    car_t_infusion: Mapping[int, str | None] = attrs.field(factory=dict)
    apheresis: Mapping[int, str] = attrs.field(factory=dict)
    eligibility: frozenset[int] = frozenset()
    eligible_yes: frozenset[int] = frozenset()
    eligible_no: frozenset[int] = frozenset()
    soluble_bcma: frozenset[int] = frozenset()
    soluble_bcma_units: Mapping[int, float] = attrs.field(factory=dict)
    progression: frozenset[int] = frozenset()
    overrides: frozenset[int] = frozenset()
    override_window_days: int = 30
    ingredient_vocabularies: tuple[str, ...] = DEFAULT_INGREDIENT_VOCABULARIES
    #: The keys read from their OHDSI defaults (the policy did not name them), for the summary.
    defaults: tuple[str, ...] = ()

    @property
    def read(self) -> frozenset[int]:
        """Every concept a non-drug record is read for (one :meth:`meaning` gives a meaning)."""
        return frozenset((*self.car_t_infusion, *self.apheresis, *self.eligibility, *self.soluble_bcma,
                          *self.progression, *self.overrides))

    def meaning(self, concept_id: int) -> str | None:
        """What a non-drug record with this concept is, or None when the site mapped it to nothing."""
        for name, concepts in (("car-t-infusion", self.car_t_infusion), ("apheresis", self.apheresis),
                               ("eligibility", self.eligibility), ("soluble-bcma", self.soluble_bcma),
                               ("progression", self.progression), ("override", self.overrides)):
            if concept_id in concepts:
                return name
        return None


def omop_mapping(policy: Policy) -> OmopMapping:
    """The policy's ``omop`` section, validated; an :class:`InputError` naming each bad key."""
    where = f"{policy.source}: omop"
    data = {} if policy.omop is None else json.loads(policy.omop)
    defaults = tuple(key for key in DEFAULTS if key not in data)
    data = {**{key: DEFAULTS[key] for key in defaults}, **data}
    problems: list[str] = []
    for key in data:
        if key not in _KEYS:
            problems.append(f"{where}.{key}: unknown key (known: {', '.join(_KEYS)})")
    reader = _Reader(where, problems)
    myeloma = reader.ids(data.get("myeloma"), "myeloma", required=True)
    infusion = {cid: reader.optional_text(v, f"car_t_infusion.{cid}")
                for cid, v in reader.keyed(data.get("car_t_infusion"), "car_t_infusion").items()}
    apheresis = {cid: reader.choice(v, f"apheresis.{cid}", APHERESIS_STATUSES)
                 for cid, v in reader.keyed(data.get("apheresis"), "apheresis").items()}
    raw_eligible = data.get("car_t_eligible")
    if isinstance(raw_eligible, Mapping):  # YAML reads unquoted yes and no as booleans
        raw_eligible = {{"true": "yes", "false": "no"}.get(k, k): v for k, v in raw_eligible.items()}
    eligible = reader.section(raw_eligible, "car_t_eligible", ("concepts", "yes", "no"))
    sbcma = reader.section(data.get("soluble_bcma"), "soluble_bcma", ("concepts", "units"))
    units = {cid: reader.factor(v, f"soluble_bcma.units.{cid}")
             for cid, v in reader.keyed(sbcma.get("units"), "soluble_bcma.units").items()}
    window = data.get("override_window_days", 30)
    if not (isinstance(window, int) and not isinstance(window, bool) and 0 <= window <= 365):
        problems.append(f"{where}.override_window_days: {window!r} is not a whole number of days from 0 to 365")
    vocabularies = data.get("ingredient_vocabularies", list(DEFAULT_INGREDIENT_VOCABULARIES))
    if not (isinstance(vocabularies, list) and vocabularies and all(isinstance(v, str) and v for v in vocabularies)):
        problems.append(f"{where}.ingredient_vocabularies: expected a non-empty list of vocabulary ids")
        vocabularies = list(DEFAULT_INGREDIENT_VOCABULARIES)
    mapping = OmopMapping(
        myeloma=myeloma, car_t_infusion=infusion, apheresis={k: v for k, v in apheresis.items() if v},
        eligibility=reader.ids(eligible.get("concepts"), "car_t_eligible.concepts"),
        eligible_yes=reader.ids(eligible.get("yes"), "car_t_eligible.yes"),
        eligible_no=reader.ids(eligible.get("no"), "car_t_eligible.no"),
        soluble_bcma=reader.ids(sbcma.get("concepts"), "soluble_bcma.concepts"),
        soluble_bcma_units=units, progression=reader.ids(data.get("progression"), "progression"),
        overrides=reader.ids(data.get("overrides"), "overrides"),
        override_window_days=window if isinstance(window, int) else 30,
        ingredient_vocabularies=tuple(vocabularies), defaults=defaults,
    )
    _check_distinct(mapping, where, problems)
    if problems:
        raise InputError(problems)
    return mapping


def _check_distinct(mapping: OmopMapping, where: str, problems: list[str]) -> None:
    """A concept means one thing: the same id under two keys is an error."""
    seen: dict[int, str] = {}
    for key, ids in (("car_t_infusion", mapping.car_t_infusion), ("apheresis", mapping.apheresis),
                     ("car_t_eligible.concepts", mapping.eligibility), ("soluble_bcma.concepts", mapping.soluble_bcma),
                     ("progression", mapping.progression), ("overrides", mapping.overrides)):
        for cid in sorted(ids):
            if cid in seen:
                problems.append(f"{where}.{key}: concept {cid} is also mapped under {seen[cid]}")
            seen.setdefault(cid, key)


class _Reader:
    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where}.{key}: {message}")

    def concept(self, value: Any, key: str) -> int | None:
        """A concept id: a positive whole number (or its digits, as JSON writes mapping keys)."""
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        self.fail(key, f"{value!r} is not a concept id (a positive whole number)")
        return None

    def ids(self, value: Any, key: str, required: bool = False) -> frozenset[int]:
        if value is None and not required:
            return frozenset()
        if not isinstance(value, list) or (required and not value):
            self.fail(key, f"expected a {'non-empty ' if required else ''}list of concept ids")
            return frozenset()
        return frozenset(cid for i, v in enumerate(value) if (cid := self.concept(v, f"{key}[{i}]")) is not None)

    def keyed(self, value: Any, key: str) -> dict[int, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, "expected a mapping of concept id to its meaning")
            return {}
        return {cid: v for k, v in value.items() if (cid := self.concept(k, f"{key}.{k}")) is not None}

    def section(self, value: Any, key: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a mapping with the keys {', '.join(keys)}")
            return {}
        for sub in value:
            if sub not in keys:
                self.fail(f"{key}.{sub}", f"unknown key (known: {', '.join(keys)})")
        return value

    def optional_text(self, value: Any, key: str) -> str | None:
        if value is None or (isinstance(value, str) and value.strip()):
            return value.strip() if value else None
        self.fail(key, f"{value!r} is not a product name (or null)")
        return None

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str | None:
        if value in choices:
            return str(value)
        self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return None

    def factor(self, value: Any, key: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        self.fail(key, f"{value!r} is not a positive factor to ng/mL")
        return 1.0
