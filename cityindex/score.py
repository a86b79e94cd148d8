"""Compatibility names for the construction module (:mod:`cityindex.construction`), which is
the one home of how a score is made; new code imports from there."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.construction import (
    AGGREGATIONS,
    LeafScaler,
    Pipeline,
    apply_transform,
    effective_weight_batch,
    normalise,
)
from cityindex.construction.normalisations import RENORMALISATIONS
from cityindex.errors import ComputationError
from cityindex.spec import Spec

NORMALISATION_CHOICES = RENORMALISATIONS.names()
# the run file's [aggregation] choices: the index's own, or any registered aggregation that
# needs no parameter of its own, at every node
AGGREGATION_CHOICES = ("published", *(name for name in AGGREGATIONS.names()
                                      if not AGGREGATIONS[name].params))
DEFAULT_GEOMETRIC_OFFSET = 1.0

__all__ = ["AGGREGATION_CHOICES", "DEFAULT_GEOMETRIC_OFFSET", "NORMALISATION_CHOICES",
           "LeafScaler", "aggregate", "apply_transform", "effective_weight_batch",
           "evaluate_tree", "log_shifted", "node_scores", "normalise"]


def log_shifted(x: np.ndarray, offset: float, what: str = "indicator values") -> np.ndarray:
    """log(x + offset), refusing non-positive arguments (the log-linear geometric path)."""
    shifted = np.asarray(x, dtype=float) + offset
    if (shifted <= 0).any():
        worst = float(shifted.min() - offset)
        raise ComputationError(
            f"geometric aggregation of {what}", f"value {worst:.6g} + offset {offset} <= 0",
            "values above -offset (raise [aggregation] geometric_offset in the run file)")
    return np.log(shifted)


def aggregate(x: np.ndarray, weights: np.ndarray, method: str = "arithmetic",
              offset: float = DEFAULT_GEOMETRIC_OFFSET) -> np.ndarray:
    """Composite scores from effective weights, for the two aggregations whose composite is
    (log-)linear in them: (scenarios, units) for 2-D weights, (units,) for 1-D."""
    w = np.asarray(weights, dtype=float)
    if method == "arithmetic":
        return w @ np.asarray(x, dtype=float).T
    if method == "geometric":
        return np.exp(w @ log_shifted(x, offset).T) - offset
    raise ValueError(f"aggregate() takes 'arithmetic' or 'geometric' (effective weights); "
                     f"got '{method}': use Pipeline.evaluate for other aggregations")


def node_scores(spec: Spec, x: pd.DataFrame, weights: pd.Series | None = None,
                method: str = "arithmetic", offset: float = DEFAULT_GEOMETRIC_OFFSET
                ) -> pd.DataFrame:
    """Every aggregate node's score for every unit (units x aggregates)."""
    w = None if weights is None else weights.reindex(spec.weighted_nodes).to_numpy(float)
    pipe = Pipeline(spec, len(x))
    arr = x[spec.indicators].to_numpy()
    off = offset if method != "arithmetic" else 0.0
    values = {a: pipe.evaluate(arr, w, method, off, node=a) for a in spec.aggregates}
    return pd.DataFrame(values, index=x.index)[spec.aggregates]


def evaluate_tree(spec: Spec, x: np.ndarray, node_weights: np.ndarray | None = None,
                  methods: dict[str, str] | str | None = None, offset: float = 0.0,
                  available: np.ndarray | None = None, node: str | None = None
                  ) -> np.ndarray:
    """Scores through the tree (:meth:`cityindex.construction.Pipeline.evaluate`) for data
    whose only gaps are the ``available`` mask."""
    return Pipeline(spec, np.shape(x)[-2], available).evaluate(x, node_weights, methods,
                                                               offset, node)
