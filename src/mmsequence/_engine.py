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
- facts carry only the fields some rule reads, under short keys, and go to the core in one
  call (less JSON to copy, match and return); of each firing only the rule id, the session
  ids and the candidate id are read, never the whole message;
- numbers are written in a form the core's JSON parser reads (it refuses an exponent without a
  decimal point, such as ``1e-05``), and any refusal of the core is an :class:`EngineError`;
- the C extension is loaded with lazy symbol binding and reached only through :data:`CORE`,
  which refuses every function that registers a Python callback (see :class:`Core`).
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import re
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson

from .errors import EngineError
from .rulebook import Rule, fields_used


def _load_core() -> ModuleType:
    """Import durable_rules' C extension with lazy symbol binding, then restore the loader's flags.

    durable-rules 2.0.28 calls ``PyEval_CallObject``, which Python 3.13 removed, but only inside
    the trampolines that call a registered Python callback. Bound lazily, that symbol is looked
    up only if such a trampoline runs, and :class:`Core` makes sure none ever does.
    """
    flags = sys.getdlopenflags()
    sys.setdlopenflags((flags & ~os.RTLD_NOW) | os.RTLD_LAZY)
    try:
        import durable_rules_engine
    except ImportError as error:
        raise ImportError(f"{error} (durable_rules' core needs lazy binding here: unset LD_BIND_NOW)") from error
    finally:
        sys.setdlopenflags(flags)
    module: ModuleType = durable_rules_engine
    return module


class Core:
    """The only door to durable_rules' C core: the functions mmsequence calls, and nothing else.

    The core calls Python back only through callbacks registered with the ``set_*_callback``
    functions below; their trampolines are the only code that uses ``PyEval_CallObject``, which
    is missing on Python 3.13 and later (calling it kills the process). Those functions are
    refused here on every Python, and on 3.13+ they are also replaced in the extension module
    itself, so that no other code in the process (durable_rules' own ``Host``) can reach them.
    """

    CALLS = ("create_ruleset", "assert_facts", "start_action_for_state", "complete_and_start_action", "delete_state")
    #: The core functions that register a Python callback (durable-rules 2.0.28, src/rulespy/rules.c).
    CALLBACKS = ("set_store_message_callback", "set_delete_message_callback", "set_queue_message_callback",
                 "set_get_queued_messages_callback", "set_get_idle_state_callback")
    __slots__ = CALLS

    def __init__(self, module: ModuleType) -> None:
        for name in self.CALLS:
            setattr(self, name, getattr(module, name))
        if sys.version_info >= (3, 13):
            for name in self.CALLBACKS:
                setattr(module, name, _refusal(name))

    def __getattr__(self, name: str) -> Any:
        if name in self.CALLBACKS:
            _refusal(name)()
        raise EngineError(f"{name}: mmsequence does not call this function of the rule core")


def _refusal(name: str) -> Callable[..., None]:
    def refuse(*_args: Any) -> None:
        raise EngineError(f"{name} would register a Python callback with the rule core; refused: "
                          "the core would call it through PyEval_CallObject, which Python 3.13 removed")
    refuse.__name__ = name
    return refuse


CORE = Core(_load_core())

Firing = tuple[str, int]
"""A rule that fired for a candidate: (rule id, candidate id)."""

_BOOTSTRAP = "__bootstrap"
_SINK = "__sink"
_HANDLED, _OBSERVED = 0, 2  # result codes of the core's assert calls (1: no rule accepts the fact)
_SID_KEY = '"sid":'
_CID = re.compile(r'"cid":(\d+)')
_KEPT = ("sid", "t", "cid")  # the keys the core and this module read keep their names


#: A JSON number with an exponent and no fraction (or a string holding what looks like one): the
#: facts are written again through :func:`_for_core`.
_EXPONENT = re.compile(rb"[:,\[]-?\d+[eE]")


def _for_core(value: Any) -> Any:
    """A value as the core can read it: its JSON parser takes an exponent only after a fraction
    (``1.0e+20``, not ``1e+20``: one fact is refused with error 204, a batch of them crashes)."""
    if type(value) is float:
        text = repr(value)
        if "e" in text and "." not in text:
            return orjson.Fragment(text.replace("e", ".0e"))
    return value


def _short_keys(fields: list[str]) -> dict[str, str]:
    """A short key per field (``a`` ... ``z``, ``ba`` ...): facts and firings the core copies shrink."""
    keys = {}
    for i, field in enumerate(fields):
        key = ""
        while True:
            key = "abcdefghijklmnopqrsuvwxyz"[i % 25] + key  # no "t": it stays the type's key
            i //= 25
            if not i:
                break
        keys[field] = key
    return keys


def _renamed(pattern: Any, keys: dict[str, str]) -> Any:
    """A rule's condition with every field it names replaced by the field's short key."""
    if isinstance(pattern, list):
        return [_renamed(item, keys) for item in pattern]
    ((key, value),) = pattern.items()
    if key in ("$and", "$or"):
        return {key: _renamed(value, keys)}
    if key.startswith("$"):
        ((field, operand),) = value.items()
        if isinstance(operand, dict):
            ((binding, other),) = operand.items()
            operand = {binding: keys.get(other, other)}
        return {key: {keys.get(field, field): operand}}
    return {keys.get(key, key): value}


