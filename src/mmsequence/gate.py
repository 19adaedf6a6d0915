"""The myeloma gate: a record is assessed only when it is a living myeloma patient's.

A hospital record (FHIR, OMOP) says whether the patient has multiple myeloma and whether the
patient died; mmsequence's own patient-history document is a myeloma history by construction. A
record without a myeloma diagnosis, or with a recorded death, is "not assessed": no verdicts, the
reason, and one action. A caller who knows better turns the gate off explicitly (the ``myeloma_gate``
argument of :meth:`mmsequence.Evaluator.evaluate`, ``--no-myeloma-gate``, the policy's
``myeloma_gate: false``); the assessment then says it was assessed on the caller's word.
"""

from __future__ import annotations

from typing import Any

import attrs

from .history import PatientHistory
from .notices import Notice

#: How an assessment passed the gate, or why it did not.
BASES = ("diagnosis", "document", "cohort", "caller", "no-diagnosis", "death")


@attrs.frozen
class Gate:
    """Whether the record was assessed, on what basis, and the records that decided it."""

    basis: str = attrs.field(validator=attrs.validators.in_(BASES))
    records: tuple[str, ...] = ()

    @property
    def assessed(self) -> bool:
        return self.basis in ("diagnosis", "document", "cohort", "caller")

    @property
    def reason(self) -> Notice:
        return Notice(f"gate.{self.basis}")

    @property
    def action(self) -> str | None:
        """The action code that would let the record be assessed (None when it was assessed)."""
        return {"no-diagnosis": "record-myeloma-diagnosis", "death": "check-death"}.get(self.basis)

    def to_dict(self) -> dict[str, Any]:
        return {"state": "assessed" if self.assessed else "not-assessed", "basis": self.basis,
                "reason": self.reason, "records": list(self.records)}


def myeloma_gate(history: PatientHistory, enabled: bool = True) -> Gate:
    """The gate a history passes or not; ``enabled`` False assesses a record the gate would stop."""
    if history.diagnoses is None:
        return Gate("cohort" if history.format == "omop" else "document")
    if history.death is not None and enabled:
        return Gate("death", (history.death,))
    if history.diagnoses and (enabled or history.death is None):
        return Gate("diagnosis", history.diagnoses)
    if not enabled:
        return Gate("caller", (*history.diagnoses, *((history.death,) if history.death else ())))
    return Gate("no-diagnosis")
