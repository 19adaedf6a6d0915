"""Tools to try to break a rule set: Hypothesis strategies and named safety invariants.

    from mmsequence.testing import check, patient_histories, policies

- strategies (``patient_histories``, ``partial_dates``, ``policies``, ``invalid_documents``,
  ``invalid_files``, ``realistic_charts``: a clean document and the noisy FHIR chart of the same
  care) need Hypothesis (the ``testing`` extra: ``pip install '.[testing]'`` in the checkout); they are imported
  on first use, so the invariants work without it;
- :mod:`~mmsequence.testing.invariants`: the safety invariants, each
  ``(document, assessment) -> list of violations``, and :func:`check`, which runs them all;
- :mod:`~mmsequence.testing.plan_invariants`: the invariants of sequence plans and
  :func:`check_plans`, which plans a document and runs them all; :mod:`~mmsequence.testing.plan_vignettes`
  runs the plan vignettes;
- :mod:`~mmsequence.testing.reference`: an independent reading of a patient document.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "INVARIANTS": "invariants", "check": "invariants", "PLAN_INVARIANTS": "plan_invariants", "check_plans": "plan_invariants",
    "patient_histories": "strategies", "partial_dates": "strategies", "policies": "strategies",
    "invalid_documents": "invalid", "invalid_files": "invalid", "realistic_charts": "charts",
}

__all__ = [*_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
