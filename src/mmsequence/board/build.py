"""Tumor-board preparation: evaluate a batch of patient documents for one board date.

One bad file never stops the batch: it becomes a :class:`FailedInput` naming the file and
each problem's field. Patients are ordered by patient id (then file), failures by file, so
the same inputs always give the same board.
"""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
from tqdm import tqdm

from ..actions import Action
from ..assessment import Assessment, CandidateAssessment, Finding, Ruleset
from ..dates import PartialDate
from ..errors import InputError, MmsequenceError
from ..evaluator import Evaluator, evaluator_for
from ..history import PatientHistory
from ..i18n import ENGLISH
from ..plans import Plans
from ..policy import Policy
from ..rulebook import Rulebook, shipped_rulebook
from ..vocabulary import VERDICTS, severity
from .geometry import Timeline, build_timeline


@attrs.frozen
class Alternative:
    """An option ranked below the best one, with the one finding that keeps it from being first
    (None: nothing restricts it more than the best option; it ranks lower on the review's preferences)."""

    candidate: CandidateAssessment
    reason: Finding | None


@attrs.frozen
class SummaryRow:
    """A patient's line on the board's first page."""

    patient_id: str
    prior_lines: int
    tcrts: tuple[str, ...]
    car_t_eligible: str
    best: CandidateAssessment | None  # None: the record was not assessed (the myeloma gate)
    waits: tuple[CandidateAssessment, ...]
    blocking_rules: tuple[str, ...]
    warnings: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    others: tuple[Alternative, ...] = ()

    @property
    def best_order(self) -> int:
        """Sort key of the best option: most favourable verdict first, a record not assessed last."""
        return severity(self.best.verdict) if self.best is not None else len(VERDICTS)


@attrs.frozen
class PatientReport:
    """One evaluated patient: where the document came from, what it says and what was found."""

    source: str
    slug: str
    assessment: Assessment
    timeline: Timeline
    summary: SummaryRow
    #: The patient's sequence plans (the report shows the first two); None when the record was not assessed.
    plans: Plans | None = None

    @property
    def history(self) -> PatientHistory:
        return self.assessment.course.history

    @property
    def citations(self) -> tuple[str, ...]:
        """The distinct citations of all findings, in order of first appearance (numbered in the report)."""
        return tuple(dict.fromkeys(f.citation for c in self.assessment.candidates for f in c.findings))

    @property
    def references(self) -> tuple[Reference, ...]:
        """Each citation once, numbered as :attr:`citations`, with the rules that cite it."""
        findings = [f for c in self.assessment.candidates for f in c.findings]
        return tuple(
            Reference(n, citation, tuple(dict.fromkeys(f.rule for f in findings if f.citation == citation)),
                      tuple(dict.fromkeys(f.evidence for f in findings if f.citation == citation)))
            for n, citation in enumerate(self.citations, 1))

    def reference(self, finding: Finding) -> int:
        """The number of the finding's citation in the patient's references."""
        return self.citations.index(finding.citation) + 1


@attrs.frozen
class Reference:
    """A source cited by the findings of one patient: listed once, with the rules that cite it."""

    number: int
    citation: str
    rules: tuple[str, ...]
    evidence: tuple[str, ...]


@attrs.frozen
class FailedInput:
    """A file that could not be evaluated; each problem starts with its field."""

    source: str
    problems: tuple[str, ...]


