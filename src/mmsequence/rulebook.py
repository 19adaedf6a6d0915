"""Rule files under ``rules/<pack>/``: loading, checking and resolving against a policy.

A rule file holds one rule: its metadata (id, title, version, evidence, citation, the source
sentence it encodes, effect, message template, the facts it quotes) and its condition in
durable_rules' own JSON pattern syntax. Optional keys: ``timing`` (the role of a wait or a
scheduling constraint, the fact that gives the day its reason ends, and what its clock runs from
and to), ``depends_on`` (facts the finding depends on, asked for when unknown), ``asks``
(action codes) and ``reviewed`` / ``review_every_months`` (the day the rule was last checked
against its source, when it is not its pack's). Each pack folder holds a ``_pack.yaml``: its title,
the day its rules were last checked against their sources and how often they are to be checked
(:mod:`mmsequence.knowledge`). Nothing in a rule file is executed as Python.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import attrs

from . import _yaml as yaml
from ._paths import rules_dir
from .actions import ASKABLE
from .catalog import Catalog
from .errors import InputError, RuleFileError
from .fact_fields import CANDIDATE_FIELDS, MISSING_FACTS, PATIENT_FIELDS
from .knowledge import Part, Reviewed, parse_reviewed, part_of
from .messages import PARTS, PLACEHOLDER
from .policy import PACK_NAMES, Policy
from .ranking import Criterion, load_criteria
from .vocabulary import EFFECTS, SCHEDULE, Effect

EVIDENCE_LEVELS = ("review", "guideline", "guideline-secondary", "trial-data", "label", "interpretation")
ACTIONS = ("finding",)
BINDINGS = {"patient": PATIENT_FIELDS, "candidate": CANDIDATE_FIELDS}
#: Timing roles: ``wait`` holds the verdict until the date (the T-cell recovery interval);
#: ``schedule`` sets a not-before date and keeps the verdict (the washout).
TIMING_ROLES = ("wait", SCHEDULE)
_TIMING_KEYS = ("role", "date", "from", "to")
_REQUIRED = ("id", "version", "title", "effect", "evidence", "citation", "source", "message", "reason", "facts", "when")
#: A placeholder of a rule's reason phrase: ``{field}`` or ``{field:part}``, a fact the rule quotes.
REASON_FIELD = re.compile(r"\{(\w+)(?::(\w+))?\}")
_OPTIONAL = ("timing", "depends_on", "asks", "action", "notes", "zh-CN", "reviewed", "review_every_months")
#: Languages every rule carries a translation of its title and message in (``rules --check``).
TRANSLATED = ("zh-CN",)
#: The file in each pack folder that dates the pack, and its keys.
PACK_FILE = "_pack.yaml"
_PACK_KEYS = ("title", "reviewed", "review_every_months")
_OPTIONAL_PACK_KEYS = ("every_rule_reviewed", "sources")
_OPERATORS = ("$and", "$or", "$lt", "$lte", "$gt", "$gte", "$eq", "$neq", "$ex", "$nex", "$mt", "$imt", "$iall", "$iany")


@attrs.frozen
class Timing:
    """A timing rule's role, the fact that gives the day its reason ends, and the facts its clock
    runs from and to (``binding.field``)."""

    role: str
    date: str
    start: str | None = None
    end: str | None = None


@attrs.frozen
class Rule:
    id: str
    pack: str
    version: int
    title: str
    effect: Effect
    evidence: str
    citation: str
    source: dict[str, str]
    message: str
    facts: tuple[tuple[str, str], ...]
    when: dict[str, Any]
    timing: Timing | None = None
    depends_on: tuple[tuple[str, str], ...] = ()
    asks: tuple[str, ...] = ()
    action: str = "finding"
    policy_effect: str | None = None
    path: str = ""
    #: (language, title, message template) of each translation the rule file holds.
    translations: tuple[tuple[str, str, str], ...] = ()
    #: A short phrase for why the rule fired ("T-cell recovery after {interval_from:agent}"), by
    #: language, English first: what a card or a summary row says of it.
    reasons: tuple[tuple[str, str], ...] = ()
    reviewed: Reviewed | None = None  # the rule's own date, when it is not its pack's

    def placeholder_values(self, bound: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The value of each ``{binding.field}`` of the message, by ``binding.field``."""
        return {key: bound[b][f] for key, b, f in _placeholders(self.message)}

    def title_in(self, language: str) -> str:
        """The rule's title in ``language``, else in English."""
        return next((title for lang, title, _ in self.translations if lang == language), self.title)

    def quoted_facts(self, bound: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The facts the rule quotes, by field name."""
        return {field: bound[binding][field] for binding, field in self.facts}

    def missing(self, bound: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
        """The facts the rule depends on that the record leaves unknown."""
        if not self.depends_on:  # most rules: nothing to look up
            return ()
        return tuple(field for binding, field in self.depends_on if bound[binding][field] == "unknown")


@functools.cache
def _placeholders(message: str) -> tuple[tuple[str, str, str], ...]:
    """The ``binding.field``, binding and field of each placeholder of a message, in order."""
    return tuple((f"{b}.{f}", b, f) for b, f, _ in PLACEHOLDER.findall(message))


@attrs.frozen
class Pack:
    """A rule pack's folder: its title, the day its rules were last checked against their sources and
    the review interval, and whether each rule must carry its own date (labels change one by one)."""

    name: str
    title: str
    reviewed: Reviewed
    every_rule_reviewed: bool = False


@attrs.frozen
class Rulebook:
    rules: tuple[Rule, ...]
    digest: str
    packs: tuple[Pack, ...] = ()
    #: The ranking criteria of ``rules/rank.yaml``, in order of precedence (:mod:`mmsequence.ranking`).
    criteria: tuple[Criterion, ...] = ()

    def pack(self, name: str) -> Pack | None:
        return next((p for p in self.packs if p.name == name), None)

    def reviewed(self, rule: Rule) -> Reviewed | None:
        """When a rule was last checked against its source: its own date, else its pack's."""
        pack = self.pack(rule.pack)
        return rule.reviewed or (pack.reviewed if pack is not None else None)

    def knowledge(self, rules: Iterable[Rule], site: dict[str, datetime.date] | None = None) -> tuple[Part, ...]:
        """The dated parts of ``rules`` (the rules a policy runs): one per pack, in pack order, with the
        oldest check and the earliest due day of the pack and of its rules' own dates."""
        site = site or {}
        chosen = list(rules)
        parts = []
        for pack in self.packs:
            mine = [r for r in chosen if r.pack == pack.name]
            if not mine:
                continue
            dated = [(None, pack.reviewed)] + [(r.id, r.reviewed) for r in mine if r.reviewed is not None]
            part = part_of(pack.name, dated, site.get(pack.name))
            if part is not None:
                parts.append(part)
        return tuple(parts)

    def active(self, policy: Policy) -> tuple[Rule, ...]:
        """The rules a policy runs, with policy-set effects applied.

        A disabled id that names no rule, or a safety rule, is an error naming the policy key.
        """
        problems = []
        for rule_id in policy.disabled_rules:
            rule = self.get(rule_id)
            if rule is None and any(c.id == rule_id for c in self.criteria):
                continue
            if rule is None:
                problems.append(f"{policy.source}: disabled_rules: {rule_id!r} is not a rule id")
            elif rule.pack == "safety":
                problems.append(f"{policy.source}: disabled_rules: {rule_id!r} is a safety rule and cannot be switched off")
        if problems:
            raise InputError(problems)
        chosen = []
        for rule in self.rules:
            if rule.pack not in policy.packs or rule.id in policy.disabled_rules:
                continue
            if rule.policy_effect == "interval.effect":
                rule = attrs.evolve(rule, effect=policy.interval_effect)
            chosen.append(rule)
        return tuple(chosen)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def ranked_by(self, policy: Policy) -> tuple[Criterion, ...]:
        """The ranking criteria a policy uses: all but those its ``disabled_rules`` switch off."""
        return tuple(c for c in self.criteria if c.id not in policy.disabled_rules)


def fields_used(rule: Rule) -> set[tuple[str, str]]:
    """Every (binding, field) the rule's condition reads."""
    used: set[tuple[str, str]] = set()

    def walk(binding: str, pattern: Any) -> None:
        if isinstance(pattern, list):
            for item in pattern:
                walk(binding, item)
            return
        ((key, value),) = pattern.items()
        if key in ("$and", "$or"):
            walk(binding, value)
        elif key.startswith("$"):
            ((field, operand),) = value.items()
            used.add((binding, field))
            if isinstance(operand, dict):
                used.add(next(iter(operand.items())))
        else:
            used.add((binding, key))

    for item in rule.when["all"]:
        ((binding, pattern),) = item.items()
        walk(binding, pattern)
    return used


def _check_pattern(pattern: Any, binding: str, where: str, problems: list[str]) -> None:
    """Each pattern object has exactly one key: a fact field, or an operator over patterns/fields."""
    if isinstance(pattern, list):
        for item in pattern:
            _check_pattern(item, binding, where, problems)
        return
    if not isinstance(pattern, dict) or len(pattern) != 1:
        problems.append(f"{where}: each condition must be an object with exactly one key (join with $and), got {pattern!r}")
        return
    (key, value), = pattern.items()
    if key in ("$and", "$or"):
        _check_pattern(value, binding, where, problems)
    elif key in _OPERATORS:
        if not isinstance(value, dict) or len(value) != 1:
            problems.append(f"{where}: {key} takes one field, got {value!r}")
            return
        (field, operand), = value.items()
        _check_field(binding, field, where, problems)
        if isinstance(operand, dict):
            other, other_field = next(iter(operand.items())) if len(operand) == 1 else (None, None)
            if other not in BINDINGS or other_field not in BINDINGS[other]:
                problems.append(f"{where}: {key} compares with unknown fact {operand!r}")
    elif key.startswith("$"):
        problems.append(f"{where}: operator {key} is not allowed")
    else:
        _check_field(binding, key, where, problems)


def _check_field(binding: str, field: str, where: str, problems: list[str]) -> None:
    if field not in BINDINGS[binding]:
        problems.append(f"{where}: {binding} has no field {field!r}")


def _check_ref(ref: Any, where: str, problems: list[str]) -> None:
    binding, _, field = str(ref).partition(".")
    if binding not in BINDINGS or field not in BINDINGS[binding]:
        problems.append(f"{where}: {ref!r} is not a known fact (patient.<field> or candidate.<field>)")


def _parse_rule(data: Any, pack: str, where: str, problems: list[str], review_every: int | None = None) -> Rule | None:
    start = len(problems)
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    for key in data:
        if key not in _REQUIRED + _OPTIONAL:
            problems.append(f"{where}: {key}: unknown key")
    for key in _REQUIRED:
        if data.get(key) in (None, "", [], {}):
            problems.append(f"{where}: {key}: is required")
    if len(problems) > start:
        return None
    rule_id = str(data["id"])
    if not rule_id.startswith(f"{pack}."):
        problems.append(f"{where}: id: {rule_id!r} must start with its pack name '{pack}.'")
    effect, policy_effect = data["effect"], None
    if isinstance(effect, dict):
        policy_effect, effect = effect.get("policy"), effect.get("default")
        if policy_effect != "interval.effect":
            problems.append(f"{where}: effect.policy: {policy_effect!r} is not a policy-set effect (interval.effect)")
    if policy_effect is not None and effect != "wait":
        problems.append(f"{where}: effect.default: a policy-set effect defaults to wait")
    if effect not in EFFECTS:
        problems.append(f"{where}: effect: {effect!r} is not one of {', '.join(EFFECTS)}")
    if data["evidence"] not in EVIDENCE_LEVELS:
        problems.append(f"{where}: evidence: {data['evidence']!r} is not one of {', '.join(EVIDENCE_LEVELS)}")
    if data["evidence"] == "interpretation" and "interpretation" not in str(data["message"]).lower():
        problems.append(f"{where}: message: an interpretation rule must say so in its message")
    if not isinstance(data["version"], int) or isinstance(data["version"], bool):
        problems.append(f"{where}: version: expected a whole number")
    source = data["source"]
    if not isinstance(source, dict) or "text" not in source:
        problems.append(f"{where}: source: expected a mapping with the source sentence under 'text'")
    action = data.get("action", "finding")
    if action not in ACTIONS:
        problems.append(f"{where}: action: {action!r} is not a named action ({', '.join(ACTIONS)})")
    when = data["when"]
    if not isinstance(when, dict) or list(when) != ["all"] or not isinstance(when["all"], list):
        problems.append(f"{where}: when: expected {{all: [...]}} (negation and 'any' are not allowed: they are order-sensitive in the engine)")
    else:
        names = []
        for i, item in enumerate(when["all"]):
            if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in BINDINGS:
                problems.append(f"{where}: when.all[{i}]: expected one binding, 'patient' or 'candidate'")
                continue
            (binding, pattern), = item.items()
            names.append(binding)
            _check_pattern(pattern, binding, f"{where}: when.all[{i}]", problems)
        if sorted(names) not in (["candidate"], ["candidate", "patient"]):
            problems.append(f"{where}: when.all: must bind one 'candidate' and at most one 'patient'")
    for binding, field, part in PLACEHOLDER.findall(str(data["message"])):
        _check_ref(f"{binding}.{field}", f"{where}: message", problems)
        if part and part not in PARTS:
            problems.append(f"{where}: message: ':{part}' is not a part of a reference ({', '.join(PARTS)})")
    if not isinstance(data["facts"], list):
        problems.append(f"{where}: facts: expected a list of patient.<field> / candidate.<field>")
    else:
        for ref in data["facts"]:
            _check_ref(ref, f"{where}: facts", problems)
    timing = _parse_timing(data.get("timing"), effect, where, problems)
    depends_on = _refs(data.get("depends_on", []), f"{where}: depends_on", problems)
    for binding, field in depends_on:
        if binding != "patient" or field not in MISSING_FACTS:
            problems.append(f"{where}: depends_on: {binding}.{field} is not a fact the assessment can ask for "
                            f"({', '.join('patient.' + f for f in MISSING_FACTS)})")
    asks = data.get("asks", [])
    if not isinstance(asks, list) or any(code not in ASKABLE for code in asks):
        problems.append(f"{where}: asks: expected a list of action codes ({', '.join(ASKABLE)})")
    reviewed = None
    if "reviewed" in data or "review_every_months" in data:
        reviewed = parse_reviewed(data.get("reviewed"), data.get("review_every_months"), f"{where}: ", problems,
                                  default_every=review_every)
    quoted = {str(ref).split(".", 1)[-1] for ref in data["facts"]} if isinstance(data["facts"], list) else set()
    reason = _check_reason(data["reason"], quoted, f"{where}: reason", problems)
    reasons = [("en", reason)]
    translations = []
    for language in TRANSLATED:
        if language in data:
            translated = _parse_translation(data[language], str(data["message"]), reason, f"{where}: {language}", problems)
            if translated is not None:
                translations.append((language, *translated[:2]))
                reasons.append((language, translated[2]))
    if len(problems) > start:
        return None
    return Rule(
        id=rule_id, pack=pack, version=data["version"], title=str(data["title"]).strip(), effect=cast(Effect, effect),
        evidence=data["evidence"], citation=str(data["citation"]).strip(),
        source={k: str(v).strip() for k, v in source.items()}, message=str(data["message"]).strip(),
        facts=tuple(tuple(ref.split(".", 1)) for ref in data["facts"]), when=when, timing=timing,
        depends_on=depends_on, asks=tuple(asks), action=action, policy_effect=policy_effect, path=where,
        translations=tuple(translations), reasons=tuple(reasons), reviewed=reviewed,
    )


def _refs(value: Any, where: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list of patient.<field> / candidate.<field>")
        return ()
    for ref in value:
        _check_ref(ref, where, problems)
    return tuple(tuple(str(ref).split(".", 1)) for ref in value)  # type: ignore[misc]


def _parse_timing(value: Any, effect: str, where: str, problems: list[str]) -> Timing | None:
    """A wait or schedule rule's timing; its role must match its effect (a policy-set effect: wait)."""
    needed = effect if effect in TIMING_ROLES else None
    if value is None:
        if needed == "wait":
            problems.append(f"{where}: timing: a wait rule must name the fact that gives its end date (timing.date)")
        elif needed:
            problems.append(f"{where}: timing: a {needed} rule must give its timing (role, date)")
        return None
    if not isinstance(value, dict) or "role" not in value or "date" not in value:
        problems.append(f"{where}: timing: expected a mapping with role and date (and optionally from, to)")
        return None
    problems.extend(f"{where}: timing.{key}: unknown key" for key in value if key not in _TIMING_KEYS)
    if value["role"] not in TIMING_ROLES:
        problems.append(f"{where}: timing.role: {value['role']!r} is not one of {', '.join(TIMING_ROLES)}")
    elif value["role"] != needed:
        problems.append(f"{where}: timing.role: {value['role']} does not fit effect {effect!r}"
                        " (a schedule rule has effect schedule, a wait rule effect wait)")
    for key in ("date", "from", "to"):
        if key in value:
            _check_ref(value[key], f"{where}: timing.{key}", problems)
    return Timing(value["role"], value["date"], value.get("from"), value.get("to"))


def _check_reason(value: Any, quoted: set[str], where: str, problems: list[str]) -> str:
    """A reason phrase: one line, each placeholder a fact the rule quotes, with a known part."""
    text = " ".join(str(value).split())
    if not isinstance(value, str) or not text:
        problems.append(f"{where}: expected a short phrase")
    for field, part in REASON_FIELD.findall(text):
        if field not in quoted:
            problems.append(f"{where}: {{{field}}} is not a fact the rule quotes (facts)")
        if part and part not in PARTS:
            problems.append(f"{where}: ':{part}' is not a part of a reference ({', '.join(PARTS)})")
    return text


def _parse_translation(data: Any, english: str, reason: str, where: str,
                       problems: list[str]) -> tuple[str, str, str] | None:
    """(title, message, reason) of one translation; its message quotes exactly the English message's
    facts, its reason the English reason's."""
    if not isinstance(data, dict) or set(data) != {"title", "message", "reason"} or not all(
            isinstance(data[k], str) and data[k].strip() for k in ("title", "message", "reason")):
        problems.append(f"{where}: expected a mapping with a non-empty title, message and reason")
        return None
    if sorted(REASON_FIELD.findall(data["reason"])) != sorted(REASON_FIELD.findall(reason)):
        problems.append(f"{where}: reason: quotes other facts than the English reason")
        return None
    def quoted(text: str) -> list[str]:
        return sorted({f"{b}.{f}" + (f":{part}" if part else "") for b, f, part in PLACEHOLDER.findall(text)})

    wanted, got = quoted(english), quoted(data["message"])
    if wanted != got:
        problems.append(f"{where}: message: quotes {got}, the English message {wanted}")
        return None
    return " ".join(data["title"].split()), str(data["message"]).strip(), " ".join(data["reason"].split())


def check_translations(rulebook: Rulebook) -> None:
    """Every rule carries each language of :data:`TRANSLATED`; raises :class:`RuleFileError` naming each gap."""
    problems = [f"{rule.path}: {language}: missing (the rule's title, message and reason in {language})"
                for rule in rulebook.rules for language in TRANSLATED
                if language not in {lang for lang, _, _ in rule.translations}]
    if problems:
        raise RuleFileError(problems)


def _rule_files(root: Path) -> Iterable[tuple[str, Path]]:
    """Each pack folder's ``_pack.yaml`` (if any) first, then its rule files; other files starting
    with '_' are not rules."""
    for pack_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if (pack_dir / PACK_FILE).is_file():
            yield pack_dir.name, pack_dir / PACK_FILE
        for path in sorted(pack_dir.glob("*.yaml")):
            if not path.name.startswith("_"):
                yield pack_dir.name, path


def _parse_pack(data: Any, name: str, where: str, problems: list[str]) -> Pack | None:
    """A pack's ``_pack.yaml``: title, reviewed, review_every_months, and optionally every_rule_reviewed
    (each rule of the pack carries its own date) and sources (what its rules were checked against)."""
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping with the keys {', '.join(_PACK_KEYS)}")
        return None
    before = len(problems)
    problems.extend(f"{where}: {key}: missing" for key in _PACK_KEYS if key not in data)
    problems.extend(f"{where}: {key}: unknown key" for key in data if key not in _PACK_KEYS + _OPTIONAL_PACK_KEYS)
    every_rule = data.get("every_rule_reviewed", False)
    if not isinstance(every_rule, bool):
        problems.append(f"{where}: every_rule_reviewed: expected true or false")
    if len(problems) > before:
        return None
    reviewed = parse_reviewed(data["reviewed"], data["review_every_months"], f"{where}: ", problems)
    return None if reviewed is None else Pack(name, " ".join(str(data["title"]).split()), reviewed, every_rule)


def knowledge_problems(rulebook: Rulebook) -> list[str]:
    """What leaves a rule undated (``rules --check``): a pack folder without its ``_pack.yaml``, and a
    rule without its own date in a pack whose rules each carry one."""
    problems = []
    for name in sorted({r.pack for r in rulebook.rules}):
        if rulebook.pack(name) is None:
            problems.append(f"{name}/{PACK_FILE}: missing (the pack's title, review date and interval)")
    for rule in rulebook.rules:
        pack = rulebook.pack(rule.pack)
        if pack is not None and pack.every_rule_reviewed and rule.reviewed is None:
            problems.append(f"{rule.path}: reviewed: missing (each rule of the {rule.pack} pack carries the day it"
                            " was last checked against its source)")
    return problems


@functools.cache
def shipped_rulebook() -> Rulebook:
    """The rule files shipped with mmsequence, read once."""
    return load_rulebook()


def load_rulebook(root: Path | None = None) -> Rulebook:
    """Read and check every rule file; raises :class:`RuleFileError` listing all problems."""
    root = root or rules_dir()
    problems: list[str] = []
    rules: list[Rule] = []
    packs: dict[str, Pack] = {}
    digest = hashlib.sha256()
    for pack, path in _rule_files(root):
        where = f"{path.parent.name}/{path.name}"
        raw = path.read_bytes()
        digest.update(where.encode() + b"\0" + raw + b"\0")
        if pack not in PACK_NAMES:
            problems.append(f"{where}: pack {pack!r} is not one of {', '.join(PACK_NAMES)}")
            continue
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            problems.append(f"{where}: not valid YAML ({error})")
            continue
        if path.name == PACK_FILE:
            found = _parse_pack(data, pack, where, problems)
            if found is not None:
                packs[pack] = found
            continue
        known = packs.get(pack)
        rule = _parse_rule(data, pack, where, problems, known.reviewed.every_months if known else None)
        if rule is not None:
            rules.append(rule)
    criteria, raw = load_criteria(root, problems)
    digest.update(raw)
    seen: dict[str, str] = {c.id: "rank.yaml" for c in criteria}
    for rule in rules:
        if rule.id in seen:
            problems.append(f"{rule.path}: id: {rule.id!r} is also used by {seen[rule.id]}")
        seen[rule.id] = rule.path
    if not rules and not problems:
        problems.append(f"{root}: no rule files found")
    if problems:
        raise RuleFileError(problems)
    ordered = tuple(packs[name] for name in PACK_NAMES if name in packs)
    return Rulebook(rules=tuple(rules), digest=f"sha256:{digest.hexdigest()}", packs=ordered, criteria=criteria)


def _names_in(pattern: Any) -> Iterable[str]:
    """Every value a pattern compares the candidate's ``name`` with."""
    if isinstance(pattern, list):
        for item in pattern:
            yield from _names_in(item)
    elif isinstance(pattern, dict):
        for key, value in pattern.items():
            if key == "name" and isinstance(value, str):
                yield value
            elif isinstance(value, (dict, list)):
                yield from _names_in(value)


def check_references(rulebook: Rulebook, catalog: Catalog) -> None:
    """Every agent or regimen a rule names must be a canonical name in the catalog."""
    problems = []
    for rule in rulebook.rules:
        for item in rule.when["all"]:
            for name in _names_in(item.get("candidate", {})):
                agent = catalog.lookup(name)
                regimen = catalog.regimen_named(name)
                if (agent is None or agent.name != name) and (regimen is None or regimen.name != name):
                    problems.append(f"{rule.path}: when: {name!r} is not a canonical agent name in the catalog, nor a regimen's")
    if problems:
        raise RuleFileError(problems)
