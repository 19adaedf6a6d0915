"""Sequence plans against single evaluations, in the same process, on realistic histories.

For each of N seeded histories (benchmarks/histories.py: 8-12 lines, 2-3 of them T-cell
redirecting, sometimes a planned apheresis, imprecise dates, a jurisdiction), with the default
candidates of a plan (every approved TCRT of the jurisdiction and the approved Tec-Dara regimen):
one evaluation, then the plans of 3 steps, each timed (interleaved, so that both see the same
machine); then the same histories with their T-cell redirecting lines made conventional, where
the plans are widest. Target: a patient's plans take at most 30 times one evaluation of the same patient
(mean over patients), since plans evaluate many extended histories; the number per patient is
reported.

    python benchmarks/plans.py [--n 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from histories import history  # noqa: E402

from mmsequence import load_policy  # noqa: E402
from mmsequence.evaluator import evaluator_for  # noqa: E402
from mmsequence.plans import default_candidates  # noqa: E402

TARGET_RATIO = 30.0


def _naive(doc: dict) -> dict:
    """The same history with its T-cell redirecting lines given as conventional ones (the widest plans)."""
    lines = [{**line, "agents": ["pomalidomide", "dexamethasone"], "end": line.get("end") or line["start"]}
             if any(a in TCRTS for a in line["agents"]) else line for line in doc["lines"]]
    return {**doc, "lines": lines, "apheresis": []}


TCRTS = {"teclistamab", "elranatamab", "linvoseltamab", "talquetamab", "cevostamab", "cilta-cel", "ide-cel"}


def run(n: int, steps: int = 3, naive: bool = False) -> dict:
    evaluator = evaluator_for(load_policy())
    rng = random.Random(20261207)
    documents = []
    for i in range(n):
        doc = _naive(history(i, rng)) if naive else history(i, rng)
        doc["candidates"] = list(default_candidates(evaluator.catalog, doc.get("jurisdiction")))
        documents.append(doc)
    evaluator.plan(documents[0], steps)  # warm caches (rule files, engine) outside the timing
    single, planned, ratios, evaluations, offered = [], [], [], [], []
    for doc in documents:
        started = time.perf_counter()
        evaluator.evaluate(doc)
        one = time.perf_counter() - started
        started = time.perf_counter()
        plans = evaluator.plan(doc, steps)
        many = time.perf_counter() - started
        single.append(one)
        planned.append(many)
        ratios.append(many / one)
        evaluations.append(plans.evaluations)
        offered.append(len(plans.plans))
    mean_ratio = statistics.mean(planned) / statistics.mean(single)
    return {
        "cohort": "the same histories, T-cell redirecting lines made conventional" if naive else "realistic histories",
        "patients": n, "steps": steps,
        "candidates_per_patient": round(statistics.mean(len(d["candidates"]) for d in documents), 1),
        "evaluate_ms": {"mean": round(1000 * statistics.mean(single), 2), "median": round(1000 * statistics.median(single), 2)},
        "plan_ms": {"mean": round(1000 * statistics.mean(planned), 2), "median": round(1000 * statistics.median(planned), 2),
                    "max": round(1000 * max(planned), 2)},
        "ratio_plan_to_evaluate": {"of_means": round(mean_ratio, 1), "median_per_patient": round(statistics.median(ratios), 1),
                                   "p95_per_patient": round(sorted(ratios)[int(0.95 * (n - 1))], 1)},
        "evaluations_per_patient": {"mean": round(statistics.mean(evaluations), 1), "median": statistics.median(evaluations),
                                    "max": max(evaluations)},
        "plans_offered_per_patient": {"mean": round(statistics.mean(offered), 1), "max": max(offered)},
        "target": f"plan <= {TARGET_RATIO:g}x one evaluation (ratio of means)",
        "met": mean_ratio <= TARGET_RATIO,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="histories (default: 1000)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = {"benchmark": "benchmarks/plans.py", "command": f"python benchmarks/plans.py --n {args.n}",
               "realistic": run(args.n), "tcrt_naive": run(args.n, naive=True)}
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if results["realistic"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
