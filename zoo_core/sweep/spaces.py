"""Search spaces written as text: ``loguniform(1e-4,1e-1)``, ``uniform(0,0.5)``,
``int(1,4)``, ``choice(16,32,64)``.

Each space knows how to ask an Optuna trial for a value (``suggest``), which
values to check against the recipe schema before a sweep starts (``probes``:
both ends of a range, every choice), its values for the grid sampler, and the
finer grid around a best value that ``zoo sweep --refine`` runs (``refine``).

Parsing collects every problem of every ``--param`` at once, the way ``--set``
does, with a did-you-mean for a misspelt space name.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zoo_core.errors import suggestion

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KINDS = ("loguniform", "uniform", "int", "choice")
EXAMPLES = 'loguniform(1e-4,1e-1), uniform(0,0.5), int(1,4) or choice(16,32,64)'
GRID_LIMIT = 1000  # an int range bigger than this is no grid

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)


def _sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits (grid values people can read)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def _unique(values: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(type(v) is type(o) and v == o for o in out):
            out.append(v)
    return out


def toml_literal(value: Any) -> str:
    """``value`` as a TOML literal for a ``--set`` override (strings quoted)."""
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


@dataclass(frozen=True)
class LogUniform:
    """A float drawn uniformly in log space: learning rates, weight decay."""

    low: float
    high: float
    kind = "loguniform"

    def text(self) -> str:
        return f"loguniform({self.low:g},{self.high:g})"

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, log=True))

    def probes(self) -> list[Any]:
        return [self.low, self.high]

    def grid(self) -> list[Any] | None:
        return None

    def refine(self, best: Any) -> tuple[list[Any], str | None]:
        """best/2, best, best*2 (3 significant digits), inside [low, high]."""
        b = float(best)
        values = _unique(min(max(_sig(v), self.low), self.high) for v in (b / 2, b, b * 2))
        return values, _edge_note(b / 2 < self.low, b * 2 > self.high)


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly: dropout, label smoothing, momentum."""

    low: float
    high: float
    kind = "uniform"

    def text(self) -> str:
        return f"uniform({self.low:g},{self.high:g})"

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high))

    def probes(self) -> list[Any]:
        return [self.low, self.high]

    def grid(self) -> list[Any] | None:
        return None

    def refine(self, best: Any) -> tuple[list[Any], str | None]:
        """best - 10% of the range, best, best + 10% of the range, inside [low, high]."""
        b = float(best)
        step = (self.high - self.low) / 10
        values = _unique(min(max(_sig(v, 4), self.low), self.high)
                         for v in (b - step, b, b + step))
        return values, _edge_note(b - step < self.low, b + step > self.high)


@dataclass(frozen=True)
class IntRange:
    """An integer from low to high, both included: epochs, layers, patience."""

    low: int
    high: int
    kind = "int"

    def text(self) -> str:
        return f"int({self.low},{self.high})"

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high))

    def probes(self) -> list[Any]:
        return [self.low, self.high]

    def grid(self) -> list[Any] | None:
        if self.high - self.low + 1 > GRID_LIMIT:
            return None
        return list(range(self.low, self.high + 1))

    def refine(self, best: Any) -> tuple[list[Any], str | None]:
        """best - 1, best, best + 1, inside [low, high]."""
        b = int(best)
        values = _unique(min(max(v, self.low), self.high) for v in (b - 1, b, b + 1))
        return values, _edge_note(b - 1 < self.low, b + 1 > self.high)


@dataclass(frozen=True)
class Choice:
    """One of a list of values (numbers, strings, booleans)."""

    values: tuple[Any, ...]
    kind = "choice"

    def text(self) -> str:
        return "choice(" + ",".join(toml_literal(v) for v in self.values) + ")"

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def probes(self) -> list[Any]:
        return list(self.values)

    def grid(self) -> list[Any] | None:
        return list(self.values)

    def refine(self, best: Any) -> tuple[list[Any], str | None]:
        """The best choice and its neighbours in the order written."""
        index = next(i for i, v in enumerate(self.values) if type(v) is type(best) and v == best)
        return list(self.values[max(index - 1, 0):index + 2]), None


Space = LogUniform | Uniform | IntRange | Choice


