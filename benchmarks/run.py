"""mmsequence benchmarks: latency, round trip, cold start, throughput, memory, threads.

Every figure is measured beside the plain-Python oracle (mmsequence.testing.oracle) on the same
histories in the same run, and reported as a ratio. Run from the repository root:

    python benchmarks/run.py                 # full sizes (about 10 minutes on 2 cores)
    python benchmarks/run.py --smoke         # small sizes, for CI: checks that it runs
    python benchmarks/run.py --json out.json # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from histories import histories  # noqa: E402

from mmsequence import evaluate  # noqa: E402
from mmsequence.batch import run_batch  # noqa: E402
from mmsequence.history import parse_document  # noqa: E402
from mmsequence.policy import load_policy  # noqa: E402
from mmsequence.testing.oracle import assess  # noqa: E402

SIZES = {
    "full": {"latency": 5000, "cohort": 100_000, "rss": (10_000, 200_000), "threads": 4000, "cold": 15},
    "smoke": {"latency": 300, "cohort": 1000, "rss": (500, 2000), "threads": 400, "cold": 3},
}
POLICY = load_policy()


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": ordered[len(ordered) // 2] * 1e3, "p99_ms": ordered[int(len(ordered) * 0.99)] * 1e3}


def _timed(fn, items) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def _engine_api(doc):
    return evaluate(doc, policy=POLICY)


def _oracle_api(doc):
    return assess(doc, datetime.date.fromisoformat(doc["as_of"]), POLICY)


def _engine_round_trip(text: str) -> str:
    return json.dumps(evaluate(json.loads(text), policy=POLICY).to_dict(), ensure_ascii=False)


def _oracle_round_trip(text: str) -> str:
    """The same parsing and validation as the engine's pipeline, the oracle instead of the engine."""
    doc = json.loads(text)
    parse_document(doc)
    result = assess(doc, datetime.date.fromisoformat(doc["as_of"]), POLICY)
    return json.dumps({k: [v, then, d.isoformat() if d else None] for k, (v, then, d) in result.items()})


def latency(docs) -> dict:
    for doc in docs[:200]:  # warm both
        _engine_api(doc), _oracle_api(doc)
    engine, oracle = _percentiles(_timed(_engine_api, docs)), _percentiles(_timed(_oracle_api, docs))
    texts = [json.dumps(d) for d in docs]
    trip, oracle_trip = _percentiles(_timed(_engine_round_trip, texts)), _percentiles(_timed(_oracle_round_trip, texts))
    return {
        "api": engine, "oracle_api": oracle, "api_ratio_p50": engine["p50_ms"] / oracle["p50_ms"],
        "round_trip": trip, "oracle_round_trip": oracle_trip,
        "round_trip_ratio_p50": trip["p50_ms"] / oracle_trip["p50_ms"],
        "round_trip_over_api_p50": trip["p50_ms"] / engine["p50_ms"],
    }


def cold_start(runs: int) -> dict:
    example = ROOT / "examples" / "tb-014.json"
    commands = {
        "cli": [sys.executable, "-m", "mmsequence.cli", "evaluate", str(example)],
        "oracle": [sys.executable, "-c",
                   "import json,sys,datetime; sys.path.insert(0, sys.argv[2]); from mmsequence.testing.oracle import assess; "
                   "from mmsequence.policy import load_policy; d=json.load(open(sys.argv[1])); "
                   "print(assess(d, datetime.date.fromisoformat(d['as_of']), load_policy()))", str(example), str(ROOT)],
    }
    result = {}
    for name, command in commands.items():
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
            samples.append(time.perf_counter() - start)
        result[f"{name}_ms"] = statistics.median(samples) * 1e3
    result["ratio"] = result["cli_ms"] / result["oracle_ms"]
    return result


def _oracle_chunk(lines: list[str]) -> int:
    return sum(len(_oracle_round_trip(line)) > 0 for line in lines)


