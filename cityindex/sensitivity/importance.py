"""Weights versus importance, and the statistical coherence checks of a JRC audit.

Importance: the main effect of a variable x_i on the composite y across units, the
correlation ratio S_i = V[E(y | x_i)] / V(y) (Paruolo, Saisana & Saltelli 2013, JRSS A 176;
Becker, Saisana, Paruolo & Vandecasteele 2017, Ecological Indicators 80). E(y | x_i) is
estimated by a LOWESS smoother (statsmodels, Cleveland 1979) with bandwidth ``frac`` (share of
units in each local fit); the estimate is repeated at other bandwidths to show its effect.
Beside it: the linear R^2 = corr(x_i, y)^2, the nominal effective weight, and the comparison of
normalised importance S_i / sum S with normalised weight w_i / sum w. Assumptions: the units
are treated as a sample from which the dependence of y on x_i is learned; with 106 units the
smoother's variance is not negligible, hence the bandwidth check.

Bandwidth bound: LOWESS fits a weighted line to the ``k = floor(frac x n)`` nearest units; when
the window holds only tied values of x (or fewer than 3 units) the local fit is degenerate and
the "variance share" can exceed 1. A bandwidth is therefore refused (``ModelError``) unless every
window holds more units than the largest group of tied values of any variable, and at least
3. A correlation ratio lies in [0, 1]; an estimate outside it at any bandwidth is clipped and
the clipping is listed in the summary (``main_effect_clipped``).

Coherence (OECD/JRC Handbook 2008, sections 4-5; Saisana et al. 2005): Pearson and Spearman
correlations among indicators, pillars and composite, with flags for negative or near-zero
correlations inside a pillar; Cronbach's alpha per pillar (Cronbach 1951); a PCA of the
standardised indicators (eigenvalues, explained variance, loadings).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from statsmodels.nonparametric.smoothers_lowess import lowess

from cityindex.data import Dataset
from cityindex.errors import ModelError
from cityindex.result import Result
from cityindex.sensitivity.engine import nominal_scores

BANDWIDTHS = (0.3, 0.5, 0.7)
NEAR_ZERO = 0.1
MIN_LOCAL_POINTS = 3


def _variables(ds: Dataset) -> list[tuple[str, str, np.ndarray, float]]:
    """(name, level, values, nominal weight) of every indicator and every pillar."""
    spec = ds.spec
    eff = spec.effective_weights()
    out = [(ind, "indicator", ds.indicators[ind].to_numpy(), float(eff[ind]))
           for ind in spec.indicators]
    for node in spec.children(spec.root):
        if node in ds.published.columns:
            out.append((node, "pillar", ds.published[node].to_numpy(),
                        float(spec.nominal_weights()[node])))
    return out


def check_bandwidth(ds: Dataset, frac: float) -> None:
    """Raise :class:`ModelError` unless each LOWESS window of ``frac x n`` units holds at
    least 3 units and more units than the largest group of tied values of any variable."""
    n = ds.n_units
    need, why = MIN_LOCAL_POINTS, f"at least {MIN_LOCAL_POINTS} units"
    for name, _, x, _ in _variables(ds):
        present = x[~np.isnan(x)]   # gaps are not values (each variable's own units)
        if present.size == 0:
            continue
        ties = int(np.unique(present, return_counts=True)[1].max())
        if ties + 1 > need:
            need, why = ties + 1, f"more than the {ties} tied values of '{name}'"
    k = int(frac * n + 1e-10)  # as statsmodels' lowess
    if k < need:
        least = math.ceil(1000 * need / n) / 1000  # rounded up: it must be enough
        raise ModelError("importance.bandwidth", "[importance].bandwidth",
                         f"found {frac!r} (each local fit would hold {k} of {n} units)",
                         f"a LOWESS frac of at least {least:g}, so that each local fit "
                         f"holds {why}")


def correlation_ratio(x: np.ndarray, y: np.ndarray, frac: float) -> float:
    """V[E(y|x)] / V(y) with E(y|x) from LOWESS at bandwidth ``frac`` (no robustifying
    iterations: the composite is a deterministic function, outliers are real)."""
    with warnings.catch_warnings():   # a window of tied x: statsmodels divides by zero
        warnings.simplefilter("ignore", RuntimeWarning)
        fitted = lowess(y, x, frac=frac, it=0, return_sorted=False)
    if not np.isfinite(fitted).all():
        return float("nan")           # degenerate local fits: no estimate, said as NaN
    return float(np.var(fitted) / np.var(y))  # may leave [0, 1] if the fit is degenerate


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Pearson correlation over the units where x is present."""
    ok = ~np.isnan(x)
    if ok.sum() < 3:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1] ** 2)


