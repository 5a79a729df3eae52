"""nox sessions: tests, lint, typecheck, bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "zoo_core", "plugins", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "zoo_core")


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks; figures print as ratios."""
    session.install("-e", ".")
    for script in sorted(session.posargs or []) or ["benchmarks/bench_vs_timm_protocol.py"]:
        session.run("python", script)
