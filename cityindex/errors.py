"""Exception types. Each message names the file, the row or key, what was found and what was
expected; the command line prints it as one line on stderr and exits with code 2."""

from __future__ import annotations


class CityIndexError(Exception):
    """Base class: bad input that the user must fix."""

    def __init__(self, where: str, found: str, expected: str) -> None:
        self.where = where
        self.found = found
        self.expected = expected
        super().__init__(f"{where}: {found}; expected {expected}")


class SpecError(CityIndexError):
    """An index specification (spec.toml) is malformed or inconsistent."""


class DataError(CityIndexError):
    """A data folder's CSV files cannot be read or fail validation."""


class RunFileError(CityIndexError):
    """A run file (analyses/*.toml) is malformed."""


class ComputationError(CityIndexError):
    """A scenario could not be computed (e.g. a non-positive value under geometric
    aggregation); raised rather than dropping the scenario silently."""


class ModelError(CityIndexError, ValueError):
    """An uncertainty model (or one of its settings) is invalid. Raised when the model is
    built, whether in Python or from a run file; ``argument`` is the Python argument,
    ``key`` the run-file key, so both front ends give the same message."""

    def __init__(self, argument: str, key: str, found: str, expected: str,
                 owner: str = "UncertaintyModel") -> None:
        self.argument = argument
        self.key = key
        super().__init__(f"{owner} {argument} ({key})", found, expected)


class OutputError(CityIndexError):
    """An output folder cannot be written (a file in the way, not writable, not an output
    folder), or part of the outputs could not be produced."""


class BackendError(CityIndexError):
    """The computing backend cannot be used: ``backend = "dask"`` without dask.distributed
    installed, or a Dask scheduler that does not answer within the connect timeout."""
