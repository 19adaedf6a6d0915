"""Rank within a verdict: the documented clinical order of ``rules/rank.yaml``.

Candidates are ordered by their verdict tier first (:mod:`mmsequence.verdicts`), then by the
criteria of ``rules/rank.yaml``, in file order: each criterion is a cited clinical preference
(an approved therapy before an investigational one, a switch of target before a same-target
therapy, ...) with its evidence level, and a site switches one off like a rule
(``disabled_rules``). A criterion says which candidates it puts first (``better``) or last
(``worse``) as a condition over the engine's facts (the rule files' pattern syntax, evaluated
here in Python), or that more of a count is better (``more``). Candidates no criterion tells
apart share a rank; nothing else (a name, the order of the input, a count of cautions) orders
them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import _yaml as yaml
from .fact_fields import CANDIDATE_FIELDS, PATIENT_FIELDS

#: The file beside the rule packs that holds the criteria.
RANK_FILE = "rank.yaml"
#: Facts about a candidate's findings a criterion may read, beside the engine's facts.
FINDING_FIELDS = ("preferred", "off_label")
BINDINGS: dict[str, tuple[str, ...]] = {"patient": PATIENT_FIELDS, "candidate": CANDIDATE_FIELDS, "findings": FINDING_FIELDS}
EVIDENCE_LEVELS = ("review", "guideline", "guideline-secondary", "trial-data", "label", "interpretation")
_KEYS = ("id", "title", "evidence", "citation", "source", "reason", "zh-CN")
_WAYS = ("better", "worse", "more")
_Test = Callable[[Mapping[str, Any]], bool]
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {"$neq": lambda a, b: a != b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
            "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b}


@attrs.frozen
class Criterion:
    """One cited preference between candidates of the same verdict tier.

    ``way`` is ``better`` (candidates the condition matches come first), ``worse`` (they come
    last) or ``more`` (a larger value of the fact ``field`` comes first). ``reason`` is the words
    a candidate ranked above another by this criterion gives ("switches target"), in English and
    in each translated language.
    """

    id: str
    title: str
    evidence: str
    citation: str
    source: dict[str, str]
    way: str
    condition: dict[str, Any]
    field: tuple[str, str] | None  # (binding, field) of a ``more`` criterion
    reason: str
    translations: tuple[tuple[str, str, str], ...] = ()  # (language, title, reason)
    #: The score of the bound facts (lower ranks first), as one function made once.
    score: Callable[[Mapping[str, Mapping[str, Any]]], int] = attrs.field(init=False, eq=False, repr=False)

    @score.default
    def _compile(self) -> Callable[[Mapping[str, Mapping[str, Any]]], int]:
        if self.field is not None:
            binding, field = self.field
            return lambda bound: -int(bound[binding].get(field, 0))
        miss, hit = (1, 0) if self.way == "better" else (0, 1)
        tests = [(binding, test(pattern)) for binding, pattern in self.condition.items()]
        if len(tests) == 1:
            ((binding, check),) = tests
            return lambda bound: hit if check(bound[binding]) else miss

        def scored(bound: Mapping[str, Mapping[str, Any]]) -> int:
            for binding, check in tests:
                if not check(bound[binding]):
                    return miss
            return hit
        return scored

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields; the score function is made again."""
        return (Criterion, tuple(getattr(self, a.name) for a in attrs.fields(Criterion) if a.init))

    def reason_in(self, language: str | None) -> str:
        return next((r for lang, _, r in self.translations if lang == language), self.reason)


def test(pattern: Any) -> _Test:
    """Whether a fact satisfies a pattern of the rule files' syntax (field equality, ``$and``,
    ``$or`` and the comparisons), as a function of the fact."""
    if isinstance(pattern, list):
        return _all([test(p) for p in pattern])
    ((key, value),) = pattern.items()
    if key == "$and":
        return _all([test(p) for p in value])
    if key == "$or":
        return _any([test(p) for p in value])
    if key in _COMPARE:
        ((field, operand),) = value.items()
        compare = _COMPARE[key]
        return lambda fact: field in fact and bool(compare(fact[field], operand))
    return lambda fact: bool(fact.get(key) == value)


def _all(tests: list[_Test]) -> _Test:
    def every(fact: Mapping[str, Any]) -> bool:
        for check in tests:
            if not check(fact):
                return False
        return True
    return every


