"""FHIR R4 (R4B) input (needs the ``fhir`` extra): a Bundle becomes a patient history.

Every reader of mmsequence accepts a Bundle wherever it accepts a patient-history document
(:func:`mmsequence.documents.read_document` tells them apart); this package does the reading.

>>> from mmsequence import Evaluator
>>> evaluator = Evaluator()
>>> history = evaluator.read(bundle)      # lines carry .origin: how each was formed
>>> assessment = evaluator.evaluate(history)   # derived["fhir"]["lines"], and the import's warnings
"""

from __future__ import annotations

from ..lines import PAUSE_DAYS, REGIMEN_DAYS
from .importer import import_report, read_bundle
from .records import LINE_EXTENSION

__all__ = ["LINE_EXTENSION", "PAUSE_DAYS", "REGIMEN_DAYS", "import_report", "read_bundle"]
