"""mmsequence: sequencing of T-cell redirecting therapies in relapsed multiple myeloma.

>>> from mmsequence import Evaluator, evaluate
>>> assessment = evaluate("examples/tb-014.json", as_of="2026-01-10")
>>> [(c.therapy, c.verdict) for c in assessment.candidates]
>>> evaluator = Evaluator(load_policy("site.yaml"))      # once per policy
>>> evaluator.evaluate(evaluator.read("patient.json"))  # a document or a FHIR Bundle
"""

# The one place the version is written: the package metadata is built from it (pyproject's
# [tool.hatch.version]); reading it back through importlib.metadata would cost a third of the
# command line's cold start.
__version__ = "0.1.0"

from .assessment import Assessment, CandidateAssessment, Finding  # noqa: E402
from .course import PatientCourse  # noqa: E402
from .dates import PartialDate  # noqa: E402
from .documents import read_document  # noqa: E402
from .errors import EngineError, InputError, MmsequenceError, RuleFileError  # noqa: E402
from .evaluator import Evaluator, evaluate  # noqa: E402
from .history import Override, PatientHistory, parse_document  # noqa: E402
from .policy import Policy, load_policy  # noqa: E402

__all__ = [
    "Assessment", "CandidateAssessment", "EngineError", "Evaluator", "Finding", "InputError", "MmsequenceError",
    "Override", "PartialDate", "PatientCourse", "PatientHistory", "Policy", "RuleFileError", "evaluate",
    "load_policy", "parse_document", "read_document",
]