def _edge_note(below: bool, above: bool) -> str | None:
    if below and above:
        return None
    if below:
        return "the best value is near the low end of its range: consider widening it"
    if above:
        return "the best value is near the high end of its range: consider widening it"
    return None


def _number(text: str) -> int | float:
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{text.strip()!r} is not a number")
    return value


def _choice_values(inner: str) -> list[Any]:
    try:
        return list(tomllib.loads(f"v = [{inner}]")["v"])
    except tomllib.TOMLDecodeError:
        pass
    values: list[Any] = []  # bare words are strings, as in --set: choice(adam, sgd)
    for part in inner.split(","):
        word = part.strip()
        try:
            values.append(tomllib.loads(f"v = {word}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(word)
    return values


def parse_space(text: str) -> Space:
    """A space from its text; ValueError says what is wrong and what to write."""
    match = _CALL.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a search space; write {EXAMPLES}")
    kind, inner = match.group(1).lower(), match.group(2)
    if kind not in KINDS:
        raise ValueError(f"unknown space {match.group(1)!r}.{suggestion(kind, KINDS)} "
                         f"Spaces: {', '.join(KINDS)}")
    if kind == "choice":
        values = [v for v in _choice_values(inner) if v != ""]
        if not values:
            raise ValueError("choice(...) needs at least one value, e.g. choice(16,32,64)")
        bad = [v for v in values if isinstance(v, (list, dict))]
        if bad:
            raise ValueError(f"choice values must be numbers, strings or booleans, got {bad[0]!r}")
        dups = _unique(v for i, v in enumerate(values)
                       if any(type(v) is type(o) and v == o for o in values[:i]))
        if dups:
            raise ValueError(f"choice values repeat: {', '.join(map(repr, dups))}")
        return Choice(tuple(values))
    parts = [p for p in inner.split(",")]
    if len(parts) != 2:
        raise ValueError(f"{kind}(...) takes 2 numbers (low, high), got {len(parts)}: "
                         f"e.g. {kind}({'1,4' if kind == 'int' else '1e-4,1e-1'})")
    low, high = (_number(p) for p in parts)
    if kind == "int":
        if not (isinstance(low, int) and isinstance(high, int)):
            raise ValueError(f"int(...) takes two whole numbers, got {low!r} and {high!r}; "
                             "for a float range write uniform(...) or loguniform(...)")
        if low > high:
            raise ValueError(f"int({low},{high}): low is above high")
        return IntRange(low, high)
    low, high = float(low), float(high)
    if not low < high:
        raise ValueError(f"{kind}({low:g},{high:g}): low must be below high")
    if kind == "loguniform":
        if low <= 0:
            raise ValueError(f"loguniform({low:g},{high:g}): both ends must be > 0 (a log scale)"
                             "; use uniform(...) for a range that starts at 0")
        return LogUniform(low, high)
    return Uniform(low, high)


def parse_param(text: str) -> tuple[str, Space]:
    """``'train.optimizer.lr=loguniform(1e-4,1e-1)'`` -> ('train.optimizer.lr', space)."""
    from zoo_core.recipe import parse_override

    if "=" not in text:
        raise ValueError(f"expected KEY=SPACE, e.g. train.optimizer.lr=loguniform(1e-4,1e-1); "
                         f"got {text!r}")
    key, _, space = text.partition("=")
    try:
        keys, _ = parse_override(f"{key}=0")
    except ValueError:
        raise ValueError(f"{key.strip()!r} is not a key path; write dotted keys such as "
                         "train.optimizer.lr") from None
    return ".".join(keys), parse_space(space)


def parse_params(texts: Iterable[str], source: str = "--param") -> tuple[dict[str, Space],
                                                                         list[str]]:
    """Every ``KEY=SPACE``; returns the spaces and a list of problems (all of them)."""
    spaces: dict[str, Space] = {}
    problems: list[str] = []
    for text in texts:
        try:
            key, space = parse_param(text)
        except ValueError as exc:
            problems.append(f"{source} {text.strip()}: {exc}")
            continue
        if key in spaces:
            problems.append(f"{source} {text.strip()}: {key} is given twice")
            continue
        spaces[key] = space
    return spaces, problems