def importance_table(ds: Dataset, composite: np.ndarray, frac: float = 0.5,
                     progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """importance.csv: one row per indicator and per pillar (``progress(done, total)`` per
    variable, the coherence checks as one more step)."""
    rows, clipped = [], []

    def ratio(x: np.ndarray, name: str, b: float) -> float:
        ok = ~np.isnan(x)   # a variable with gaps: learned from the units that have it
        if ok.sum() < MIN_LOCAL_POINTS:
            return float("nan")
        value = correlation_ratio(x[ok], composite[ok], b)
        if not 0.0 <= value <= 1.0:
            clipped.append({"variable": name, "bandwidth": b, "estimate": value})
            value = min(max(value, 0.0), 1.0)
        return value

    variables = _variables(ds)
    for done, (name, level, x, w) in enumerate(variables, start=1):
        if progress:
            progress(done, len(variables) + 1)
        r = {"variable": name, "level": level, "nominal_weight": float(w),
             "linear_r2": _r2(x, composite),
             "main_effect": ratio(x, name, frac)}
        for b in BANDWIDTHS:
            r[f"main_effect_frac_{b}"] = ratio(x, name, b)
        rows.append(r)
    df = pd.DataFrame(rows)
    df.attrs["clipped"] = clipped
    for _, g in df.groupby("level"):
        idx = g.index
        df.loc[idx, "weight_share"] = g["nominal_weight"] / g["nominal_weight"].sum()
        df.loc[idx, "importance_share"] = g["main_effect"] / g["main_effect"].sum()
    df["importance_minus_weight"] = df["importance_share"] - df["weight_share"]
    df["bandwidth"] = frac
    return df


def cronbach_alpha(items: np.ndarray) -> float:
    """Cronbach (1951): k/(k-1) (1 - sum var(item) / var(sum of items))."""
    k = items.shape[1]
    if k < 2:
        return float("nan")
    return float(k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum()
                                / items.sum(axis=1).var(ddof=1)))


