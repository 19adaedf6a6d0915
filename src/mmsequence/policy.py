"""Site policy: which rule packs run and the parameters the rules read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from ._paths import rules_dir
from .errors import InputError

INTERVAL_SCOPES = ("after-bsab", "any-tcrt")
INTERVAL_EFFECTS = ("wait", "caution")
ALWAYS_ON_PACK = "safety"


def _with_safety(packs: tuple[str, ...]) -> tuple[str, ...]:
    """The safety pack first, always, then each other pack once."""
    return tuple(dict.fromkeys([ALWAYS_ON_PACK, *packs]))


def _rule_ids(ids: tuple[str, ...]) -> tuple[str, ...]:
    """Sorted and unique, so that equal settings give the same digest."""
    return tuple(sorted(set(ids)))


@attrs.frozen
class Policy:
    packs: tuple[str, ...] = attrs.field(default=("safety", "review"), converter=_with_safety)
    interval_months: int = 6
    interval_scope: str = "after-bsab"
    interval_effect: str = "wait"
    disabled_rules: tuple[str, ...] = attrs.field(default=(), converter=_rule_ids)
    jurisdiction: str | None = None
    source: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "packs": list(self.packs),
            "interval": {"months": self.interval_months, "scope": self.interval_scope, "effect": self.interval_effect},
            "disabled_rules": list(self.disabled_rules),
            "jurisdiction": self.jurisdiction,
        }

    @property
    def digest(self) -> str:
        settings = {k: v for k, v in self.to_dict().items() if k != "source"}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


_KEYS = ("packs", "interval", "disabled_rules", "jurisdiction")
_INTERVAL_KEYS = ("months", "scope", "effect")


def policy_from_mapping(data: Any, source: str, base: Policy | None = None) -> Policy:
    """Build a policy from decoded YAML/JSON; unknown keys and bad values are errors naming the key."""
    base = base or Policy()
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise InputError([f"{source}: expected a mapping of policy keys"])
    for key in data:
        if key not in _KEYS:
            problems.append(f"{source}: {key}: unknown policy key")
    values: dict[str, Any] = {}
    if "packs" in data:
        packs = data["packs"]
        if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
            problems.append(f"{source}: packs: expected a list of pack names")
        else:
            from .rulebook import PACKS  # here, not above: the rulebook imports this module

            problems += [f"{source}: packs: {p!r} is not a rule pack ({', '.join(PACKS)})" for p in packs if p not in PACKS]
            values["packs"] = tuple(dict.fromkeys([ALWAYS_ON_PACK, *packs]))
    interval = data.get("interval", {})
    if not isinstance(interval, Mapping):
        problems.append(f"{source}: interval: expected a mapping")
        interval = {}
    for key in interval:
        if key not in _INTERVAL_KEYS:
            problems.append(f"{source}: interval.{key}: unknown policy key")
    if "months" in interval:
        months = interval["months"]
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 36:
            problems.append(f"{source}: interval.months: {months!r} is not a whole number of months from 1 to 36")
        else:
            values["interval_months"] = months
    for key, choices in (("scope", INTERVAL_SCOPES), ("effect", INTERVAL_EFFECTS)):
        if key in interval:
            if interval[key] not in choices:
                problems.append(f"{source}: interval.{key}: {interval[key]!r} is not one of {', '.join(choices)}")
            else:
                values[f"interval_{key}"] = interval[key]
    if "disabled_rules" in data:
        disabled = data["disabled_rules"]
        if not isinstance(disabled, list) or not all(isinstance(d, str) for d in disabled):
            problems.append(f"{source}: disabled_rules: expected a list of rule ids")
        else:
            values["disabled_rules"] = tuple(sorted(set(disabled)))
    if "jurisdiction" in data:
        if data["jurisdiction"] not in (None, "US", "EU"):
            problems.append(f"{source}: jurisdiction: {data['jurisdiction']!r} is not one of US, EU, null")
        else:
            values["jurisdiction"] = data["jurisdiction"]
    if problems:
        raise InputError(problems)
    return attrs.evolve(base, source=source, **values)


def load_policy(path: str | Path | None = None) -> Policy:
    """The shipped default policy, or a site policy file (YAML or JSON) layered over it."""
    default = _read(rules_dir() / "policy.default.yaml")
    base = policy_from_mapping(default, "default")
    if path is None:
        return base
    return policy_from_mapping(_read(Path(path)), str(path), base)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError([f"{path}: cannot be read ({error.strerror})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError([f"{path}: not valid YAML/JSON ({error})"]) from None
