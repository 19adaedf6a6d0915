"""mmsequence benchmarks: every performance target, met or missed, beside the plain-Python oracle.

Every figure is measured beside the plain-Python oracle (mmsequence.testing.oracle) on the same
histories in the same run, and reported as a ratio; the two-process figures also beside the
machine's own two-process ceiling, a pure-Python control loop run one and two at a time. Run from
the repository root:

    python benchmarks/run.py                 # full sizes (about 10 minutes on 2 cores)
    python benchmarks/run.py --smoke         # small sizes, for CI: checks that it runs
    python benchmarks/run.py --json out.json # also write the figures as JSON
    python benchmarks/run.py --only latency  # some sections only
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

from mmsequence import Evaluator  # noqa: E402
from mmsequence._facts import engine_facts  # noqa: E402
from mmsequence.batch import Item, _Job  # noqa: E402
from mmsequence.course import derive_course  # noqa: E402
from mmsequence.history import parse_document  # noqa: E402
from mmsequence.policy import load_policy  # noqa: E402
from mmsequence.render import to_json, to_text  # noqa: E402
from mmsequence.testing.oracle import assess  # noqa: E402

SIZES = {
    "full": {"latency": 5000, "cohort": 100_000, "rss": (10_000, 100_000), "memory": (10_000, 100_000),
             "threads": 4000, "cold": 15, "control": 3_000_000},
    "smoke": {"latency": 300, "cohort": 1000, "rss": (300, 1000), "memory": (300, 1000),
              "threads": 400, "cold": 3, "control": 200_000},
}
POLICY = load_policy()
EVALUATOR = Evaluator(POLICY)
PIPELINE = _Job(None, None)  # what `mmsequence batch` does with one document: read, validate, evaluate, write
SECTIONS = ("latency", "engine", "cold_start", "throughput", "batch_memory", "memory", "threads", "text")


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
    return EVALUATOR.evaluate(doc)


def _oracle_api(doc):
    return assess(doc, datetime.date.fromisoformat(doc["as_of"]), POLICY)


def _engine_pipeline(text: str) -> str:
    return PIPELINE(Item("benchmark", text))[0]


def _oracle_pipeline(text: str) -> str:
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
    trip, oracle_trip = _percentiles(_timed(_engine_pipeline, texts)), _percentiles(_timed(_oracle_pipeline, texts))
    return {
        "api": engine, "oracle_api": oracle,
        "api_ratio_p50": engine["p50_ms"] / oracle["p50_ms"], "api_ratio_p99": engine["p99_ms"] / oracle["p99_ms"],
        "pipeline": trip, "oracle_pipeline": oracle_trip,
        "pipeline_ratio_p50": trip["p50_ms"] / oracle_trip["p50_ms"],
    }


def engine(docs) -> dict:
    """The rule engine's call alone (its C core, the facts as JSON, the firings read back) on each
    history's facts, beside the oracle's whole evaluation of the same history: the floor under the
    warm evaluation's ratio."""
    calls = []
    for doc in docs:
        history = EVALUATOR.read(doc)
        facts = engine_facts(derive_course(history, EVALUATOR.catalog, POLICY, datetime.date.fromisoformat(doc["as_of"])))
        calls.append((facts.patient, [fact for _, fact in facts.candidates]))
    run = EVALUATOR._engine.run
    for call in calls[:200]:
        run(*call)
    core = statistics.median(_timed(lambda call: run(*call), calls)) * 1000
    oracle = statistics.median(_timed(_oracle_api, docs)) * 1000
    return {"engine_call_p50_ms": core, "oracle_p50_ms": oracle, "ratio": core / oracle}


def cold_start(runs: int) -> dict:
    """Fresh processes of ``mmsequence evaluate`` and of the oracle, as installed: the package's
    bytecode compiled first (pip compiles it on install; with PYTHONDONTWRITEBYTECODE set, every
    process would otherwise compile the sources again)."""
    import compileall

    import mmsequence

    compileall.compile_dir(Path(mmsequence.__file__).parent, quiet=1)
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


# The parent's peak RSS is VmHWM: getrusage's ru_maxrss carries the launching process's peak over exec.
_BATCH = """
import json, sys, time
from pathlib import Path
from mmsequence.batch import run_batch
start = time.perf_counter()
run_batch(Path(sys.argv[1]), Path(sys.argv[2]), processes=int(sys.argv[3]))
seconds = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "parent_max_rss_mb": peak / 1024}))
"""