def _any(tests: list[_Test]) -> _Test:
    def some(fact: Mapping[str, Any]) -> bool:
        for check in tests:
            if check(fact):
                return True
        return False
    return some


def _check_pattern(pattern: Any, fields: tuple[str, ...], where: str, problems: list[str]) -> None:
    if isinstance(pattern, list):
        for item in pattern:
            _check_pattern(item, fields, where, problems)
        return
    if not isinstance(pattern, dict) or len(pattern) != 1:
        problems.append(f"{where}: each condition must be an object with exactly one key, got {pattern!r}")
        return
    ((key, value),) = pattern.items()
    if key in ("$and", "$or"):
        if not isinstance(value, list):
            problems.append(f"{where}: {key} takes a list")
        else:
            _check_pattern(value, fields, where, problems)
    elif key in _COMPARE:
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in fields:
            problems.append(f"{where}: {key} takes one known field, got {value!r}")
    elif key.startswith("$"):
        problems.append(f"{where}: operator {key} is not allowed")
    elif key not in fields:
        problems.append(f"{where}: no field {key!r}")


def _parse(data: Any, where: str, problems: list[str]) -> Criterion | None:
    start = len(problems)
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    problems.extend(f"{where}: {key}: unknown key" for key in data if key not in (*_KEYS, *_WAYS))
    problems.extend(f"{where}: {key}: is required" for key in _KEYS if data.get(key) in (None, "", {}))
    ways = [w for w in _WAYS if w in data]
    if len(ways) != 1:
        problems.append(f"{where}: expected exactly one of {', '.join(_WAYS)}")
    if len(problems) > start:
        return None
    if not str(data["id"]).startswith("rank."):
        problems.append(f"{where}: id: {data['id']!r} must start with 'rank.'")
    if data["evidence"] not in EVIDENCE_LEVELS:
        problems.append(f"{where}: evidence: {data['evidence']!r} is not one of {', '.join(EVIDENCE_LEVELS)}")
    if data["evidence"] == "interpretation" and "interpretation" not in str(data["title"]).lower():
        problems.append(f"{where}: title: an interpretation criterion must say so in its title")
    if not isinstance(data["source"], dict) or "text" not in data["source"]:
        problems.append(f"{where}: source: expected a mapping with the source sentence under 'text'")
    way = ways[0]
    condition: dict[str, Any] = {}
    field = None
    if way == "more":
        binding, _, name = str(data[way]).partition(".")
        if name not in BINDINGS.get(binding, ()):
            problems.append(f"{where}: more: {data[way]!r} is not a known fact")
        field = (binding, name)
    elif not isinstance(data[way], dict) or not data[way] or any(b not in BINDINGS for b in data[way]):
        problems.append(f"{where}: {way}: expected a mapping from patient, candidate or findings to a condition")
    else:
        condition = data[way]
        for binding, pattern in condition.items():
            _check_pattern(pattern, BINDINGS[binding], f"{where}: {way}.{binding}", problems)
    translated = data["zh-CN"]
    if not isinstance(translated, dict) or set(translated) != {"title", "reason"} or not all(
            isinstance(v, str) and v.strip() for v in translated.values()):
        problems.append(f"{where}: zh-CN: expected a mapping with a non-empty title and reason")
    if len(problems) > start:
        return None
    return Criterion(
        id=str(data["id"]), title=" ".join(str(data["title"]).split()), evidence=data["evidence"],
        citation=" ".join(str(data["citation"]).split()), source={k: str(v).strip() for k, v in data["source"].items()},
        way=way, condition=condition, field=field, reason=" ".join(str(data["reason"]).split()),
        translations=(("zh-CN", " ".join(translated["title"].split()), " ".join(translated["reason"].split())),),
    )


