"""Shared helpers: small patient documents built in one line each."""

from __future__ import annotations

import copy
from typing import Any


def line(agents: str | list[str], start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    names = [agents] if isinstance(agents, str) else agents
    return {"agents": names, "start": start, **({"end": end} if end else {}), **extra}


BASE_LINE = line(["daratumumab", "bortezomib", "lenalidomide", "dexamethasone"], "2020-01-01", "2022-12-31")


def document(*lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid document: a first conventional line, then ``lines``; fields override the rest."""
    doc = {
        "patient_id": "T-1",
        "as_of": "2026-06-01",
        "car_t_eligible": False,
        "lines": [copy.deepcopy(BASE_LINE), *lines],
        "candidates": ["talquetamab"],
    }
    doc.update(fields)
    return doc