def _batch(source: Path, out: Path, processes: int) -> dict:
    """`run_batch` in a fresh interpreter (as `mmsequence batch` runs): its time and the parent's peak RSS."""
    done = subprocess.run([sys.executable, "-c", _BATCH, str(source), str(out), str(processes)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout)


def _cohort(folder: Path, n: int) -> Path:
    source = folder / f"cohort-{n}.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for doc in histories(n, seed=7):
            handle.write(json.dumps(doc) + "\n")
    return source


def _oracle_chunk(lines: list[str]) -> int:
    return sum(len(_oracle_pipeline(line)) > 0 for line in lines)


def _control(n: int) -> int:
    """A pure-Python loop: what the machine gives one process, with nothing shared."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def _in_processes(fn, args: list) -> float:
    """Seconds to run ``fn`` over ``args``, one spawned process each, all at once."""
    with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
        pool.map(_control, [1000] * len(args))  # started and warm
        start = time.perf_counter()
        pool.map(fn, args)
        return time.perf_counter() - start


def throughput(n: int, processes: int, control: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        source = _cohort(Path(tmp), n)
        lines = source.read_text(encoding="utf-8").splitlines()
        result = {"histories": n, "processes": processes}
        for p in sorted({1, processes}):
            out = Path(tmp) / f"out-{p}.jsonl"
            run = _batch(source, out, p)
            result[f"engine_{p}p_per_s"] = n / run["seconds"]
            if p == 1:
                result["output_bytes_per_history"] = out.stat().st_size / n
                start = time.perf_counter()
                _oracle_chunk(lines)
                result["oracle_1p_per_s"] = n / (time.perf_counter() - start)
            else:
                result[f"oracle_{p}p_per_s"] = n / _in_processes(_oracle_chunk, [lines[i::p] for i in range(p)])
        one = _in_processes(_control, [control])
        many = _in_processes(_control, [control] * processes)
        result["control_ceiling"] = processes * one / many
        result["per_core_ratio"] = result["oracle_1p_per_s"] / result["engine_1p_per_s"]
        result["scaling"] = result[f"engine_{processes}p_per_s"] / result["engine_1p_per_s"]
        result["oracle_scaling"] = result[f"oracle_{processes}p_per_s"] / result["oracle_1p_per_s"]
    return result


def batch_memory(sizes: tuple[int, int], processes: int) -> dict:
    """The batch parent's peak RSS for a small and a large cohort: streaming keeps it flat."""
    result = {"processes": processes}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            source = _cohort(Path(tmp), n)
            result[f"parent_rss_{n}_mb"] = _batch(source, Path(tmp) / f"out-{n}.jsonl", processes)["parent_max_rss_mb"]
            source.unlink()
    result["growth_mb"] = result[f"parent_rss_{sizes[1]}_mb"] - result[f"parent_rss_{sizes[0]}_mb"]
    return result


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory(docs, checkpoints: tuple[int, int]) -> dict:
    """RSS of one process evaluating again and again: the engine's sessions must not leak."""
    result = {}
    done = 0
    for mark in checkpoints:
        while done < mark:
            EVALUATOR.evaluate(docs[done % len(docs)])
            done += 1
        result[f"rss_after_{mark}_mb"] = _rss_mb()
    result["growth_mb"] = result[f"rss_after_{checkpoints[1]}_mb"] - result[f"rss_after_{checkpoints[0]}_mb"]
    return result


def threads(docs) -> dict:
    serial_start = time.perf_counter()
    serial = [EVALUATOR.evaluate(d).to_dict() for d in docs]
    serial_s = time.perf_counter() - serial_start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda d: EVALUATOR.evaluate(d).to_dict(), docs))
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


def text(docs) -> dict:
    """Writing an assessment as the text a person reads (``evaluate --format text``), in English and
    in Chinese, beside writing the same assessment as JSON."""
    assessments = [EVALUATOR.evaluate(d) for d in docs]
    writers = {"json": to_json, "text_en": to_text, "text_zh": lambda a: to_text(a, language="zh-CN")}
    for write in writers.values():  # warm: the catalogs of each language are read once
        write(assessments[0])
    medians = {name: statistics.median(_timed(write, assessments)) * 1000 for name, write in writers.items()}
    return {**{f"{name}_ms": ms for name, ms in medians.items()},
            "en_vs_json": medians["text_en"] / medians["json"], "zh_vs_json": medians["text_zh"] / medians["json"]}


