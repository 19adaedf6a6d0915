"""The durable_rules guard: each measured failure mode has a test that catches it coming back."""

import json
import subprocess
import sys
import textwrap
import threading

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsequence import EngineError, evaluate
from mmsequence import _engine as engine_module
from mmsequence._engine import Engine, fnv1a_32
from mmsequence.rulebook import shipped_rulebook

from .builders import document, line


def _docs(n: int) -> list[dict]:
    """Patients whose verdicts differ, so any mix-up between sessions shows."""
    docs = []
    for i in range(n):
        month = 1 + i % 12
        docs.append(document(
            line("teclistamab", "2025-01-01", f"2025-{month:02d}-15"),
            patient_id=f"patient-{i}",
            as_of="2026-01-10",
            car_t_eligible=[True, False, None][i % 3],
            candidates=["talquetamab", "cilta-cel", "elranatamab"],
            biomarkers={"bcma_loss": i % 5 == 0},
        ))
    return docs


def test_fnv1a_matches_the_engine_hash_of_a_known_collision():
    # These two sids collide in durable_rules' session lookup (measured on 2.0.28).
    assert fnv1a_32("patient-332789") == fnv1a_32("patient-529192")


def test_session_ids_never_share_a_hash_with_a_live_session():
    sessions = engine_module._Sessions()
    first = sessions.open()
    # Offer the live sid again: the guard must skip it for the next one.
    sessions._counter = iter([int(first[1:]), int(first[1:]) + 1])
    second = sessions.open()
    assert second == f"e{int(first[1:]) + 1}"
    sessions.close(first)
    sessions._counter = iter([int(first[1:])])
    assert sessions.open() == first


def test_more_sessions_than_the_engine_cap_of_1024():
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")
    expected = evaluate(doc).to_dict()
    for _ in range(1100):
        assert evaluate(doc).to_dict() == expected


def test_no_state_leaks_between_patients():
    docs = _docs(12)
    first = [evaluate(d).to_dict() for d in docs]
    assert [evaluate(d).to_dict() for d in reversed(docs)] == list(reversed(first))


def test_threads_give_the_same_results_as_serial():
    docs = _docs(24)
    serial = [evaluate(d).to_dict() for d in docs]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [evaluate(d).to_dict() for d in docs[k % 4::4] * 5]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, got in results.items():
        assert got == serial[k % 4::4] * 5


def test_an_exception_inside_an_action_is_raised_and_the_session_cleaned_up(monkeypatch):
    doc = document(line("teclistamab", "2025-01-01", "2025-12-15"), as_of="2026-01-10")
    expected = evaluate(doc).to_dict()

    def broken(firings, rule_id, cid):
        raise RuntimeError("boom")

    monkeypatch.setitem(engine_module.ACTIONS, "finding", broken)
    engine = Engine(shipped_rulebook().rules, "test-action-error")
    with pytest.raises(EngineError, match=r"review.interval: action failed: RuntimeError..boom"):
        engine.run({"t": "patient", "car_t_eligible": "no", "prior_car_t": 0, "apheresis": "none", "unknown_agents": 0},
                   [{"t": "candidate", "cid": 0, "known": True, "modality": "bsab", "tcrt": True, "interval": "unmet", "interval_exact": True,
                     "anchor_kind": "as-of", "same_target_tcrt": False, "antigen_lost": False, "reserve_left": 2,
                     "status": "approved", "name": "talquetamab", "bcma": False, "washout": "none",
                     "same_target_count": 0, "same_target_refractory": "no"}])
    monkeypatch.undo()
    assert not engine_module._SESSIONS._live
    assert evaluate(doc).to_dict() == expected


def test_every_named_action_exists():
    from mmsequence.rulebook import ACTIONS

    assert set(ACTIONS) == set(engine_module.ACTIONS)
    assert {r.action for r in shipped_rulebook().rules} <= set(ACTIONS)


def test_a_fact_no_rule_matches_is_handled():
    engine = Engine(shipped_rulebook().rules, "test-unmatched")
    assert engine.run({"t": "patient", "car_t_eligible": "no"}, [{"t": "candidate", "cid": 0, "modality": "nothing"}]) == []


