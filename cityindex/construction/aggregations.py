"""Aggregation operators: how an aggregate node combines its children.

Every operator takes the children's values ``v`` (..., units, children), the weights already
masked by availability ``wm`` (scenarios, units, children), the availability mask ``m``
(units, children) and the masked weight sums ``den`` (scenarios, units), and returns the node's
value (..., units). A child that is missing for a unit is left out and its siblings' weights are
renormalised (the "reweight" rule of COINr and UNDP); a child with zero weight contributes
nothing. Each operator declares what the analyses need from it:

``weight_form``  "linear": the composite is linear in the effective weights (exact extremes by
                 MILP, one matrix product per batch); "loglinear": its logarithm is (geometric
                 mean at every node); None: neither (extremes are inner bounds).
``monotone``     increasing in each child: the reproduction audit's interval for a value known
                 to +-h is the operator at the children's lower and upper ends; otherwise a
                 first-order bound (sum of |partial derivative| x h, by central differences,
                 doubled) is used and the audit says so.
``positive``     children must be >= -offset (a value below is an error naming node and unit).

Operators and sources:

``arithmetic``        sum w v / sum w (OECD/JRC 2008, Handbook on Constructing Composite
                      Indicators, section 6).
``geometric``         exp(sum w log(v + o) / sum w) - o; a zero child gives 0 (the limit).
``harmonic``          sum w / sum (w / (v + o)) - o; a zero child gives 0 (the limit).
``power_mean``        (sum w (v + o)^p / sum w)^(1/p) - o, parameter ``p`` != 0 (the generalised
                      mean; p = 1 arithmetic, p -> 0 geometric, p = -1 harmonic; Decancq &
                      Lugo 2013, Econometric Reviews 32(1)).
``mazziotta_pareto``  the Mazziotta-Pareto index (Mazziotta & Pareto 2016, Social Indicators
                      Research 127(3), "On a generalized non-compensatory composite index"):
                      each child standardised over the units present, z = 100 + 10 (v - mean) /
                      sd, then M - S * S / M with M and S the (weighted) mean and standard
                      deviation of a unit's z over its children: a penalty for unbalanced
                      children. Its values live on the 100 +- 10 scale, whatever the children's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cityindex.construction.normalisations import spread
from cityindex.construction.registry import Registry


@dataclass(frozen=True)
class Aggregation:
    name: str
    combine: Callable[..., np.ndarray]
    weight_form: str | None
    monotone: bool
    positive: bool
    label: str
    params: tuple[str, ...] = ()


AGGREGATIONS: Registry[Aggregation] = Registry("aggregation")


def _safe_den(den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, den, 1.0)


def _fill(v: np.ndarray, m: np.ndarray, neutral: float) -> np.ndarray:
    """v with a neutral value where a child is missing (v itself when none is: no copy)."""
    return v if m.all() else np.where(m, v, neutral)


def arithmetic(v, wm, m, den, offset, params):
    num = (wm * _fill(v, m, 0.0)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / _safe_den(den)


def geometric(v, wm, m, den, offset, params):
    shifted = _fill(v, m, 1.0) + offset
    with np.errstate(divide="ignore", invalid="ignore"):
        # a zero-weight child (e.g. left out) contributes nothing, even at a zero value
        num = np.where(wm > 0, wm * np.log(shifted), 0.0).sum(axis=-1)
        out = num / _safe_den(den)
    return np.exp(out) - offset


def _power(v, wm, m, den, offset, p):
    shifted = np.where(m, v, 1.0) + offset
    used = wm > 0
    positive = used & (shifted > 0)
    zero = (used & (shifted == 0)).any(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # a zero child adds 0 to the sum for p > 0; for p < 0 the mean's limit is 0
        terms = np.where(positive, wm * np.where(positive, shifted, 1.0) ** p, 0.0)
        mean = (terms.sum(axis=-1) / _safe_den(den)) ** (1.0 / p)
    return np.where(zero & (p < 0), 0.0, mean) - offset


def harmonic(v, wm, m, den, offset, params):
    return _power(v, wm, m, den, offset, -1.0)


def power_mean(v, wm, m, den, offset, params):
    return _power(v, wm, m, den, offset, float(params["p"]))


def mazziotta_pareto(v, wm, m, den, offset, params):
    present = np.broadcast_to(m, v.shape) if v.ndim > m.ndim else m
    vals = np.where(present, v, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(vals, axis=-2, keepdims=True)
        sd = np.nanstd(vals, axis=-2, keepdims=True)
        sd = spread(sd, mean)
        z = 100.0 + 10.0 * np.where(sd > 0, vals - mean, 0.0) / np.where(sd > 0, sd, 1.0)
        z = np.where(present, z, 0.0)
        d = _safe_den(den)
        mu = (wm * z).sum(axis=-1) / d
        var = (wm * (z - mu[..., None]) ** 2).sum(axis=-1) / d
        s = np.sqrt(np.maximum(var, 0.0))
        return mu - s * s / np.where(mu != 0, mu, 1.0)


for _op in (
    Aggregation("arithmetic", arithmetic, "linear", True, False, "arithmetic mean"),
    Aggregation("geometric", geometric, "loglinear", True, True, "geometric mean"),
    Aggregation("harmonic", harmonic, None, True, True, "harmonic mean"),
    Aggregation("power_mean", power_mean, None, True, True, "power mean", ("p",)),
    Aggregation("mazziotta_pareto", mazziotta_pareto, None, False, False,
                "Mazziotta-Pareto index"),
):
    AGGREGATIONS.register(_op.name, _op)
