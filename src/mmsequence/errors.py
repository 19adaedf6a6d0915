"""The library's documented error types."""

from __future__ import annotations


class MmsequenceError(Exception):
    """Base class of every error mmsequence raises on purpose."""


class InputError(MmsequenceError, ValueError):
    """A patient document, policy or override is invalid.

    ``problems`` holds one message per problem, each starting with the field path
    (``lines[2].end: '2025-13-01' is not a date``).
    """

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class RuleFileError(MmsequenceError):
    """A file under ``rules/`` is malformed; ``problems`` name file and key."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class EngineError(MmsequenceError):
    """The rule engine failed during an evaluation (an action raised, or a session leaked)."""