@attrs.frozen
class Board:
    """Every patient evaluated as of the board date under one policy, and the files that failed."""

    as_of: datetime.date
    policy: Policy
    patients: tuple[PatientReport, ...]
    failures: tuple[FailedInput, ...]
    language: str = ENGLISH
    rulebook: Rulebook = attrs.field(factory=shipped_rulebook, eq=False, repr=False)

    def title(self, rule_id: str) -> str:
        """A rule's title (its clinical name) in the board's language, or the id of a rule the rule
        book does not hold."""
        rule = self.rulebook.get(rule_id)
        return rule.title_in(self.language) if rule is not None else rule_id

    @property
    def duplicate_ids(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Patient ids found in more than one file, with those files."""
        sources: dict[str, list[str]] = {}
        for patient in self.patients:
            sources.setdefault(patient.history.patient_id, []).append(patient.source)
        return tuple((pid, tuple(files)) for pid, files in sources.items() if len(files) > 1)

    @property
    def ruleset(self) -> Ruleset | None:
        """The rule set every patient was evaluated with (None when no patient was)."""
        return self.patients[0].assessment.ruleset if self.patients else None


def parse_board_date(text: str) -> datetime.date:
    """The board date as a full YYYY-MM-DD day; anything else is an :class:`InputError`."""
    try:
        day = PartialDate.parse(text)
        if day.is_exact:
            return day.earliest
    except ValueError:
        pass
    raise InputError([f"--as-of: {text!r} is not a full date (YYYY-MM-DD)"])


def collect_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders as their ``*.json`` files (recursively, sorted); each file once."""
    found: dict[Path, Path] = {}
    for item in map(Path, inputs):
        files = sorted(p for p in item.rglob("*.json") if p.is_file()) if item.is_dir() else [item]
        for path in files:
            found.setdefault(path.resolve(), path)
    return list(found.values())


def summarise(assessment: Assessment) -> SummaryRow:
    """The overview row: the lines of therapy as the text output counts them (IMWG lines, not records),
    TCRTs given in line order, waits soonest first, blocking rules not overridden,
    and each option after the best with the reason it is not first."""
    course = assessment.course
    agents = (agent for line in course.lines for agent in line.agents)
    return SummaryRow(
        patient_id=assessment.patient_id,
        prior_lines=assessment.prior_lines,
        tcrts=tuple(a.name for a in agents if a is not None and a.is_tcrt),
        car_t_eligible=assessment.derived["car_t_eligible"],
        best=assessment.candidates[0] if assessment.candidates else None,
        waits=tuple(sorted((c for c in assessment.candidates if c.verdict == "wait"), key=lambda c: (c.earliest_date, c.rank))),
        blocking_rules=tuple(sorted({f.rule for c in assessment.candidates for f in c.blocking})),
        warnings=assessment.warnings,
        actions=assessment.actions,
        others=tuple(Alternative(c, c.why_not_first) for c in assessment.candidates[1:]),
    )


def _slug(patient_id: str, taken: set[str]) -> str:
    """A file- and anchor-safe name for the patient, unique within the board."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", patient_id).strip("-") or "patient"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


def _evaluate_file(path: Path, as_of: datetime.date, evaluator: Evaluator) -> Assessment | FailedInput:
    """The assessment of one file (a patient document or a FHIR Bundle), or a FailedInput whose
    problems name the field."""
    try:
        return evaluator.evaluate(evaluator.read(path), as_of=as_of)
    except MmsequenceError as error:
        return FailedInput(str(path), tuple(p.removeprefix(f"{path}: ") for p in error.problems))


def _plans(evaluator: Evaluator, assessment: Assessment) -> Plans | None:
    """The plans of three steps from the patient's history on the board date (None when the record
    was not assessed, or has no candidate)."""
    if not assessment.gate.assessed or not assessment.candidates:
        return None
    return evaluator.plan(assessment.course.history, steps=3, as_of=assessment.as_of)


def build_board(
    inputs: Sequence[str | Path], as_of: datetime.date, policy: Policy, progress: bool = False,
    language: str = ENGLISH,
) -> Board:
    """Evaluate every patient document under ``inputs`` as of the board date, for readers of ``language``.

    ``progress`` shows a progress bar on stderr when it is a terminal and the batch takes
    more than a moment.
    """
    paths = collect_inputs(inputs)
    if not paths:
        raise InputError([f"no patient documents (*.json) in {', '.join(map(str, inputs))}"])
    bar = tqdm(paths, desc="evaluating", unit="patient", file=sys.stderr, disable=None if progress else True,
               delay=0.5, leave=False)
    evaluator = evaluator_for(policy)
    evaluated: list[tuple[str, Assessment]] = []
    failures: list[FailedInput] = []
    for path in bar:
        result = _evaluate_file(path, as_of, evaluator)
        if isinstance(result, FailedInput):
            failures.append(result)
        else:
            evaluated.append((str(path), result))
    return assemble_board(evaluated, as_of, policy, failures, language, evaluator)


def assemble_board(evaluated: Iterable[tuple[str, Assessment]], as_of: datetime.date, policy: Policy,
                   failures: Iterable[FailedInput] = (), language: str = ENGLISH,
                   evaluator: Evaluator | None = None) -> Board:
    """The board of assessments already made, each with the file it came from: patients by patient
    id (then file), failures by file; ``evaluator`` (default: the policy's) plans each patient's next lines."""
    evaluator = evaluator if evaluator is not None else evaluator_for(policy)
    taken: set[str] = set()
    patients = tuple(
        PatientReport(
            source=source,
            slug=_slug(assessment.patient_id, taken),
            assessment=assessment,
            timeline=build_timeline(assessment, language),
            summary=summarise(assessment),
            plans=_plans(evaluator, assessment),
        )
        for source, assessment in sorted(evaluated, key=lambda item: (item[1].patient_id, item[0]))
    )
    return Board(as_of, policy, patients, tuple(sorted(failures, key=lambda f: f.source)), language,
                 evaluator.rulebook)
