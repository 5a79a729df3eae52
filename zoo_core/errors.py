"""Errors a user can cause.

Every error that a person can fix (a bad recipe, an unknown name, missing
weights, a corrupt file, a broken plugin) is a :class:`ZooError`. The CLI
prints its message without a traceback and exits with code 2. Anything else
is a bug and raises normally.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """A problem the user can fix; the message says what, where, and what to do."""

    exit_code = 2


class UnknownNameError(ZooError, KeyError):
    """A registry name (or recipe key) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(ZooError):
    """A plugin failed to load or to register, and strict mode is on."""


class WeightsError(ZooError):
    """Weights that cannot be found, downloaded, verified or loaded."""


class RecipeError(ZooError):
    """A recipe that does not parse or validate. Holds every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class DataError(ZooError):
    """A data set that is missing, empty or unreadable."""


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for ``word``, best first (case-insensitive)."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean ...?' sentence, or an empty string when nothing is close."""
    hits = did_you_mean(word, candidates)
    if not hits:
        return ""
    return " Did you mean " + " or ".join(repr(h) for h in hits) + "?"
