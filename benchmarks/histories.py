"""Seeded generator of realistic patient histories for the benchmarks (no hypothesis needed).

8-12 lines of therapy, 2-3 of them T-cell redirecting, 6 candidates, sometimes a planned
apheresis, imprecise dates and a jurisdiction: the size the performance targets are set for.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

CONVENTIONAL = [
    ["daratumumab", "bortezomib", "lenalidomide", "dexamethasone"],
    ["carfilzomib", "pomalidomide", "dexamethasone"],
    ["isatuximab", "pomalidomide", "dexamethasone"],
    ["elotuzumab", "lenalidomide", "dexamethasone"],
    ["selinexor", "bortezomib", "dexamethasone"],
    ["ixazomib", "lenalidomide", "dexamethasone"],
    ["melphalan", "prednisone"],
    ["cyclophosphamide", "bortezomib", "dexamethasone"],
]
BSABS = ["teclistamab", "elranatamab", "linvoseltamab", "talquetamab", "cevostamab"]
CAR_TS = ["cilta-cel", "ide-cel"]
CANDIDATES = ["cilta-cel", "ide-cel", "teclistamab", "elranatamab", "talquetamab", "linvoseltamab"]


def _text(day: datetime.date, rng: random.Random) -> str:
    roll = rng.random()
    return day.isoformat()[:7] if roll < 0.1 else day.isoformat()


def history(i: int, rng: random.Random, as_of: datetime.date = datetime.date(2026, 6, 1)) -> dict[str, Any]:
    n_lines = rng.randint(8, 12)
    tcrt_at = set(rng.sample(range(n_lines - 4, n_lines), rng.randint(2, 3)))
    day = as_of - datetime.timedelta(days=rng.randint(2400, 3600))
    lines = []
    for k in range(n_lines):
        length = rng.randint(60, 300)
        if k in tcrt_at and rng.random() < 0.3:
            agent = rng.choice(CAR_TS)
            lines.append({"agents": [agent], "start": day.isoformat(), "end": day.isoformat(), "stop_reason": "progression"})
        else:
            agents = [rng.choice(BSABS)] if k in tcrt_at else rng.choice(CONVENTIONAL)
            end = min(day + datetime.timedelta(days=length), as_of - datetime.timedelta(days=1))
            lines.append({"agents": agents, "start": _text(day, rng), "end": _text(end, rng),
                          "stop_reason": rng.choice(["progression", "progression", "toxicity", "completed"])})
        day = min(day + datetime.timedelta(days=length + rng.randint(14, 120)), as_of - datetime.timedelta(days=1))
    document: dict[str, Any] = {
        "patient_id": f"BENCH-{i:06d}",
        "as_of": as_of.isoformat(),
        "car_t_eligible": rng.choice([True, False, None]),
        "jurisdiction": rng.choice(["US", "EU", None]),
        "lines": lines,
        "candidates": CANDIDATES,
    }
    if rng.random() < 0.3:
        planned = as_of + datetime.timedelta(days=rng.randint(10, 200))
        document["apheresis"] = [{"status": "planned", "date": planned.isoformat()}]
    return document


def histories(n: int, seed: int = 20261125) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [history(i, rng) for i in range(n)]
