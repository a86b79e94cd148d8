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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cityindex.errors import ComputationError
from cityindex.spec import Spec

NORMALISATION_CHOICES = ("published", "minmax", "zscore", "rank")
AGGREGATION_CHOICES = ("published", "arithmetic", "geometric")
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


def apply_transform(values: np.ndarray, transform: str) -> np.ndarray:
    """The leaf transform applied before scaling: none, natural log or log10 (values must be
    positive; a non-positive value is an error, never a NaN)."""
    v = np.asarray(values, dtype=float)
    if transform == "none":
        return v
    if (v[np.isfinite(v)] <= 0).any():
        raise ComputationError(f"transform '{transform}'", f"a value {np.nanmin(v):g} <= 0",
                               "positive raw values (or transform = 'none')")
    return np.log(v) if transform == "log" else np.log10(v)


@dataclass(frozen=True)
class LeafScaler:
    """The declared normalisation of one indicator, fitted once on the published raw values
    (so a perturbed raw value is scaled with the same min/max, mean/sd or reference sample).

    goalposts  (t(v) - t(lo)) / (t(hi) - t(lo)) after clipping v to [lo, hi], t the transform
               (the UNDP Human Development Index's method);
    minmax     the same with the observed min and max;
    zscore     (t(v) - mean) / sd (population sd);
    rank       the share of units with a value <= v (ties averaged), as a percentile rank;
    score5     a 5-point rating divided by 5;
    none       the (transformed) value itself.
    The result is mapped to the index's scale ([0, 1] or [0, 100]), except zscore and none.
    ``direction = "lower"`` reflects the result within the scale (z-scores change sign)."""

    method: str
    transform: str
    direction: str
    scale: tuple[float, float]
    lo: float = 0.0
    hi: float = 1.0
    reference: tuple[float, ...] = ()

    @classmethod
    def fit(cls, node, values: np.ndarray, scale: tuple[float, float]) -> LeafScaler:
        t = apply_transform(values, node.transform)
        finite = t[np.isfinite(t)]
        lo, hi, ref = 0.0, 1.0, ()
        if node.normalisation == "goalposts":
            lo, hi = (float(v) for v in apply_transform(np.array(node.goalposts),
                                                        node.transform))
        elif node.normalisation == "minmax":
            lo, hi = float(finite.min()), float(finite.max())
        elif node.normalisation == "zscore":
            lo, hi = float(finite.mean()), float(finite.std())
        elif node.normalisation == "rank":
            ref = tuple(np.sort(finite))
        return cls(node.normalisation, node.transform, node.direction, scale, lo, hi, ref)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        t = apply_transform(values, self.transform)
        a, b = self.scale
        m = self.method
        if m in ("goalposts", "minmax"):
            span = self.hi - self.lo if self.hi > self.lo else 1.0
            unit = (np.clip(t, self.lo, self.hi) - self.lo) / span
        elif m == "rank":
            ref = np.asarray(self.reference)
            below = np.searchsorted(ref, t, side="left")
            at_most = np.searchsorted(ref, t, side="right")
            unit = (below + at_most) / 2 / max(ref.size, 1)
        elif m == "score5":
            unit = t / 5.0
        elif m == "zscore":
            z = (t - self.lo) / (self.hi if self.hi > 0 else 1.0)
            return -z if self.direction == "lower" else z
        else:  # none
            return a + b - t if self.direction == "lower" else t
        if self.direction == "lower":
            unit = 1.0 - unit
        return a + (b - a) * unit


def evaluate_tree(spec: Spec, x: np.ndarray, node_weights: np.ndarray | None = None,
                  methods: dict[str, str] | None = None, offset: float = 0.0,
                  available: np.ndarray | None = None, node: str | None = None
                  ) -> np.ndarray:
    """Composite scores through the tree, node by node, each aggregate with its own method.

    x : (units, indicators) or (scenarios, units, indicators) normalised scores, indicators in
        ``spec.indicators`` order (NaN where missing).
    node_weights : (weighted nodes,) or (scenarios, weighted nodes) in ``spec.weighted_nodes``
        order; default the spec's.
    methods : aggregate -> "arithmetic" | "geometric"; default each node's own.
    offset : added to every value before a geometric mean (0: the published method; a zero
        child then gives a zero mean, the limit of the weighted geometric mean).
    available : (units, indicators) bool, for ``missing = "reweight"``: each node averages its
        available children with their weights renormalised (COINr, UNDP); a node with no
        available child is itself unavailable.

    node : return this aggregate's scores instead of the root's.

    Returns (units,) or (scenarios, units).
    """
    x = np.asarray(x, dtype=float)
    w = spec.nominal_weights().reindex(spec.weighted_nodes).to_numpy() \
        if node_weights is None else np.asarray(node_weights, dtype=float)
    batched = x.ndim == 3 or w.ndim == 2
    w2 = np.atleast_2d(w)                                     # (S or 1, W)
    col = {n: j for j, n in enumerate(spec.weighted_nodes)}
    values: dict[str, np.ndarray] = {}
    avail: dict[str, np.ndarray] = {}
    for i, leaf in enumerate(spec.indicators):
        values[leaf] = x[..., i]
        avail[leaf] = (np.ones(x.shape[-2], dtype=bool) if available is None
                       else np.asarray(available)[:, i])
    for agg in spec.aggregates:
        kids = spec.children(agg)
        method = (methods or {}).get(agg, spec.nodes[agg].aggregation)
        v = np.stack(np.broadcast_arrays(*[values[k] for k in kids]), axis=-1)  # (..., U, k)
        m = np.stack([avail[k] for k in kids], axis=-1)                          # (U, k)
        wk = w2[:, [col[k] for k in kids]][:, None, :]                            # (S, 1, k)
        wm = wk * m[None]                                                         # (S, U, k)
        den = wm.sum(axis=-1)
        if method == "arithmetic":
            num = (wm * np.where(m, v, 0.0)).sum(axis=-1)
        else:
            shifted = np.where(m, v, 1.0) + offset
            if (shifted < 0).any():
                raise ComputationError(f"geometric aggregation at node '{agg}'",
                                       f"a value {float(shifted.min() - offset):.6g} + offset "
                                       f"{offset} < 0", "non-negative values")
            with np.errstate(divide="ignore", invalid="ignore"):
                # a zero-weight child (e.g. left out) contributes nothing, even at a zero value
                num = np.where(wm > 0, wm * np.log(shifted), 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / np.where(den > 0, den, 1.0)
        if method == "geometric":
            out = np.exp(out) - offset
        node_avail = m.any(axis=-1)
        values[agg] = np.where(node_avail, out, np.nan)
        avail[agg] = node_avail
    result = values[node or spec.root]
    return result if batched else result[0]
