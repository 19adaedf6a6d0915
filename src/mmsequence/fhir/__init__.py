"""FHIR R4 (R4B) input: a Bundle becomes a patient-history document (needs the ``fhir`` extra).

>>> from mmsequence.fhir import evaluate_bundle, from_bundle
>>> imported = from_bundle(bundle)          # .document, .lines (how each was formed), .warnings
>>> assessment = evaluate_bundle(bundle)    # the assessment, with derived["fhir"] and the warnings
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..assessment import Assessment
from ..evaluator import evaluate
from ..history import Override, read_document
from ..policy import Policy
from .importer import FhirImport, LineSource, evaluate_bundle, from_bundle
from .lines import PAUSE_DAYS, REGIMEN_DAYS
from .model import is_bundle
from .records import LINE_EXTENSION


def evaluate_file(
    source: Any,
    as_of: datetime.date | str | None = None,
    policy: Policy | str | Path | None = None,
    overrides: Iterable[Override] = (),
) -> Assessment:
    """Evaluate a patient-history document or a FHIR Bundle (told apart by ``resourceType``)."""
    document = read_document(source)
    if is_bundle(document):
        return evaluate_bundle(document, as_of=as_of, policy=policy, overrides=overrides)
    return evaluate(document, as_of=as_of, policy=policy, overrides=overrides)


__all__ = [
    "FhirImport", "LINE_EXTENSION", "LineSource", "PAUSE_DAYS", "REGIMEN_DAYS", "evaluate_bundle", "evaluate_file",
    "from_bundle", "is_bundle",
]
