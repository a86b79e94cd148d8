"""Transforms and normalisations.

Leaf (declared) normalisations turn an indicator's raw values into scores on the index's
scale; :class:`LeafScaler` fits one on the published raw values once, so a perturbed raw value
is scaled with the same min/max, mean/sd or reference sample:

``goalposts``  (t(v) - t(lo)) / (t(hi) - t(lo)) after clipping v to [lo, hi], t the transform
               (the UNDP Human Development Index's method);
``minmax``     the same with the observed min and max;
``zscore``     (t(v) - mean) / sd (population sd);
``rank``       the share of units with a value <= v (ties averaged), as a percentile rank;
``score5``     a 5-point rating divided by 5;
``none``       the (transformed) value itself.
The result is mapped to the index's scale, except zscore and none. ``direction = "lower"``
reflects it within the scale (z-scores change sign). Statistics are over the values present.

Re-normalisations (the construction lens's alternatives) act on the published indicator
scores (units x indicators) column by column, over the values present (a gap stays a gap):

``published``  the scores as published;
``minmax``     re-scaled per indicator to the scale over the units (OECD/JRC 2008, Handbook on
               Constructing Composite Indicators, section 5);
``zscore``     standardised and put on the T-score scale 50 + 10 z (ranks under arithmetic
               aggregation are those of plain z-scores);
``rank``       percentile rank 100 * rank / n, ranks ascending, ties averaged (Handbook,
               section 5, "ranking").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from cityindex.construction.registry import Registry
from cityindex.errors import ComputationError

TRANSFORMS: Registry[str] = Registry("transform")
for _name, _label in (("none", "no transform"), ("log", "natural logarithm"),
                      ("log10", "base-10 logarithm")):
    TRANSFORMS.register(_name, _label)

LEAF_NORMALISATIONS: Registry[str] = Registry("normalisation")
for _name, _label in (("minmax", "min-max"), ("goalposts", "goalposts"),
                      ("zscore", "z-score"), ("rank", "percentile rank"),
                      ("score5", "rating out of 5"), ("none", "as given")):
    LEAF_NORMALISATIONS.register(_name, _label)


def spread(sd: np.ndarray | float, mean: np.ndarray | float) -> np.ndarray:
    """A standard deviation, or 0 where it is rounding noise: the sd of n equal floats comes
    out near 1e-17, not 0, and dividing by it turns a constant into +-1 (a constant standardises
    to 0)."""
    sd = np.asarray(sd, dtype=float)
    return np.where(sd > 1e-12 * np.maximum(np.abs(mean), 1.0), sd, 0.0)


def apply_transform(values: np.ndarray, transform: str, where: str = "") -> np.ndarray:
    """The leaf transform applied before scaling: none, natural log or log10 (values must be
    positive; a non-positive value is an error naming ``where``, never a NaN)."""
    v = np.asarray(values, dtype=float)
    TRANSFORMS.get(transform, where or "transform")
    if transform == "none":
        return v
    bad = np.isfinite(v) & (v <= 0)
    if bad.any():
        raise ComputationError(where or f"transform '{transform}'",
                               f"a value {v[bad][0]:g} <= 0 under transform '{transform}'",
                               "positive raw values (or transform = 'none')")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v) if transform == "log" else np.log10(v)


@dataclass(frozen=True)
class LeafScaler:
    """The declared normalisation of one indicator (see the module docstring)."""

    method: str
    transform: str
    direction: str
    scale: tuple[float, float]
    lo: float = 0.0
    hi: float = 1.0
    reference: tuple[float, ...] = ()
    where: str = ""

    @classmethod
    def fit(cls, node, values: np.ndarray, scale: tuple[float, float], where: str = ""
            ) -> LeafScaler:
        where = where or f"indicator '{node.id}'"
        t = apply_transform(values, node.transform, where)
        finite = t[np.isfinite(t)]
        lo, hi, ref = 0.0, 1.0, ()
        method = node.normalisation
        if method == "goalposts":
            lo, hi = (float(v) for v in apply_transform(np.array(node.goalposts),
                                                        node.transform, where))
        elif method in ("minmax", "zscore") and finite.size == 0:
            lo, hi = 0.0, 1.0
        elif method == "minmax":
            lo, hi = float(finite.min()), float(finite.max())
        elif method == "zscore":
            lo = float(finite.mean())
            hi = float(spread(finite.std(), lo))
        elif method == "rank":
            ref = tuple(np.sort(finite))
        return cls(method, node.transform, node.direction, scale, lo, hi, ref, where)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        t = apply_transform(values, self.transform, self.where)
        a, b = self.scale
        m = self.method
        if m in ("goalposts", "minmax"):
            span = self.hi - self.lo if self.hi > self.lo else 1.0
            unit = (np.clip(t, self.lo, self.hi) - self.lo) / span
        elif m == "rank":
            ref = np.asarray(self.reference)
            below = np.searchsorted(ref, t, side="left")
            at_most = np.searchsorted(ref, t, side="right")
            unit = np.where(np.isnan(t), np.nan, (below + at_most) / 2 / max(ref.size, 1))
        elif m == "score5":
            unit = t / 5.0
        elif m == "zscore":
            z = (t - self.lo) / self.hi if self.hi > 0 else np.where(np.isnan(t), np.nan, 0.0)
            return -z if self.direction == "lower" else z
        else:  # none
            return a + b - t if self.direction == "lower" else t
        if self.direction == "lower":
            unit = 1.0 - unit
        return a + (b - a) * unit


def _minmax(x: np.ndarray, scale: tuple[float, float], gaps: bool) -> np.ndarray:
    lo = np.nanmin(x, axis=0) if gaps else x.min(axis=0)
    hi = np.nanmax(x, axis=0) if gaps else x.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return scale[0] + (scale[1] - scale[0]) * (x - lo) / span


def _zscore(x: np.ndarray, scale: tuple[float, float], gaps: bool) -> np.ndarray:
    sd = np.nanstd(x, axis=0) if gaps else x.std(axis=0, ddof=0)
    mean = np.nanmean(x, axis=0) if gaps else x.mean(axis=0)
    sd = spread(sd, mean)
    return 50.0 + 10.0 * np.where(sd > 0, x - mean, 0.0) / np.where(sd > 0, sd, 1.0)


def _rank(x: np.ndarray, scale: tuple[float, float], gaps: bool) -> np.ndarray:
    if not gaps:
        return 100.0 * rankdata(x, axis=0, method="average") / x.shape[0]
    present = (~np.isnan(x)).sum(axis=0)
    ranked = rankdata(x, axis=0, method="average", nan_policy="omit")
    return 100.0 * ranked / np.where(present > 0, present, 1)


RENORMALISATIONS: Registry = Registry("normalisation")
for _name, _fn in (("published", None), ("minmax", _minmax), ("zscore", _zscore),
                   ("rank", _rank)):
    RENORMALISATIONS.register(_name, _fn)


def normalise(x: np.ndarray, method: str, scale: tuple[float, float] = (0.0, 100.0)
              ) -> np.ndarray:
    """Re-normalise a units x indicators matrix column by column over the values present (see
    the module docstring); an all-missing column stays missing."""
    x = np.asarray(x, dtype=float)
    fn = RENORMALISATIONS.get(method, "[normalisation].choices")
    if fn is None:
        return x.copy()
    gaps = bool(np.isnan(x).any())
    with np.errstate(invalid="ignore", divide="ignore"), \
            _quiet_all_nan():
        return fn(x, scale, gaps)


class _quiet_all_nan:
    """numpy warns on an all-missing column; such a column simply stays missing."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
