"""Vectorised normalisation and aggregation for batches of scenarios.

Normalisations act on the published indicator scores (units x indicators, on the spec's 0-100
scale) and return the same shape:

``published``  the scores as published (the report's own min-max or rating/5 normalisation).
``minmax``     re-scaled per indicator to [0, 100] over the units (OECD/JRC 2008, Handbook on
               Constructing Composite Indicators, section 5).
``zscore``     standardised per indicator and put on the T-score scale 50 + 10 z, so that all
               choices share a positive 0-100-like scale (ranks under arithmetic aggregation are
               those of plain z-scores: the map is the same affine one for every indicator).
``rank``       percentile rank 100 * rank / n with ranks ascending and ties averaged
               (Handbook section 5, "ranking").

Aggregations act at every aggregate node of the tree:

``arithmetic`` weighted sum; the composite is indicators @ effective weights.
``geometric``  weighted geometric mean of (value + offset), minus the offset. Because the
               geometric mean is applied at every node, the composite's logarithm is linear in
               the indicators' logarithms with the same effective weights. The offset (default 1
               score point) makes zeros and near-zeros explicit instead of sending log(0) to
               -inf (the silent-NaN trap of geometric aggregation); a value + offset <= 0 is an
               error, never a dropped scenario.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cityindex.errors import ComputationError
from cityindex.spec import Spec

NORMALISATION_CHOICES = ("published", "minmax", "zscore", "rank")
AGGREGATION_CHOICES = ("arithmetic", "geometric")
DEFAULT_GEOMETRIC_OFFSET = 1.0


def normalise(x: np.ndarray, method: str, scale: tuple[float, float] = (0.0, 100.0)
              ) -> np.ndarray:
    """Normalise a units x indicators matrix column by column (see module docstring)."""
    x = np.asarray(x, dtype=float)
    if method == "published":
        return x.copy()
    if method == "minmax":
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return scale[0] + (scale[1] - scale[0]) * (x - lo) / span
    if method == "zscore":
        sd = x.std(axis=0, ddof=0)
        return 50.0 + 10.0 * (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    if method == "rank":
        return 100.0 * rankdata(x, axis=0, method="average") / x.shape[0]
    raise ValueError(f"unknown normalisation '{method}'; expected one of {NORMALISATION_CHOICES}")


def log_shifted(x: np.ndarray, offset: float, what: str = "indicator values") -> np.ndarray:
    """log(x + offset), refusing non-positive arguments (geometric aggregation)."""
    shifted = np.asarray(x, dtype=float) + offset
    if (shifted <= 0).any():
        worst = float(shifted.min() - offset)
        raise ComputationError(
            f"geometric aggregation of {what}", f"value {worst:.6g} + offset {offset} <= 0",
            "values above -offset (raise [aggregation] geometric_offset in the run file)")
    return np.log(shifted)


def aggregate(x: np.ndarray, weights: np.ndarray, method: str = "arithmetic",
              offset: float = DEFAULT_GEOMETRIC_OFFSET) -> np.ndarray:
    """Composite scores of every scenario for every unit.

    Parameters
    ----------
    x : (units, indicators) normalised scores.
    weights : (scenarios, indicators) effective weights, or (indicators,) for one scenario.
    method : "arithmetic" or "geometric" (applied at every aggregate node).

    Returns
    -------
    (scenarios, units) array, or (units,) for 1-D weights.
    """
    w = np.asarray(weights, dtype=float)
    if method == "arithmetic":
        return w @ np.asarray(x, dtype=float).T
    if method == "geometric":
        return np.exp(w @ log_shifted(x, offset).T) - offset
    raise ValueError(f"unknown aggregation '{method}'; expected one of {AGGREGATION_CHOICES}")


def node_scores(spec: Spec, x: pd.DataFrame, weights: pd.Series | None = None,
                method: str = "arithmetic", offset: float = DEFAULT_GEOMETRIC_OFFSET
                ) -> pd.DataFrame:
    """Every aggregate node's score for every unit (units x aggregates), from the indicator
    scores ``x`` (units x indicators) and node weights (default: the spec's)."""
    matrix = spec.weight_matrix(weights)
    values = aggregate(x[spec.indicators].to_numpy(), matrix.to_numpy(), method, offset)
    return pd.DataFrame(values.T, index=x.index, columns=matrix.index)


def children_scores(spec: Spec, children: pd.DataFrame, node: str) -> pd.Series:
    """Arithmetic score of ``node`` from its direct children's (published) scores."""
    kids = spec.children(node)
    w = np.array([spec.nodes[k].weight for k in kids])
    return pd.Series(children[kids].to_numpy() @ w, index=children.index, name=node)


def effective_weight_batch(spec: Spec, node_weights: np.ndarray) -> np.ndarray:
    """(scenarios, weighted nodes) node weights -> (scenarios, indicators) effective weights:
    the product of node weights on each indicator's path to the root."""
    col = {n: j for j, n in enumerate(spec.weighted_nodes)}
    out = np.ones((node_weights.shape[0], len(spec.indicators)))
    for i, leaf in enumerate(spec.indicators):
        for node in spec.path_to_root(leaf):
            out[:, i] *= node_weights[:, col[node]]
    return out
