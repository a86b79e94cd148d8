"""Project sessions: tests, lint, reproduce, sensitivity, bench."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, tools and this file."""
    session.install("ruff")
    session.run("ruff", "check", "cityindex", "tests", "tools", "benchmarks", "noxfile.py")


@nox.session(python=PYTHON)
def reproduce(session: nox.Session) -> None:
    """The reproduction audit of the built-in 2025 data."""
    session.install("-e", ".")
    session.run("cityindex", "reproduce", *session.posargs)


@nox.session(python=PYTHON)
def sensitivity(session: nox.Session) -> None:
    """The full audit: cityindex run analyses/sensitivity.toml -> reports/sensitivity/."""
    session.install("-e", ".")
    session.run("cityindex", "run", "analyses/sensitivity.toml", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks (not part of the tests)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/bench_montecarlo.py")
    session.run("python", "benchmarks/bench_extremes.py")
    session.run("python", "benchmarks/bench_bootstrap.py")
    session.run("python", "benchmarks/bench_sobol.py", *session.posargs)
