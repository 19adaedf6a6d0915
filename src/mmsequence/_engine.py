"""The only module that imports durable_rules: its rule-matching core, driven directly.

durable_rules 2.0.28 gives wrong answers or crashes when used as its README shows. mmsequence
does not use its Python ``Host`` at all (whose background dispatcher thread segfaults under
concurrent sessions, whose timer threads leak, and which swallows exceptions raised in
actions): it registers each ruleset with the C core and runs the action loop itself, on the
caller's thread. The remaining measured failure modes are each guarded here:

- a ruleset name registers once per process, so names carry the rules' digest;
- one unique session id per evaluation, never sharing a 32-bit FNV-1a hash with a live session
  (the core finds sessions by that hash alone), and every firing is checked to carry only
  facts of its own session;
- a bootstrap rule fires in every session before ``delete_state`` (deleting a session where no
  action ran frees uninitialised memory), and ``delete_state`` always runs (the core refuses
  the 1,025th live session);
- a sink rule handles every candidate fact (an unhandled fact is refused after the matched
  facts of its batch were stored);
- patient facts are asserted before candidate facts, and rule files use no negation (``none``
  is right only when the negated facts arrive first);
- a rule reports once per candidate (a rule with ``$or`` fires once per true branch);
- facts carry only the fields some rule reads (less JSON to copy, match and return);
- numbers are written in a form the core's JSON parser reads (it refuses an exponent without a
  decimal point, such as ``1e-05``), and any refusal of the core is an :class:`EngineError`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import durable_rules_engine

from .errors import EngineError
from .rulebook import Rule, fields_used

Firing = tuple[str, int]
"""A rule that fired for a candidate: (rule id, candidate id)."""

_BOOTSTRAP = "__bootstrap"
_SINK = "__sink"
_HANDLED, _OBSERVED = 0, 2  # result codes of the core's assert calls (1: no rule accepts the fact)


def fnv1a_32(text: str) -> int:
    """The hash durable_rules uses to find a session (FNV-1a, 32 bits, over the sid's bytes)."""
    value = 0x811C9DC5
    for byte in text.encode("ascii"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


class _Sessions:
    """Allocates session ids whose hashes collide with no live session."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._live: set[int] = set()

    def open(self) -> str:
        while True:
            sid = f"e{next(self._counter)}"
            if fnv1a_32(sid) not in self._live:
                self._live.add(fnv1a_32(sid))
                return sid

    def close(self, sid: str) -> None:
        self._live.discard(fnv1a_32(sid))


def _number(value: float) -> str:
    """A float as JSON the core reads: ``repr``, with ``.0`` before an exponent that lacks a point."""
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text


def _dumps(facts: dict[str, Any] | list[dict[str, Any]]) -> str:
    """Flat facts (or a list of them) as JSON for the core; floats through :func:`_number`."""
    if isinstance(facts, list):
        return "[" + ",".join(map(_dumps, facts)) + "]"
    if not any(isinstance(v, float) for v in facts.values()):
        return json.dumps(facts)
    return "{" + ",".join(f"{json.dumps(k)}:{_number(v) if isinstance(v, float) else json.dumps(v)}"
                          for k, v in facts.items()) + "}"


def _finding(firings: set[Firing], rule_id: str, bound: dict[str, dict[str, Any]]) -> None:
    firings.add((rule_id, bound["candidate"]["cid"]))


#: The named actions a rule file may give as ``action`` (see rulebook.ACTIONS).
ACTIONS = {"finding": _finding}

_LOCK = threading.Lock()  # one session live at a time: the core never releases the GIL anyway
_SESSIONS = _Sessions()
_HANDLES: dict[str, int] = {}  # ruleset name -> the core's handle, for the life of the process


class Engine:
    """Evaluates one patient fact and its candidate facts against a fixed set of rules."""

    def __init__(self, rules: tuple[Rule, ...], digest: str) -> None:
        self._actions = {rule.id: ACTIONS[rule.action] for rule in rules}
        used = set().union(*(fields_used(rule) for rule in rules))
        self._fields = {b: ("t", "cid", *sorted(f for binding, f in used if binding == b and f not in ("t", "cid")))
                        for b in ("patient", "candidate")}
        self.name = f"mmsequence@{digest.removeprefix('sha256:')}"
        definition = {
            _BOOTSTRAP: {"all": [{"m": {"t": "patient"}}]},
            _SINK: {"all": [{"m": {"t": "candidate"}}, {"never": {"t": "__never"}}]},
            **{rule.id: {"all": rule.when["all"]} for rule in rules},
        }
        with _LOCK:
            if self.name not in _HANDLES:
                _HANDLES[self.name] = durable_rules_engine.create_ruleset(self.name, json.dumps(definition))
        self._handle = _HANDLES[self.name]

    def run(self, patient: dict[str, Any], candidates: list[dict[str, Any]]) -> list[Firing]:
        """Assert the facts in one fresh session; return each (rule, candidate) that fired, once, sorted."""
        with _LOCK:
            sid = _SESSIONS.open()
            firings: set[Firing] = set()
            booted = False
            try:
                booted = self._assert(durable_rules_engine.assert_fact, self._lean("patient", patient, sid), sid, firings)
                if not booted:
                    raise EngineError("the bootstrap rule did not fire")
                if candidates:
                    lean = [self._lean("candidate", c, sid) for c in candidates]
                    self._assert(durable_rules_engine.assert_facts, lean, sid, firings)
            finally:
                if booted:
                    durable_rules_engine.delete_state(self._handle, sid)
                _SESSIONS.close(sid)
        return sorted(firings)

    def _lean(self, binding: str, fact: dict[str, Any], sid: str) -> dict[str, Any]:
        """Only the fields some rule reads: less for the core to copy, match and return."""
        return {"sid": sid, **{k: fact[k] for k in self._fields[binding] if k in fact}}

    def _assert(self, call: Callable[[int, str], tuple[int, int]], facts: Any, sid: str, firings: set[Firing]) -> bool:
        """Assert, then run every action the core queued; True if the bootstrap rule fired."""
        try:
            code, state = call(self._handle, _dumps(facts))
        except Exception as error:  # the core raises a bare Exception naming its error code
            raise EngineError(f"the rule engine refused the facts ({error})") from None
        if code not in (_HANDLED, _OBSERVED):
            raise EngineError(f"no rule accepted the facts (code {code})")
        booted = False
        started = durable_rules_engine.start_action_for_state(self._handle, state)
        message = started[1] if started else None
        while message:
            ((rule_id, bound),) = json.loads(message).items()
            if any(fact.get("sid") != sid for fact in bound.values()):
                raise EngineError(f"{rule_id}: joined facts of another session")
            if rule_id == _BOOTSTRAP:
                booted = True
            elif rule_id in self._actions:
                try:
                    self._actions[rule_id](firings, rule_id, bound)
                except Exception as error:
                    raise EngineError(f"{rule_id}: action failed: {error!r}") from error
            message = durable_rules_engine.complete_and_start_action(self._handle, state)
        return booted
