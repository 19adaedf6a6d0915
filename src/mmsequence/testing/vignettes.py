"""Vignettes: patient histories with a pinned date and the verdicts a clinician expects.

A vignette file (JSON) holds ``rationale``, ``document`` (a patient-history document with
``as_of``, a FHIR Bundle, or the path of either relative to the vignette), optional ``policy``
(policy keys layered over the policy in use), ``expected``: for each candidate as the document
names it, the ``verdict`` and its ``earliest_date`` (the not-before date, null when nothing holds
it back), optionally what a wait becomes (``then``), its ``rank`` and the exact set of ``rules``
that fire for it; and, optionally, ``actions``: the codes of every action the assessment asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ..documents import load_json
from ..errors import InputError, MmsequenceError
from ..evaluator import evaluate
from ..policy import Policy, load_policy, policy_from_mapping

_KEYS = ("rationale", "document", "policy", "expected", "actions")
_EXPECTED_KEYS = ("verdict", "earliest_date", "then", "rank", "rules")


@attrs.frozen
class VignetteResult:
    name: str
    rationale: str
    mismatches: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def _load(path: Path) -> dict[str, Any]:
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError([f"{path}: expected a JSON object"])
    problems = [f"{path}: {key}: unknown field" for key in data if key not in _KEYS]
    problems += [f"{path}: {key}: is required" for key in ("rationale", "document", "expected") if key not in data]
    for name, expected in data.get("expected", {}).items():
        problems += [f"{path}: expected.{name}.{k}: unknown field" for k in expected if k not in _EXPECTED_KEYS]
        if "verdict" not in expected:
            problems.append(f"{path}: expected.{name}.verdict: is required")
    if problems:
        raise InputError(problems)
    return data


def run_vignette(path: Path, base: Policy) -> VignetteResult:
    """Evaluate one vignette and compare every expected value with the assessment."""
    data = _load(path)
    policy = policy_from_mapping(data["policy"], f"{path.name}: policy", base) if "policy" in data else base
    document = data["document"]
    if isinstance(document, str):
        document = load_json(path.parent / document)
    try:
        assessment = evaluate(document, policy=policy)
    except MmsequenceError as error:  # e.g. a FHIR chart without the fhir extra: this vignette fails, not the run
        return VignetteResult(path.stem, data["rationale"], tuple(f"not evaluated: {p}" for p in error.problems))
    mismatches = []
    if "actions" in data and sorted(a.code for a in assessment.actions) != sorted(data["actions"]):
        mismatches.append(f"actions {sorted(a.code for a in assessment.actions)!r}, expected {sorted(data['actions'])!r}")
    for name, expected in data["expected"].items():
        try:
            got = assessment.candidate(name)
        except KeyError:
            mismatches.append(f"{name}: not a candidate of the document")
            continue
        actual = {
            "verdict": got.verdict,
            "earliest_date": got.earliest_date.isoformat() if got.earliest_date else None,
            "then": got.then,
            "rank": got.rank,
            "rules": sorted({f.rule for f in got.findings}),
        }
        wanted = {"earliest_date": None, **expected}
        if "rules" in wanted:
            wanted["rules"] = sorted(wanted["rules"])
        for key, value in wanted.items():
            if actual[key] != value:
                mismatches.append(f"{name}: {key} {actual[key]!r}, expected {value!r}")
    return VignetteResult(path.stem, data["rationale"], tuple(mismatches))


def vignette_paths(sources: list[Path]) -> list[Path]:
    """Vignette files from files and folders, sorted within each folder."""
    paths = []
    for source in sources:
        paths += sorted(source.glob("*.json")) if source.is_dir() else [source]
    return paths


def run_vignettes(sources: list[Path], policy_path: str | Path | None = None) -> list[VignetteResult]:
    base = load_policy(policy_path)
    return [run_vignette(path, base) for path in vignette_paths(sources)]