def test_engine_crash_modes_in_a_subprocess():
    """Concurrent sessions crashed the default host (segfault); run them where a crash cannot kill the suite."""
    script = textwrap.dedent("""
        import threading
        from mmsequence import evaluate
        from tests.test_engine import _docs
        docs = _docs(16)
        serial = [evaluate(d).to_dict() for d in docs]
        bad = []
        def work(k):
            for _ in range(40):
                for i, d in enumerate(docs):
                    if evaluate(d).to_dict() != serial[i]:
                        bad.append(i)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print("mismatches", len(bad))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "mismatches 0"


def test_sessions_where_no_rule_fires_are_cleaned_up_safely():
    """delete_state on a session where no action ran freed uninitialised memory; the bootstrap action prevents it."""
    script = textwrap.dedent("""
        from mmsequence._engine import Engine
        from mmsequence.rulebook import shipped_rulebook
        engine = Engine(shipped_rulebook().rules, "test-empty-sessions")
        for _ in range(2000):
            assert engine.run({"t": "patient", "car_t_eligible": "no"}, []) == []
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]


def test_the_core_door_refuses_every_function_that_registers_a_callback():
    for name in engine_module.Core.CALLBACKS:
        with pytest.raises(EngineError, match=f"{name} would register a Python callback"):
            getattr(engine_module.CORE, name)(0, lambda *args: 0)
    with pytest.raises(EngineError, match="get_state: mmsequence does not call this function"):
        engine_module.CORE.get_state(0, "e1")


def test_the_refused_functions_are_every_callback_registration_the_core_has():
    core = sys.modules["durable_rules_engine"]
    registrations = {name for name in dir(core) if name.startswith("set_") and name.endswith("_callback")}
    assert registrations == set(engine_module.Core.CALLBACKS)
    assert not set(engine_module.Core.CALLS) & registrations


_CALLBACK_SCRIPT = """
import os, sys
flags = sys.getdlopenflags()
if sys.argv[1] == "guarded":
    import mmsequence._engine
    assert sys.getdlopenflags() == flags, "the loader's flags were not restored"
else:
    sys.setdlopenflags(os.RTLD_LAZY)
import durable_rules_engine as core
handle = core.create_ruleset("callback-probe", '{"r": {"all": [{"m": {"t": "x"}}]}}')
try:
    core.set_get_idle_state_callback(handle, lambda *args: print("called", flush=True) or 0)
except Exception as error:
    print("refused", type(error).__name__, flush=True)
core.start_action(handle)  # runs the idle-state callback, if one was registered
print("alive", flush=True)
"""


@pytest.mark.parametrize("mode", ["guarded", "bare"])
def test_a_registered_callback_kills_the_process_on_313_unless_refused(mode):
    """On 3.13+ the core's callback trampoline calls the removed PyEval_CallObject: the process
    dies (the bare control run shows it); loaded by mmsequence, registering one is refused instead."""
    done = subprocess.run([sys.executable, "-c", _CALLBACK_SCRIPT, mode], capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    if sys.version_info < (3, 13):
        assert (done.returncode, done.stdout.split()) == (0, ["called", "alive"]), done.stderr[-2000:]
    elif mode == "guarded":
        assert (done.returncode, done.stdout.split()) == (0, ["refused", "EngineError", "alive"]), done.stderr[-2000:]
    else:
        assert done.returncode != 0 and "alive" not in done.stdout
        assert "PyEval_CallObject" in done.stderr


@pytest.mark.parametrize("value, fires", [(1e20, True), (4.5e16, True), (1e-7, False), (5e-5, False), (401, True)])
def test_a_float_written_with_an_exponent_reaches_the_core(value, fires):
    """The core's JSON parser reads '1.0e+20' but not '1e+20' (refused, or a crash in a batch)."""
    doc = document(line("teclistamab", "2025-01-01", "2025-06-01"), as_of="2026-01-10",
                   candidates=["elranatamab"], biomarkers={"soluble_bcma_ng_ml": value})
    findings = evaluate(doc).candidate("elranatamab").findings
    assert ("extended.soluble-bcma" in {f.rule for f in findings}) is fires


@given(st.one_of(st.text(), st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False)))
@settings(max_examples=500, deadline=None)
def test_a_value_for_the_core_is_kept_and_written_with_no_bare_exponent(value):
    text = orjson.dumps({"a": engine_module._for_core(value)}).decode()
    assert json.loads(text) == {"a": value}
    number = text[len('{"a":'):-1]
    assert isinstance(value, str) or "e" not in number or "." in number.split("e")[0]