def _reader(fields: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of ``fields`` of a fact, as a tuple in their order (a KeyError if one is absent)."""
    if len(fields) > 1:
        return operator.itemgetter(*fields)
    return lambda fact: tuple(fact[field] for field in fields)


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
        self._hashes: dict[str, int] = {}  # each live sid's hash

    def open(self) -> str:
        while True:
            sid = f"e{next(self._counter)}"
            hashed = fnv1a_32(sid)
            if hashed not in self._live:
                self._live.add(hashed)
                self._hashes[sid] = hashed
                return sid

    def close(self, sid: str) -> None:
        self._live.discard(self._hashes.pop(sid))


def _finding(firings: set[Firing], rule_id: str, cid: int) -> None:
    firings.add((rule_id, cid))


#: The named actions a rule file may give as ``action`` (see rulebook.ACTIONS).
ACTIONS = {"finding": _finding}

_LOCK = threading.Lock()  # one session live at a time: the core never releases the GIL anyway
_SESSIONS = _Sessions()
_HANDLES: dict[str, int] = {}  # ruleset name -> the core's handle, for the life of the process


class Engine:
    """Evaluates one patient fact and its candidate facts against a fixed set of rules.

    The core sees each fact once, as compact JSON of the fields some rule reads under short keys
    (the rules' conditions are registered with the same keys). It returns each firing as JSON
    text holding every bound fact whole; only the rule id, the session id of each bound fact and
    the candidate id are read from it, by position and by key (an unescaped ``"key":`` can only
    be a key in JSON), never by decoding it all.
    """

    def __init__(self, rules: tuple[Rule, ...], digest: str) -> None:
        self._actions = {rule.id: ACTIONS[rule.action] for rule in rules}
        self._bindings = {rule.id: len(rule.when["all"]) for rule in rules} | {_BOOTSTRAP: 1}
        if any('"' in rule_id or "\\" in rule_id for rule_id in self._bindings):
            raise EngineError("a rule id holds a quote or a backslash")
        used = set().union(*(fields_used(rule) for rule in rules))
        self._keys = _short_keys(sorted({field for _, field in used} - set(_KEPT)))
        self._fields = {b: [(f, self._keys[f]) for f in sorted(f for binding, f in used if binding == b and f not in _KEPT)]
                        for b in ("patient", "candidate")}
        #: each binding's short keys, and its fields in the same order read at once
        self._read = {b: (tuple(k for _, k in fields), _reader([f for f, _ in fields])) for b, fields in self._fields.items()}
        self.name = f"mmsequence@{digest.removeprefix('sha256:')}"
        definition = {
            _BOOTSTRAP: {"all": [{"m": {"t": "patient"}}]},
            _SINK: {"all": [{"m": {"t": "candidate"}}, {"never": {"t": "__never"}}]},
            **{rule.id: {"all": [{b: _renamed(p, self._keys)} for item in rule.when["all"] for b, p in item.items()]}
               for rule in rules},
        }
        with _LOCK:
            if self.name not in _HANDLES:
                _HANDLES[self.name] = CORE.create_ruleset(self.name, json.dumps(definition))
        self._handle = _HANDLES[self.name]

    def run(self, patient: dict[str, Any], candidates: list[dict[str, Any]]) -> list[Firing]:
        """Assert the facts in one fresh session; return each (rule, candidate) that fired, once, sorted."""
        with _LOCK:
            sid = _SESSIONS.open()
            firings: set[Firing] = set()
            booted = False
            try:
                lean = [self._lean("patient", patient, sid), *(self._lean("candidate", c, sid) for c in candidates)]
                text = orjson.dumps(lean)
                if (b"e+" in text or b"e-" in text) and _EXPONENT.search(text):  # orjson signs every exponent
                    text = orjson.dumps([{key: _for_core(value) for key, value in fact.items()} for fact in lean])
                booted = self._assert(text.decode(), sid, firings)
                if not booted:
                    raise EngineError("the bootstrap rule did not fire")
            finally:
                if booted:
                    CORE.delete_state(self._handle, sid)
                _SESSIONS.close(sid)
        return sorted(firings)

    def _lean(self, binding: str, fact: dict[str, Any], sid: str) -> dict[str, Any]:
        """Only the fields some rule reads, under their short keys: less for the core to copy, match and return."""
        lean = {"sid": sid, "t": fact["t"]}
        if "cid" in fact:
            lean["cid"] = fact["cid"]
        keys, read = self._read[binding]
        try:
            lean.update(zip(keys, read(fact)))
        except KeyError:  # a fact without some fields (an unknown candidate, a clock that does not run)
            lean.update({key: fact[field] for field, key in self._fields[binding] if field in fact})
        return lean

    def _assert(self, facts: str, sid: str, firings: set[Firing]) -> bool:
        """Assert the patient fact, then the candidate facts (JSON), in one call; then run every
        action the core queued. True if the bootstrap rule fired."""
        try:
            code, state = CORE.assert_facts(self._handle, facts)
        except Exception as error:  # the core raises a bare Exception naming its error code
            raise EngineError(f"the rule engine refused the facts ({error})") from None
        if code not in (_HANDLED, _OBSERVED):
            raise EngineError(f"no rule accepted the facts (code {code})")
        booted = False
        own = f'{_SID_KEY}"{sid}"'
        started = CORE.start_action_for_state(self._handle, state)
        message = started[1] if started else None
        while message:
            rule_id = message[2:message.index('"', 2)]
            bound = self._bindings.get(rule_id)
            if bound is None:
                raise EngineError(f"{rule_id}: the core fired a rule this engine did not define")
            if not message.count(_SID_KEY) == message.count(own) == bound:
                raise EngineError(f"{rule_id}: joined facts of another session")
            if rule_id == _BOOTSTRAP:
                booted = True
            else:
                found = _CID.search(message)
                if found is None:
                    raise EngineError(f"{rule_id}: fired with no candidate")
                cid = int(found[1])
                try:
                    self._actions[rule_id](firings, rule_id, cid)
                except Exception as error:
                    raise EngineError(f"{rule_id}: action failed: {error!r}") from error
            message = CORE.complete_and_start_action(self._handle, state)
        return booted
