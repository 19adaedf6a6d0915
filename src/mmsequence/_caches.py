"""Process-wide caches of what a caller supplies (policies, and the evaluators built from them),
registered in one place so that all of them can be cleared at once.

Caches of the shipped files alone (rules, catalog, message catalogs) are pure and are not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class _Clearable(Protocol):
    def cache_clear(self) -> None: ...


_C = TypeVar("_C", bound=_Clearable)
_CLEARS: list[Callable[[], None]] = []


def resettable(cached: _C) -> _C:
    """Register a ``functools`` cache to be cleared by :func:`reset`."""
    _CLEARS.append(cached.cache_clear)
    return cached


def reset() -> None:
    """Clear every registered cache: a test suite calls it between tests, a long-running program
    after a policy file changed."""
    for clear in _CLEARS:
        clear()