def _targets(results: dict) -> list[tuple[str, str, bool, str]]:
    """(target, measured, met, beside the oracle) for every target the sections measured."""
    rows = []
    if "latency" in results:
        lat = results["latency"]
        rows += [
            ("warm evaluation p50 within 2.5x of the oracle", f"{lat['api_ratio_p50']:.1f}x",
             lat["api_ratio_p50"] <= 2.5, f"p50 {lat['api']['p50_ms']:.3f} ms, oracle {lat['oracle_api']['p50_ms']:.3f} ms"),
            ("warm evaluation p99 within 3x of its p50", f"{lat['api']['p99_ms'] / lat['api']['p50_ms']:.1f}x",
             lat["api"]["p99_ms"] <= 3 * lat["api"]["p50_ms"],
             f"p99 {lat['api']['p99_ms']:.3f} ms; {lat['api_ratio_p99']:.1f}x the oracle's p99"),
            ("pipeline within 2.5x of the oracle pipeline", f"{lat['pipeline_ratio_p50']:.2f}x",
             lat["pipeline_ratio_p50"] <= 2.5,
             f"p50 {lat['pipeline']['p50_ms']:.3f} ms, oracle {lat['oracle_pipeline']['p50_ms']:.3f} ms"),
        ]
    if "throughput" in results:
        cohort = results["throughput"]
        many = cohort["processes"]
        rows += [
            ("batch >= 2,000 histories/s on 1 process", f"{cohort['engine_1p_per_s']:.0f}/s",
             cohort["engine_1p_per_s"] >= 2000, f"oracle pipeline {cohort['per_core_ratio']:.1f}x faster "
             f"({cohort['oracle_1p_per_s']:.0f}/s)"),
            (f"batch on {many} processes >= 1.8x one", f"{cohort['scaling']:.2f}x ({cohort[f'engine_{many}p_per_s']:.0f}/s)",
             cohort["scaling"] >= 1.8, f"machine ceiling {cohort['control_ceiling']:.2f}x; oracle {cohort['oracle_scaling']:.2f}x"),
            ("output <= 4 KB per history", f"{cohort['output_bytes_per_history'] / 1024:.2f} KB",
             cohort["output_bytes_per_history"] <= 4096, "-"),
        ]
    if "batch_memory" in results:
        mem = results["batch_memory"]
        small, large = (k for k in mem if k.startswith("parent_rss_"))
        rows.append(("batch parent RSS growth <= 10 MB", f"{mem['growth_mb']:.1f} MB", mem["growth_mb"] <= 10,
                     f"{small.split('_')[2]}: {mem[small]:.1f} MB, {large.split('_')[2]}: {mem[large]:.1f} MB"))
    if "cold_start" in results:
        cold = results["cold_start"]
        rows.append(("cold start of mmsequence evaluate <= 200 ms", f"{cold['cli_ms']:.0f} ms", cold["cli_ms"] <= 200,
                     f"{cold['ratio']:.1f}x the oracle ({cold['oracle_ms']:.0f} ms)"))
    return rows


def _context(results: dict) -> list[tuple[str, str, str]]:
    """Figures beside the targets: one process's memory over many evaluations, threads."""
    rows = []
    if "memory" in results:
        memory = results["memory"]
        rows.append(("RSS growth, one process evaluating", f"{memory['growth_mb']:.1f} MB",
                     ", ".join(f"{k} {v:.1f}" for k, v in memory.items() if k != "growth_mb")))
    if "engine" in results:
        eng = results["engine"]
        rows.append(("the rule engine's call alone (median)", f"{eng['engine_call_p50_ms']:.3f} ms",
                     f"{eng['ratio']:.2f}x the oracle's whole evaluation ({eng['oracle_p50_ms']:.3f} ms)"))
    if "text" in results:
        txt = results["text"]
        rows.append(("text output, English / Chinese (median)", f"{txt['text_en_ms']:.2f} / {txt['text_zh_ms']:.2f} ms",
                     f"{txt['en_vs_json']:.1f}x / {txt['zh_vs_json']:.1f}x writing the same assessment as JSON"
                     f" ({txt['json_ms']:.2f} ms)"))
    if "threads" in results:
        th = results["threads"]
        rows.append(("8 threads", f"{th['threads_8_per_s']:.0f}/s",
                     f"identical to serial: {th['identical_to_serial']}; oracle {th['ratio']:.1f}x"))
    return rows


def _table(results: dict) -> str:
    rows = [(t, m, "met" if ok else "MISSED", o) for t, m, ok, o in _targets(results)]
    rows += [(t, m, "", o) for t, m, o in _context(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a.ljust(widths[0])}  {b.rjust(widths[1])}  {c.ljust(widths[2])}  {d}" for a, b, c, d in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes: checks the benchmark runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--cohort", type=int, help="histories in the throughput cohort (default: the size's)")
    args = parser.parse_args()
    size = {**SIZES["smoke" if args.smoke else "full"]}
    if args.cohort:
        size["cohort"] = args.cohort
    processes = len(os.sched_getaffinity(0))
    docs = histories(max(size["latency"], size["threads"], 2000))
    sections = {
        "latency": lambda: latency(docs[: size["latency"]]),
        "engine": lambda: engine(docs[: size["latency"]]),
        "cold_start": lambda: cold_start(size["cold"]),
        "throughput": lambda: throughput(size["cohort"], processes, size["control"]),
        "batch_memory": lambda: batch_memory(size["rss"], processes),
        "memory": lambda: memory(docs, size["memory"]),
        "threads": lambda: threads(docs[: size["threads"]]),
        "text": lambda: text(docs[: size["threads"]]),
    }
    results = {
        "machine": {"python": platform.python_version(), "cpus": processes, "platform": platform.platform()},
        "mode": "smoke" if args.smoke else "full",
        **{name: run() for name, run in sections.items() if not args.only or name in args.only},
    }
    results["targets"] = [{"target": t, "measured": m, "met": ok, "beside_oracle": o} for t, m, ok, o in _targets(results)]
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if results.get("threads", {}).get("identical_to_serial", True) else 1


if __name__ == "__main__":
    sys.exit(main())
