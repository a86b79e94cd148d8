"""The shape every analysis returns: a results object in the style of statsmodels (numbers as
attributes, ``summary()``) and SALib's ``ProblemSpec`` (``to_df()``, ``plot()``)."""

from __future__ import annotations

import pandas as pd


class Result:
    """Base of every analysis result.

    ``tables()`` maps each output file's stem (``"ranks"`` for ranks.csv) to a tidy DataFrame;
    ``table()`` is the main one; ``summary()`` is a JSON-ready dict; ``chart()`` an unconfigured
    Altair chart (so ``alt.hconcat``/``alt.vconcat`` work), or None when the analysis has none.
    """

    name: str = "result"

    def tables(self) -> dict[str, pd.DataFrame]:
        raise NotImplementedError

    def table(self) -> pd.DataFrame:
        return next(iter(self.tables().values()))

    def to_df(self) -> pd.DataFrame:
        """The main table (SALib's name for it)."""
        return self.table()

    def summary(self) -> dict:
        return {}

    def chart(self):
        return None

    def plot(self):
        """The chart (SALib's name for it)."""
        return self.chart()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape[0]}x{v.shape[1]}" for k, v in self.tables().items())
        return f"<{type(self).__name__} {shapes}>"