def load_criteria(root: Path, problems: list[str]) -> tuple[tuple[Criterion, ...], bytes]:
    """The criteria of ``root/rank.yaml`` in file order (their order is their precedence), and the
    file's bytes; each problem is appended to ``problems``."""
    path = root / RANK_FILE
    if not path.is_file():
        return (), b""
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problems.append(f"{RANK_FILE}: not valid YAML ({error})")
        return (), raw
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), list):
        problems.append(f"{RANK_FILE}: expected a mapping with a list under 'criteria'")
        return (), raw
    found = [_parse(item, f"{RANK_FILE}: criteria[{i}]", problems) for i, item in enumerate(data["criteria"])]
    criteria = tuple(c for c in found if c is not None)
    seen: set[str] = set()
    for c in criteria:
        if c.id in seen:
            problems.append(f"{RANK_FILE}: {c.id}: used twice")
        seen.add(c.id)
    return criteria, raw


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class Standing:
    """Where one candidate stands: its tier (verdict, then what a wait becomes, as
    :func:`mmsequence.verdicts.tiers` gives them) and one score per criterion (lower first)."""

    tiers: tuple[int, int]
    scores: tuple[int, ...]
    key: tuple[int, ...] = attrs.field(init=False)

    @key.default
    def _key(self) -> tuple[int, ...]:
        return (*self.tiers, *self.scores)


def standing(tiers: tuple[int, int], criteria: Sequence[Criterion], bound: Mapping[str, Mapping[str, Any]]) -> Standing:
    return Standing(tiers, tuple([c.score(bound) for c in criteria]))


@attrs.frozen(slots=False)  # made many times per assessment: faster without slots
class RankReason:
    """Why a candidate ranks where it does: the candidates it shares its rank with, the first
    candidate ranked below it and what puts it above that one (a criterion id, or ``verdict`` /
    ``then`` when the verdict tier decides)."""

    equal_to: tuple[str, ...] = ()
    above: str | None = None
    criterion: str | None = None
    reason: str | None = None
    #: The reason in each translated language, and the two tiers a tier difference compares (not
    #: part of the JSON: outputs in another language word them).
    translations: tuple[tuple[str, str], ...] = attrs.field(default=(), eq=False, repr=False)
    tiers: tuple[str, str] = attrs.field(default=("", ""), eq=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.equal_to:
            out["equal_to"] = list(self.equal_to)
        if self.above is not None:
            out.update(above=self.above, criterion=self.criterion, reason=self.reason)
        return out

    def reason_in(self, language: str | None) -> str | None:
        return dict(self.translations).get(language or "", self.reason)


#: The words for a tier difference (:func:`mmsequence.render.rank_words` words them in other languages).
TIER_WORDS = {
    "verdict": "a less restrictive verdict ({first} before {second})",
    "then": "what its wait becomes ({first} before {second})",
}
#: A tier that is not a verdict's own name.
PENDING_WORDS = "indeterminate, only for a missing fact"


def ranks(ordered: Sequence[Standing]) -> list[int]:
    """Competition ranks of standings sorted best first: equal standings share a rank, the next rank
    counts the candidates above it."""
    out: list[int] = []
    for i, s in enumerate(ordered):
        out.append(out[-1] if i and ordered[i - 1].key == s.key else i + 1)
    return out


def reasons(ordered: Sequence[tuple[str, Standing]], criteria: Sequence[Criterion],
            tier_names: Sequence[str]) -> list[RankReason]:
    """For each candidate of ``ordered`` (name, standing, best first): its equals, and why it ranks
    above the first candidate of the next lower rank."""
    out = []
    groups: list[list[tuple[str, Standing]]] = []  # runs of equal standings, best first
    for pair in ordered:
        if groups and groups[-1][0][1].key == pair[1].key:
            groups[-1].append(pair)
        else:
            groups.append([pair])
    for group, below in zip(groups, [*groups[1:], None]):
        for name, mine in group:
            out.append(_reason(tuple(n for n, _ in group if n != name), mine, below[0] if below else None,
                               criteria, tier_names))
    return out


def _reason(equal: tuple[str, ...], mine: Standing, below: tuple[str, Standing] | None,
            criteria: Sequence[Criterion], tier_names: Sequence[str]) -> RankReason:
    """What puts ``mine`` above the first candidate of the next rank: the first part of the standing
    that differs."""
    if below is None:
        return RankReason(equal)
    other, theirs = below
    position = next(i for i, (a, b) in enumerate(zip(mine.key, theirs.key)) if a != b)
    if position < 2:
        kind = ("verdict", "then")[position]
        pair = (tier_names[mine.tiers[position]], tier_names[theirs.tiers[position]])
        words = [PENDING_WORDS if t == "pending" else t for t in pair]
        return RankReason(equal, other, kind, TIER_WORDS[kind].format(first=words[0], second=words[1]), tiers=pair)
    criterion = criteria[position - 2]
    return RankReason(equal, other, criterion.id, criterion.reason, tuple((lang, r) for lang, _, r in criterion.translations))
