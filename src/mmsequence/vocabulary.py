"""The closed vocabularies of the patient-history document, each defined once.

Each is a ``Literal`` type (what the type checker, msgspec and the JSON Schema read) and a tuple
of its codes in the documented order (what the validator and the messages read), the tuple
derived from the type so that the two cannot drift.
"""

from __future__ import annotations

from typing import Literal, get_args

Response = Literal["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"]
StopReason = Literal["progression", "toxicity", "completed", "patient-choice", "other"]
ApheresisStatus = Literal["planned", "done", "failed", "cancelled"]
Jurisdiction = Literal["US", "EU", "CN"]
OverrideReason = Literal["rapid-progression", "no-alternative", "trial-enrolment", "patient-preference", "other"]

RESPONSES: tuple[str, ...] = get_args(Response)
STOP_REASONS: tuple[str, ...] = get_args(StopReason)
APHERESIS_STATUSES: tuple[str, ...] = get_args(ApheresisStatus)
JURISDICTIONS: tuple[str, ...] = get_args(Jurisdiction)
OVERRIDE_REASONS: tuple[str, ...] = get_args(OverrideReason)
