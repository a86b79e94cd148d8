"""Project sessions: tests, lint, reproduce, sensitivity, bench.

Every session runs on the interpreter that runs nox (no version pin: any Python >= 3.11, the
floor of pyproject.toml). Virtual environments are made by virtualenv, a dependency of nox, which
brings its own pip: Debian's python3 without python3-venv (no ensurepip) works too, where
``python -m venv`` would fail. ``python3 tools/quickstart.py ARGS`` runs ``nox ARGS`` from a
fresh clone with nothing else installed (README, "Quick start").
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, tools and this file."""
    session.install("ruff")
    session.run("ruff", "check", "cityindex", "tests", "tools", "benchmarks", "noxfile.py")


@nox.session
def reproduce(session: nox.Session) -> None:
    """The reproduction audit of the built-in 2025 data."""
    session.install("-e", ".")
    session.run("cityindex", "reproduce", *session.posargs)


@nox.session
def sensitivity(session: nox.Session) -> None:
    """The full audit: cityindex run analyses/sensitivity.toml -> reports/sensitivity/."""
    session.install("-e", ".")
    session.run("cityindex", "run", "analyses/sensitivity.toml", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks (not part of the tests); arguments go to the scale
    benchmark, e.g. ``nox -s bench -- --sizes 106,1000`` (default: 106 to 100,000 units,
    about 15 minutes on 2 cores)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/bench_montecarlo.py")
    session.run("python", "benchmarks/bench_extremes.py")
    session.run("python", "benchmarks/bench_bootstrap.py")
    session.run("python", "benchmarks/bench_sobol.py")
    session.run("python", "benchmarks/bench_gaps.py")
    session.run("python", "benchmarks/bench_scale.py", *session.posargs)
