"""The library's documented error types: each carries every problem found, not just the first."""

from __future__ import annotations

from collections.abc import Iterable


class MmsequenceError(Exception):
    """Base class of every error mmsequence raises on purpose.

    ``problems`` holds one message per problem, each starting with where it was found (a field
    path such as ``lines[2].end``, a file, or a rule id); ``str(error)`` joins them.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems: tuple[str, ...] = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("; ".join(self.problems))


class InputError(MmsequenceError, ValueError):
    """A patient document, FHIR Bundle, policy or override is invalid or inconsistent
    (``lines[2].end: '2025-13-01' is not a date``)."""


class RuleFileError(MmsequenceError):
    """A file under ``rules/`` is malformed; each problem names the file and key."""


class EngineError(MmsequenceError):
    """The rule engine failed during an evaluation (it refused the facts, an action raised, or a
    session leaked)."""


def missing_extra(what: str, extra: str, module: str | None) -> MmsequenceError:
    """The error of a feature whose optional dependencies are not installed: it names the extra
    and how to install it from a checkout (mmsequence is installed from its source, not an index)."""
    missing = f" ({module} is missing)" if module else ""
    return MmsequenceError(f"{what} needs the '{extra}' extra{missing}: in the mmsequence checkout, pip install '.[{extra}]'")


class OutputError(MmsequenceError):
    """An output could not be written (a full or read-only disk); the command exits 1 and leaves
    no partial file at the target."""