def coherence_table(ds: Dataset, composite: np.ndarray) -> pd.DataFrame:
    """coherence.csv (long form): kind, a, b, value, flag."""
    spec = ds.spec
    cols = {ind: ds.indicators[ind].to_numpy() for ind in spec.indicators}
    for node in spec.aggregates:
        if node != spec.root and node in ds.published.columns:
            cols[node] = ds.published[node].to_numpy()
    cols[spec.root] = composite
    frame = pd.DataFrame(cols)
    parent = {n: spec.nodes[n].parent for n in spec.nodes if n != spec.root}
    rows = []
    names = list(frame.columns)
    leaves = set(spec.indicators)
    group = np.array([parent[n] if n in leaves else f"\0{n}" for n in names], dtype=object)
    upper_i, upper_j = np.triu_indices(len(names), k=1)      # every pair once, in order
    same_pillar = group[upper_i] == group[upper_j]
    a_names, b_names = np.array(names, dtype=object)[upper_i], \
        np.array(names, dtype=object)[upper_j]
    negative = "negative correlation within a pillar"
    near_zero = f"near-zero correlation within a pillar (|r| < {NEAR_ZERO})"
    for method in ("pearson", "spearman"):
        values = frame.corr(method=method).to_numpy()[upper_i, upper_j]
        flags = np.where(same_pillar & (values < 0), negative,
                         np.where(same_pillar & (np.abs(values) < NEAR_ZERO), near_zero, ""))
        rows += [{"kind": method, "a": a, "b": b, "value": float(v), "flag": f}
                 for a, b, v, f in zip(a_names, b_names, values, flags)]
    for node in spec.aggregates:
        kids = spec.children(node)
        if node == spec.root or not all(k in frame.columns for k in kids):
            continue
        alpha = cronbach_alpha(frame[kids].to_numpy())
        rows.append({"kind": "cronbach_alpha", "a": node, "b": "", "value": alpha,
                     "flag": "alpha below 0.7" if alpha < 0.7 else ""})
    z = ds.matrix
    z = z[~np.isnan(z).any(axis=1)]          # PCA over the units with every indicator
    sd = z.std(axis=0, ddof=1) if len(z) > 1 else np.zeros(z.shape[1])
    if z.shape[1] < 2 or len(z) < 3 or not (sd > 0).all():
        rows.append({"kind": "pca_not_computed", "a": "", "b": "", "value": float(len(z)),
                     "flag": f"needs 2+ indicators that vary over 3+ complete {ds.spec.units}"
                             f" ({z.shape[1]} indicators, {len(z)} complete)"})
        return pd.DataFrame(rows)
    if len(z) < ds.n_units:   # gaps: say on how many units the PCA rests
        rows.append({"kind": "pca_units", "a": "", "b": "", "value": float(len(z)),
                     "flag": f"PCA over the {len(z)} of {ds.n_units} {ds.spec.units} with "
                             "every indicator"
                             + (" (fewer units than indicators)" if len(z) <= z.shape[1]
                                else "")})
    z = (z - z.mean(axis=0)) / sd
    evals, evecs = np.linalg.eigh(np.corrcoef(z, rowvar=False))
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    evecs *= np.sign(evecs.sum(axis=0, keepdims=True) + 1e-300)  # fix the sign convention
    for c, ev in enumerate(evals, start=1):
        rows.append({"kind": "pca_eigenvalue", "a": f"PC{c}", "b": "", "value": float(ev),
                     "flag": "Kaiser: eigenvalue > 1" if ev > 1 else ""})
        rows.append({"kind": "pca_explained", "a": f"PC{c}", "b": "",
                     "value": float(ev / evals.sum()), "flag": ""})
        for i, ind in enumerate(spec.indicators):
            rows.append({"kind": "pca_loading", "a": f"PC{c}", "b": ind,
                         "value": float(evecs[i, c - 1]), "flag": ""})
    return pd.DataFrame(rows)


class ImportanceResult(Result):
    """Weights versus importance (importance.csv) and statistical coherence
    (coherence.csv), on the nominal composite."""

    name = "importance"

    def __init__(self, ds: Dataset, bandwidth: float = 0.5,
                 progress: Callable[[int, int], None] | None = None) -> None:
        check_bandwidth(ds, bandwidth)
        self.dataset, self.bandwidth = ds, bandwidth
        composite = nominal_scores(ds).to_numpy()
        self.importance = importance_table(ds, composite, bandwidth, progress)
        self.clipped = self.importance.attrs.get("clipped", [])
        self.coherence = coherence_table(ds, composite)
        if progress:
            n = len(self.importance) + 1
            progress(n, n)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"importance": self.importance, "coherence": self.coherence}

    def summary(self) -> dict:
        imp, coh = self.importance, self.coherence
        ind = imp[imp["level"] == "indicator"]
        gap = ind["importance_minus_weight"].abs()
        worst = None if gap.isna().all() else ind.loc[gap.idxmax()]
        out = {
            "bandwidth": self.bandwidth,
            "largest_departure": None if worst is None else {
                "indicator": worst["variable"], "weight_share": float(worst["weight_share"]),
                "importance_share": float(worst["importance_share"])},
            "coherence_flags": coh.loc[coh["flag"] != "", ["kind", "a", "b", "value", "flag"]]
            .to_dict("records"),
        }
        if self.clipped:  # estimates outside [0, 1], reported at the bound
            out["main_effect_clipped"] = self.clipped
        return out

    def chart(self):
        from cityindex.report import charts

        return charts.weights_importance(self.importance)
