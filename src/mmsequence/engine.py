"""The only module that imports durable_rules: one guarded host per process.

durable_rules 2.0.28 gives wrong answers or crashes when used as its README shows. Each
mitigation below answers a measured failure (see the README's engine notes):

- one Host per process, its background dispatcher disabled (segfaults under threads; timer
  threads leak per Host); actions run synchronously on the caller's thread;
- ruleset names carry the rules' digest (a name registers once per process);
- a deep copy of each definition is registered (the engine deletes ``run`` in place);
- one unique session id per evaluation, never sharing a 32-bit FNV-1a hash with a live
  session (sessions are found by that hash alone), and every action checks that the facts
  it was given carry its session's id;
- a bootstrap action fires in every session before ``delete_state`` (deleting a session where
  no action ran frees uninitialised memory), and ``delete_state`` always runs in ``finally``
  (the engine refuses the 1,025th live session);
- a sink rule handles every candidate fact (an unhandled fact raises and leaves a half-asserted
  batch behind);
- exceptions inside actions, which the engine stores in the session state and otherwise
  ignores, are read back and raised;
- patient facts are asserted before candidate facts, and rule files use no negation;
- firings are de-duplicated (a rule with ``$or`` fires once per true branch).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from typing import Any

import durable.engine

from .errors import EngineError
from .rulebook import Rule

Firing = tuple[str, int]
"""A rule that fired for a candidate: (rule id, candidate id)."""


def fnv1a_32(text: str) -> int:
    """The hash durable_rules uses to find a session (FNV-1a, 32 bits, over the sid's bytes)."""
    value = 0x811C9DC5
    for byte in text.encode("ascii"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


class _Host(durable.engine.Host):
    """A Host with named actions bound at registration and no background dispatcher."""

    def __init__(self) -> None:
        self._named_actions: dict[str, Callable[[Any], None]] = {}
        super().__init__()

    def _run(self) -> None:  # the dispatcher thread segfaults under concurrent sessions
        pass

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._named_actions[action_name]


class _Sessions:
    """Allocates session ids whose hashes collide with no live session."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._live: set[int] = set()
        self._lock = threading.Lock()

    def open(self) -> str:
        with self._lock:
            while True:
                sid = f"e{next(self._counter)}"
                if fnv1a_32(sid) not in self._live:
                    self._live.add(fnv1a_32(sid))
                    return sid

    def close(self, sid: str) -> None:
        with self._lock:
            self._live.discard(fnv1a_32(sid))


class _Run:
    """What one evaluation's actions report."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.booted = False
        self.firings: list[Firing] = []
        self.errors: list[str] = []


_HOST: _Host | None = None
_HOST_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()  # one session live at a time: the C engine never releases the GIL anyway
_RUNS: dict[str, _Run] = {}  # by sid: what each live session's actions report
_SESSIONS = _Sessions()


def _host() -> _Host:
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = _Host()
        return _HOST


class Engine:
    """Evaluates one patient fact and its candidate facts against a fixed set of rules."""

    def __init__(self, rules: tuple[Rule, ...], digest: str) -> None:
        self.rules = rules
        self.name = f"mmsequence@{digest.removeprefix('sha256:')}"
        host = _host()
        with _HOST_LOCK:
            if self.name not in host._ruleset_directory:
                host._named_actions.update(self._actions())
                host.register_rulesets({self.name: copy.deepcopy(self._definition())})

    def _definition(self) -> dict[str, Any]:
        definition = {
            "__bootstrap": {"all": [{"m": {"t": "patient"}}], "run": f"{self.name}/__bootstrap"},
            "__sink": {"all": [{"m": {"t": "candidate"}}, {"never": {"t": "__never"}}], "run": f"{self.name}/__bootstrap"},
        }
        for rule in self.rules:
            definition[rule.id] = {"all": rule.when["all"], "run": f"{self.name}/{rule.id}"}
        return definition

    def _actions(self) -> dict[str, Callable[[Any], None]]:
        def bootstrap(c: Any) -> None:
            _RUNS[c.s.sid].booted = True

        actions = {f"{self.name}/__bootstrap": bootstrap}
        for rule in self.rules:
            actions[f"{self.name}/{rule.id}"] = self._finding_action(rule.id)
        return actions

    def _finding_action(self, rule_id: str) -> Callable[[Any], None]:
        def finding(c: Any) -> None:
            run = _RUNS[c.s.sid]
            if c.patient.sid != run.sid or c.candidate.sid != run.sid:
                run.errors.append(f"{rule_id}: joined facts of another session")
            run.firings.append((rule_id, c.candidate.cid))

        return finding

    def run(self, patient: dict[str, Any], candidates: list[dict[str, Any]]) -> list[Firing]:
        """Assert the facts in one fresh session; return each (rule, candidate) that fired, once, sorted.

        A rule whose condition holds ``$or`` fires once per true branch; a finding is one per
        rule and candidate however many branches hold.
        """
        host = _host()
        with _RUN_LOCK:
            sid = _SESSIONS.open()
            run = _RUNS[sid] = _Run(sid)
            try:
                host.assert_fact(self.name, {**patient, "sid": sid})
                if not run.booted:
                    raise EngineError("the bootstrap action did not run")
                if candidates:
                    host.assert_facts(self.name, [{**fact, "sid": sid} for fact in candidates])
                swallowed = host.get_state(self.name, sid).get("exception")
                if swallowed:  # the engine stores an action's exception in the state and carries on
                    run.errors.append(swallowed.split(", traceback")[0])
            finally:
                if run.booted:
                    host.delete_state(self.name, sid)
                del _RUNS[sid]
                _SESSIONS.close(sid)
        if run.errors:
            raise EngineError("; ".join(run.errors))
        return sorted(set(run.firings))
