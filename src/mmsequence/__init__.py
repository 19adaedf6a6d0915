"""mmsequence: sequencing of T-cell redirecting therapies in relapsed multiple myeloma.

>>> from mmsequence import Evaluator, evaluate
>>> assessment = evaluate("examples/tb-014.json", as_of="2026-01-10")
>>> [(c.therapy, c.verdict) for c in assessment.candidates]
>>> evaluator = Evaluator(load_policy("site.yaml"))      # once per policy
>>> evaluator.evaluate(evaluator.read("patient.json"))  # a document or a FHIR Bundle
"""

from ._version import __version__
from .assessment import Assessment, CandidateAssessment, Finding
from .course import PatientCourse
from .dates import PartialDate
from .documents import read_document
from .errors import EngineError, InputError, MmsequenceError, RuleFileError
from .evaluator import Evaluator, evaluate
from .history import Override, PatientHistory, parse_document
from .policy import Policy, load_policy

__all__ = [
    "Assessment",
    "CandidateAssessment",
    "EngineError",
    "Evaluator",
    "Finding",
    "InputError",
    "MmsequenceError",
    "Override",
    "PartialDate",
    "PatientCourse",
    "PatientHistory",
    "Policy",
    "RuleFileError",
    "__version__",
    "evaluate",
    "load_policy",
    "parse_document",
    "read_document",
]
