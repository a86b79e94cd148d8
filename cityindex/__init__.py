"""cityindex: statistical audit and sensitivity analysis of published composite indices."""

__version__ = "0.1.0"
