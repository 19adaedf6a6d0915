"""mmsequence: sequencing of T-cell redirecting therapies in relapsed multiple myeloma.

>>> from mmsequence import evaluate
>>> assessment = evaluate("examples/tb-014.json", as_of="2026-01-10")
>>> [(c.therapy, c.verdict) for c in assessment.candidates]
"""

__version__ = "0.1.0"

from .assessment import Assessment, CandidateAssessment, Finding
from .dates import PartialDate
from .errors import EngineError, InputError, MmsequenceError, RuleFileError
from .evaluator import evaluate
from .history import Override, PatientHistory, parse_document
from .policy import Policy, load_policy

__all__ = [
    "Assessment", "CandidateAssessment", "EngineError", "Finding", "InputError", "MmsequenceError",
    "Override", "PartialDate", "PatientHistory", "Policy", "RuleFileError", "evaluate", "load_policy",
    "parse_document",
]