def throughput(docs, processes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "cohort.jsonl"
        source.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        lines = source.read_text(encoding="utf-8").splitlines()
        result = {"histories": len(docs)}
        for n in sorted({1, processes}):
            out = Path(tmp) / f"out-{n}.jsonl"
            start = time.perf_counter()
            run_batch(source, out, processes=n)
            result[f"engine_{n}p_per_s"] = len(docs) / (time.perf_counter() - start)
            start = time.perf_counter()
            if n == 1:
                _oracle_chunk(lines)
            else:
                chunks = [lines[i::n] for i in range(n)]
                with multiprocessing.get_context("spawn").Pool(n) as pool:
                    pool.map(_oracle_chunk, chunks)
            result[f"oracle_{n}p_per_s"] = len(docs) / (time.perf_counter() - start)
        result["per_core_ratio"] = result["oracle_1p_per_s"] / result["engine_1p_per_s"]
        result["scaling"] = result[f"engine_{processes}p_per_s"] / result["engine_1p_per_s"]
        result["processes"] = processes
    return result


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory(docs, checkpoints: tuple[int, int]) -> dict:
    result = {}
    done = 0
    for mark in checkpoints:
        while done < mark:
            evaluate(docs[done % len(docs)], policy=POLICY)
            done += 1
        result[f"rss_after_{mark}_mb"] = _rss_mb()
    result["growth_mb"] = result[f"rss_after_{checkpoints[1]}_mb"] - result[f"rss_after_{checkpoints[0]}_mb"]
    return result


def threads(docs) -> dict:
    serial_start = time.perf_counter()
    serial = [evaluate(d, policy=POLICY).to_dict() for d in docs]
    serial_s = time.perf_counter() - serial_start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda d: evaluate(d, policy=POLICY).to_dict(), docs))
    threaded_s = time.perf_counter() - start
    oracle_start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(_oracle_api, docs))
    oracle_s = time.perf_counter() - oracle_start
    return {
        "serial_per_s": len(docs) / serial_s, "threads_8_per_s": len(docs) / threaded_s,
        "oracle_threads_8_per_s": len(docs) / oracle_s, "ratio": (len(docs) / oracle_s) / (len(docs) / threaded_s),
        "identical_to_serial": parallel == serial,
    }


def _table(results: dict) -> str:
    lat, trip = results["latency"]["api"], results["latency"]["round_trip"]
    cohort = results["throughput"]
    many = cohort["processes"]
    rows = [
        ("warm evaluation p50 / p99 (ms)", f"{lat['p50_ms']:.3f} / {lat['p99_ms']:.3f}", f"{results['latency']['api_ratio_p50']:.1f}x oracle"),
        ("JSON round trip p50 / p99 (ms)", f"{trip['p50_ms']:.3f} / {trip['p99_ms']:.3f}",
         f"{results['latency']['round_trip_ratio_p50']:.1f}x oracle; {results['latency']['round_trip_over_api_p50']:.2f}x API"),
        ("cold start, CLI (ms)", f"{results['cold_start']['cli_ms']:.0f}", f"{results['cold_start']['ratio']:.1f}x oracle"),
        ("throughput, 1 process (histories/s)", f"{results['throughput']['engine_1p_per_s']:.0f}",
         f"oracle {results['throughput']['per_core_ratio']:.1f}x faster"),
        (f"throughput, {many} processes (histories/s)", f"{cohort[f'engine_{many}p_per_s']:.0f}",
         f"scaling {cohort['scaling']:.2f}x"),
        ("RSS growth (MB)", f"{results['memory']['growth_mb']:.1f}", ", ".join(f"{k} {v:.1f}" for k, v in results["memory"].items() if k != "growth_mb")),
        ("8 threads (histories/s)", f"{results['threads']['threads_8_per_s']:.0f}",
         f"identical to serial: {results['threads']['identical_to_serial']}; oracle {results['threads']['ratio']:.1f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a.ljust(width)}  {b.rjust(16)}  {c}" for a, b, c in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes: checks the benchmark runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    size = SIZES["smoke" if args.smoke else "full"]
    processes = len(os.sched_getaffinity(0))
    docs = histories(max(size["latency"], size["threads"], 2000))
    results = {
        "machine": {"python": platform.python_version(), "cpus": processes, "platform": platform.platform()},
        "mode": "smoke" if args.smoke else "full",
        "latency": latency(docs[: size["latency"]]),
        "cold_start": cold_start(size["cold"]),
        "throughput": throughput(histories(size["cohort"], seed=7), processes),
        "memory": memory(docs, size["rss"]),
        "threads": threads(docs[: size["threads"]]),
    }
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if results["threads"]["identical_to_serial"] else 1


if __name__ == "__main__":
    sys.exit(main())
