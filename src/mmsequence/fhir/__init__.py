"""FHIR R4 (R4B) input (needs the ``fhir`` extra): a Bundle becomes a patient history.

Every reader of mmsequence accepts a Bundle wherever it accepts a patient-history document
(:func:`mmsequence.documents.read_document` tells them apart); this package does the reading.

>>> from mmsequence import Evaluator
>>> evaluator = Evaluator()
>>> history = evaluator.read(bundle)      # lines carry .origin: how each was formed
>>> assessment = evaluator.evaluate(history)   # derived["fhir"]["lines"], and the import's warnings
"""

from __future__ import annotations

import importlib
from typing import Any

#: Imported on first use: a command that reads no Bundle does not load the reader.
_LAZY = {"import_report": ".importer", "read_bundle": ".importer", "LINE_EXTENSION": ".records",
         "PAUSE_DAYS": "..lines", "REGIMEN_DAYS": "..lines"}

__all__ = ["LINE_EXTENSION", "PAUSE_DAYS", "REGIMEN_DAYS", "import_report", "read_bundle"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)
